/**
 * TLS costs on loopback: CA derivation, leaf issue, handshake, first round trip after the
 * handshake, and 16-byte echo ping-pong (5000 round trips, p50/p99) over our node:tls Conn vs
 * plain node:net, with the echo server in this process and in a separate Deno process.
 *
 * Run: `deno run -A bench/tls_bench.ts [runs]` (the `deno bench` entries cover derivation and
 * leaf issue only).
 *
 * `deno run -A bench/tls_bench.ts ask [--reps 3] [--transports deno-tcp,node-net,node-tls]
 * [--no-pin]`: the same actor ask over each transport (server and client in separate processes,
 * pinned to CPU 0 and CPU 1 with `taskset`, fresh processes per repetition, transports
 * interleaved): sequential tiny ask p50/p99, asks/s with 64 in flight, MiB/s of 1 MiB asks (16
 * in flight), and the first round trip on a fresh connection after its handshake; then the
 * median of each figure over the repetitions and the ratio to `deno-tcp`. Each transport is
 * wrapped by `guardTransport` with byte counters, as `pul.init` does.
 *
 * @module
 */

import net from "node:net";
import { clusterTlsMaterial, deriveClusterCa, issueLeaf } from "../cluster/tls/mod.ts";
import { NodeTlsTransport } from "../cluster/transport/node_tls.ts";
import type { Conn, Transport } from "../cluster/transport/types.ts";
import { DenoTcpTransport } from "../cluster/transport/deno_tcp.ts";
import { NodeNetTransport } from "../cluster/transport/node_net.ts";
import { guardTransport } from "../cluster/transport/guard.ts";
import { startClusterNode } from "../cluster/node.ts";
import { ActorSystem } from "../core/system.ts";
import { Echo, TINY } from "./pulsing_node.ts";

const ITER = 5000;
const WARMUP = 500;
const MSG = new Uint8Array(16).fill(7);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const f = (x: number) => x.toFixed(3);

/** Ping-pong over a "send, then wait for 16 bytes" primitive. */
async function pingPong(rt: () => Promise<void>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await rt();
    out.push(performance.now() - t);
  }
  return out;
}

function roundTripper(send: () => void, onBytes: (cb: (n: number) => void) => void) {
  let pending = 0;
  let wake: (() => void) | undefined;
  onBytes((n) => {
    pending += n;
    if (pending >= 16 && wake) {
      pending -= 16;
      const w = wake;
      wake = undefined;
      w();
    }
  });
  return () =>
    new Promise<void>((resolve) => {
      wake = resolve;
      send();
    });
}

async function plainNet(): Promise<number[]> {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on("data", (d) => s.write(d));
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect({ port, host: "127.0.0.1", noDelay: true });
  await new Promise((r) => c.once("connect", r));
  const rt = roundTripper(() => c.write(MSG), (cb) => c.on("data", (d) => cb(d.length)));
  await pingPong(rt, WARMUP);
  const xs = await pingPong(rt, ITER);
  c.destroy();
  server.close();
  return xs;
}

async function tlsConn(
  transport: NodeTlsTransport,
): Promise<{ rtts: number[]; handshakes: number[]; firsts: number[] }> {
  const listener = await transport.listen({ hostname: "127.0.0.1", port: 0 });
  listener.onConnection((conn) =>
    conn.start((b) => void conn.write([b.slice()]).catch(() => {}), () => {})
  );
  const port = listener.addr.port;
  // Handshake and first round trip after it, over fresh connections.
  const handshakes: number[] = [];
  const firsts: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const conn = await transport.connect({ hostname: "127.0.0.1", port });
    const t1 = performance.now();
    const rt = connRoundTripper(conn);
    await rt();
    firsts.push(performance.now() - t1);
    handshakes.push(t1 - t0);
    conn.close();
  }
  const conn = await transport.connect({ hostname: "127.0.0.1", port });
  const rt = connRoundTripper(conn);
  await pingPong(rt, WARMUP);
  const rtts = await pingPong(rt, ITER);
  conn.close();
  listener.close();
  return { rtts, handshakes, firsts };
}

function connRoundTripper(conn: Conn): () => Promise<void> {
  let onBytes: (n: number) => void = () => {};
  conn.start((b) => onBytes(b.length), () => {});
  return roundTripper(() => void conn.write([MSG]), (cb) => (onBytes = cb));
}

