/**
 * TLS costs on loopback: CA derivation, leaf issue, handshake, first round trip after the
 * handshake, and 16-byte echo ping-pong (5000 round trips, p50/p99) over our node:tls Conn vs
 * plain node:net, with the echo server in this process and in a separate Deno process.
 *
 * Run: `deno run -A bench/tls_bench.ts [runs]` (the `deno bench` entries cover derivation and
 * leaf issue only).
 *
 * @module
 */

import net from "node:net";
import { clusterTlsMaterial, deriveClusterCa, issueLeaf } from "../cluster/tls/mod.ts";
import { NodeTlsTransport } from "../cluster/transport/node_tls.ts";
import type { Conn } from "../cluster/transport/types.ts";

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

if (import.meta.main && Deno.args[0] === "--serve") {
  await serveChild(Deno.args[1]);
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