/** Echo server in a child Deno process (this file with `--serve plain|tls`); returns its port. */
async function childServer(mode: "plain" | "tls") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve", mode],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("echo child ended early");
    buf += value;
  }
  const port = Number(buf.trim());
  const stop = async () => {
    await child.stdin.close();
    while (!(await reader.read()).done) { /* drain */ }
    await child.status;
  };
  return { port, stop };
}

async function serveChild(mode: string): Promise<void> {
  let port: number;
  if (mode === "plain") {
    const server = net.createServer((s) => {
      s.setNoDelay(true);
      s.on("data", (d) => s.write(d));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
  } else {
    const material = await clusterTlsMaterial("bench passphrase", { hosts: ["127.0.0.1"] });
    const listener = await new NodeTlsTransport(material).listen({
      hostname: "127.0.0.1",
      port: 0,
    });
    listener.onConnection((conn) =>
      conn.start((b) => void conn.write([b.slice()]).catch(() => {}), () => {})
    );
    port = listener.addr.port;
  }
  console.log(port);
  for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
  Deno.exit(0);
}

async function crossProcess(material: Awaited<ReturnType<typeof clusterTlsMaterial>>) {
  const plainChild = await childServer("plain");
  const c = net.connect({ port: plainChild.port, host: "127.0.0.1", noDelay: true });
  await new Promise((r) => c.once("connect", r));
  const prt = roundTripper(() => c.write(MSG), (cb) => c.on("data", (d) => cb(d.length)));
  await pingPong(prt, WARMUP);
  const plain = await pingPong(prt, ITER);
  c.destroy();
  await plainChild.stop();

  const tlsChild = await childServer("tls");
  const transport = new NodeTlsTransport(material);
  const handshakes: number[] = [];
  const firsts: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    const conn = await transport.connect({ hostname: "127.0.0.1", port: tlsChild.port });
    const t1 = performance.now();
    await connRoundTripper(conn)();
    firsts.push(performance.now() - t1);
    handshakes.push(t1 - t0);
    conn.close();
  }
  const conn = await transport.connect({ hostname: "127.0.0.1", port: tlsChild.port });
  const trt = connRoundTripper(conn);
  await pingPong(trt, WARMUP);
  const rtts = await pingPong(trt, ITER);
  conn.close();
  await tlsChild.stop();
  return { plain, rtts, handshakes, firsts };
}

Deno.bench("derive cluster CA (PBKDF2 600k + HKDF + self-signed cert)", async () => {
  await deriveClusterCa("bench passphrase");
});

const benchCa = await deriveClusterCa("bench passphrase");
Deno.bench("issue leaf (Ed25519 keygen + sign)", async () => {
  await issueLeaf(benchCa, { hosts: ["127.0.0.1"] });
});

// ---------------------------------------------------------------------------------------------
// Actor asks over each transport (`ask` mode)

const ASK_KINDS = ["deno-tcp", "node-net", "node-tls"] as const;
type AskKind = typeof ASK_KINDS[number];

async function askTransport(kind: AskKind): Promise<Transport> {
  switch (kind) {
    case "deno-tcp":
      return new DenoTcpTransport();
    case "node-net":
      return new NodeNetTransport();
    case "node-tls": {
      const m = await clusterTlsMaterial("bench passphrase", { hosts: ["127.0.0.1"] });
      return new NodeTlsTransport(m);
    }
  }
}

async function askNode(kind: AskKind, port: number, seeds: string[]): Promise<ActorSystem> {
  const system = new ActorSystem({});
  const stats = { bytesIn: 0, bytesOut: 0 };
  await startClusterNode(system, {
    addr: `127.0.0.1:${port}`,
    seeds,
    transport: guardTransport(await askTransport(kind), () => {}, stats),
  });
  return system;
}

async function askServer(kind: AskKind): Promise<void> {
  const system = await askNode(kind, 0, []);
  await Echo.spawn({ name: "echo", system });
  // the raw echo for the first-RTT figure: a plain Conn listener of the same transport
  const t = await askTransport(kind);
  const l = await t.listen({ hostname: "127.0.0.1", port: 0 });
  l.onConnection((conn) =>
    conn.start((b) => void conn.write([b.slice()]).catch(() => {}), () => {})
  );
  console.log(JSON.stringify({ port: Number(system.addr.split(":").pop()), raw: l.addr.port }));
  for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
  Deno.exit(0);
}

async function askClient(kind: AskKind, port: number, rawPort: number): Promise<void> {
  const system = await askNode(kind, 0, [`127.0.0.1:${port}`]);
  const echo = await Echo.resolve("echo", { system, timeout: 15_000 });
  const out: Record<string, number> = {};
  // sequential tiny asks
  for (let i = 0; i < 2000; i++) await echo.echo(TINY);
  const xs: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t = performance.now();
    await echo.echo(TINY);
    xs.push(performance.now() - t);
  }
  out.p50_us = pct(xs, 50) * 1000;
  out.p99_us = pct(xs, 99) * 1000;
  if (Deno.args[4] === "pingpong") {
    console.log(JSON.stringify(out));
    Deno.exit(0);
  }
  // 64 in flight
  const window = async (inflight: number, ms: number, call: () => Promise<unknown>) => {
    let n = 0;
    let stop = false;
    const loop = async () => {
      while (!stop) {
        await call();
        n++;
      }
    };
    const loops = Array.from({ length: inflight }, loop);
    await new Promise((r) => setTimeout(r, 300));
    const n0 = n;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    const n1 = n;
    const dt = (performance.now() - t0) / 1000;
    stop = true;
    await Promise.all(loops);
    return (n1 - n0) / dt;
  };
  out.pipeline_per_s = await window(64, 2000, () => echo.echo(TINY));
  const mib = new Uint8Array(1 << 20);
  out.bulk1m_mib_s = await window(16, 2000, () => echo.ack(mib));
  // first round trip after the handshake, on fresh raw connections of the same transport
  const t = await askTransport(kind);
  const firsts: number[] = [];
  const hs: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    const conn = await t.connect({ hostname: "127.0.0.1", port: rawPort });
    const t1 = performance.now();
    await connRoundTripper(conn)();
    firsts.push(performance.now() - t1);
    hs.push(t1 - t0);
    conn.close();
  }
  out.connect_ms = pct(hs, 50);
  out.first_rtt_ms = pct(firsts, 50);
  out.first_rtt_max_ms = Math.max(...firsts);
  console.log(JSON.stringify(out));
  await Promise.race([system.shutdown(), new Promise((r) => setTimeout(r, 500))]);
  Deno.exit(0);
}

async function runAsk(flags: string[]): Promise<void> {
  const flag = (name: string) => {
    const i = flags.indexOf(name);
    return i >= 0 ? flags[i + 1] : undefined;
  };
  const reps = Number(flag("--reps") ?? 3);
  const kinds = (flag("--transports")?.split(",") ?? [...ASK_KINDS]) as AskKind[];
  const pin = !flags.includes("--no-pin");
  const self = new URL(import.meta.url).pathname;
  const cmd = (cpu: string, args: string[], stdin: "piped" | "null") => {
    const deno = [Deno.execPath(), "run", "-A", self, ...args];
    const [exe, ...rest] = pin ? ["taskset", "-c", cpu, ...deno] : deno;
    return new Deno.Command(exe, { args: rest, stdin, stdout: "piped", stderr: "inherit" });
  };
  const results = new Map<AskKind, Record<string, number>[]>();
  console.log(
    `Deno ${Deno.version.deno}, ${reps} reps, ${pin ? "server CPU 0, client CPU 1" : "not pinned"}`,
  );
  for (let rep = 1; rep <= reps; rep++) {
    for (const kind of kinds) {
      const server = cmd("0", ["--ask-server", kind], "piped").spawn();
      const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      while (!buf.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("ask server ended early");
        buf += value;
      }
      const { port, raw } = JSON.parse(buf.trim());
      const client = cmd("1", ["--ask-client", kind, `${port}`, `${raw}`], "null");
      const res = await client.output();
      await server.stdin.close();
      while (!(await reader.read()).done) { /* drain */ }
      await server.status;
      const line = new TextDecoder().decode(res.stdout).trim().split("\n").pop() ?? "";
      const r = JSON.parse(line) as Record<string, number>;
      (results.get(kind) ?? results.set(kind, []).get(kind)!).push(r);
      console.log(
        `rep ${rep} ${kind.padEnd(9)} p50 ${r.p50_us.toFixed(1)} µs  p99 ${
          r.p99_us.toFixed(1)
        } µs  64-in-flight ${Math.round(r.pipeline_per_s)}/s  1 MiB ${
          r.bulk1m_mib_s.toFixed(0)
        } MiB/s  connect ${r.connect_ms.toFixed(2)} ms  first RTT ${
          r.first_rtt_ms.toFixed(3)
        } ms (max ${r.first_rtt_max_ms.toFixed(3)})`,
      );
    }
  }
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const m = (k: AskKind, f: string) => med((results.get(k) ?? []).map((r) => r[f]));
  const base = results.has("deno-tcp") ? "deno-tcp" : kinds[0];
  console.log(`\nmedians of ${reps} (ratio to ${base}):`);
  for (const k of kinds) {
    const r = (f: string) => (m(k, f) / m(base, f)).toFixed(2);
    console.log(
      `${k.padEnd(9)} p50 ${m(k, "p50_us").toFixed(1)} µs (${r("p50_us")}x)  p99 ${
        m(k, "p99_us").toFixed(1)
      } µs  64-in-flight ${Math.round(m(k, "pipeline_per_s"))}/s (${r("pipeline_per_s")}x)  1 MiB ${
        m(k, "bulk1m_mib_s").toFixed(0)
      } MiB/s (${r("bulk1m_mib_s")}x)  first RTT ${m(k, "first_rtt_ms").toFixed(3)} ms (max ${
        Math.max(...(results.get(k) ?? []).map((x) => x.first_rtt_max_ms)).toFixed(3)
      })`,
    );
  }
}

if (import.meta.main && Deno.args[0] === "--serve") {
  await serveChild(Deno.args[1]);
} else if (import.meta.main && Deno.args[0] === "--ask-server") {
  await askServer(Deno.args[1] as AskKind);
} else if (import.meta.main && Deno.args[0] === "--ask-client") {
  await askClient(Deno.args[1] as AskKind, Number(Deno.args[2]), Number(Deno.args[3]));
} else if (import.meta.main && Deno.args[0] === "ask") {
  await runAsk(Deno.args.slice(1));
} else if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 3);
  console.log(`Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ${runs} runs`);
  for (const algorithm of ["Ed25519", "P-256"] as const) {
    const cas: number[] = [];
    const leaves: number[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await clusterTlsMaterial(`bench ${i}`, { algorithm });
      cas.push(m.timings.caMs);
      leaves.push(m.timings.leafMs);
    }
    console.log(
      `${algorithm}: CA derivation ${cas.map((x) => x.toFixed(1)).join(" / ")} ms; ` +
        `leaf issue ${leaves.map((x) => x.toFixed(2)).join(" / ")} ms`,
    );
  }
  for (let run = 1; run <= runs; run++) {
    const material = await clusterTlsMaterial("bench passphrase", { hosts: ["127.0.0.1"] });
    const plain = await plainNet();
    const tls = await tlsConn(new NodeTlsTransport(material));
    const p50 = pct(tls.rtts, 50) / pct(plain, 50);
    console.log(
      `run ${run}: plain node:net p50 ${f(pct(plain, 50))} p99 ${f(pct(plain, 99))} ms | ` +
        `node:tls Conn p50 ${f(pct(tls.rtts, 50))} p99 ${f(pct(tls.rtts, 99))} ms | ` +
        `TLS/plain p50 ${p50.toFixed(2)}x | handshake p50 ${f(pct(tls.handshakes, 50))} ` +
        `p99 ${f(pct(tls.handshakes, 99))} ms | first RTT after handshake p50 ` +
        `${f(pct(tls.firsts, 50))} max ${f(Math.max(...tls.firsts))} ms  [same process]`,
    );
    const x = await crossProcess(material);
    console.log(
      `run ${run}: plain node:net p50 ${f(pct(x.plain, 50))} p99 ${f(pct(x.plain, 99))} ms | ` +
        `node:tls Conn p50 ${f(pct(x.rtts, 50))} p99 ${f(pct(x.rtts, 99))} ms | ` +
        `TLS/plain p50 ${(pct(x.rtts, 50) / pct(x.plain, 50)).toFixed(2)}x | handshake p50 ` +
        `${f(pct(x.handshakes, 50))} p99 ${f(pct(x.handshakes, 99))} ms | first RTT after ` +
        `handshake p50 ${f(pct(x.firsts, 50))} max ${f(Math.max(...x.firsts))} ms  [two processes]`,
    );
  }
}
