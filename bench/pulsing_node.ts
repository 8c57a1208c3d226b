/**
 * The Pulsing side of the cross-process benchmark (`bench/compare.ts`, `bench/remote_bench.ts`):
 * the same roles and output as `bench/raw_echo.ts`, built only on the public API (`mod.ts`).
 *
 * - `server --port N`: `pul.init({ addr })`, spawns the named actor `echo` (class {@link Echo})
 *   and prints `{"ready":true,"port":N}`.
 * - `client --port N --kinds ... --params <json>`: `pul.init({ addr, seeds })`, resolves `echo`
 *   and runs the workloads, printing one {@link KindResult} line per kind:
 *   - `pingpong`: sequential `echo.echo({ x: "0123456789abcdef" })` (the tiny payload the
 *     Moleculer target sends), p50/p99;
 *   - `pipeline`: 64 loops of the same call on one connection, calls/s;
 *   - `bulk1m` / `bulk16m`: `echo.ack(bytes)` with a 1 MiB / 16 MiB `Uint8Array`, answered
 *     with its length, MiB/s;
 *   - `stream`: `for await (const s of echo.items(n))`, an async generator of `item-<i>`
 *     strings, items/s and time to first item.
 * - `join-observer --port N`: a node on port N with the named actor `obs`; prints
 *   `{"ready":true}`, then `{"kind":"join","t1":<wall ms>}` once the joiner's actor `joiner`
 *   is resolvable and answered a call.
 * - `joiner --port N`: a fresh node joining seed `127.0.0.1:N` that spawns `joiner`, then
 *   prints `{"kind":"join-reverse","t1":<wall ms>}` once it could call `obs`.
 *
 * - `fail-observer --port N`: the caller side of the failure-detection figure (see
 *   {@link failObserver}).
 *
 * Runs on Deno and, bundled by `_node_build.ts` against the npm build, on Node (no `Deno.*`).
 * Servers exit when their stdin closes (`--watch-stdin`) and after `--max-life-ms`.
 *
 * @module
 */

import * as pul from "../mod.ts";
import {
  FULL_WORKLOAD,
  type Kind,
  type KindResult,
  KINDS,
  parseFlags,
  QUICK_WORKLOAD,
  SHORT_STREAM_ITEMS,
  SHORT_STREAMS,
  type Workload,
} from "./_workload.ts";
import { median, percentiles, wallMs } from "./_stats.ts";
import { args, cpuMicros, exit, onStdinClose, pid, printJson } from "./_rt.ts";

const HOST = "127.0.0.1";
/** The tiny payload of the latency and throughput figures. */
export const TINY = { x: "0123456789abcdef" };

/** The benchmarked actor. */
export const Echo = pul.remote(
  class Echo {
    /** Returns its argument. */
    echo<T>(x: T): T {
      return x;
    }
    /** Acknowledges a payload with its length. */
    ack(bytes: Uint8Array): number {
      return bytes.byteLength;
    }
    /** Answers after `ms` (the pending call of the failure-detection figure). */
    async hang(ms: number): Promise<number> {
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    }
    /** This process's CPU time so far, µs (user + system): per-message CPU figures. */
    cpu(): number {
      return cpuMicros();
    }
    /** Streams `n` small strings. */
    async *items(n: number): AsyncGenerator<string> {
      for (let i = 0; i < n; i++) yield `item-${i}`;
    }
  },
  { name: "BenchEcho" },
);

type EchoProxy = pul.ActorProxy<InstanceType<typeof Echo.cls>>;

/** The same acknowledgement on an actor that borrows its byte arguments (`lendBytes`). */
export const LentEcho = pul.remote(
  class LentEcho {
    /** Acknowledges a payload with its length (the bytes go back to the pool afterwards). */
    ack(bytes: Uint8Array): number {
      return bytes.byteLength;
    }
  },
  { name: "BenchLentEcho", lendBytes: true },
);

// ---------------------------------------------------------------------------------------------
// Roles

function exitWith(watchStdin: boolean, maxLifeMs: number): void {
  const stop = async () => {
    try {
      await Promise.race([pul.shutdown(), new Promise((r) => setTimeout(r, 500))]);
    } finally {
      exit(0);
    }
  };
  setTimeout(stop, maxLifeMs);
  if (watchStdin) onStdinClose(stop);
}

/** `--passphrase p` (the `pulsing-tls` target): every node of the run uses mutual TLS. */
let PASSPHRASE: string | undefined;

async function runServer(port: number, maxLifeMs: number, watchStdin: boolean): Promise<void> {
  const system = await pul.init({ addr: `${HOST}:${port}`, passphrase: PASSPHRASE });
  await Echo.spawn({ name: "echo" });
  await LentEcho.spawn({ name: "echo-lent" });
  const real = Number(system.addr.split(":").pop());
  console.log(JSON.stringify({ ready: true, port: real, pid: pid() }));
  exitWith(watchStdin, maxLifeMs);
}

async function connectClient(port: number): Promise<EchoProxy> {
  await pul.init({ addr: `${HOST}:0`, seeds: [`${HOST}:${port}`], passphrase: PASSPHRASE });
  return await Echo.resolve("echo", { timeout: 15_000 }) as EchoProxy;
}

async function pingpong(echo: EchoProxy, wl: Workload): Promise<Record<string, number>> {
  for (let i = 0; i < wl.pingpongWarmup; i++) await echo.echo(TINY);
  const samples = new Float64Array(wl.pingpongIters);
  for (let i = 0; i < wl.pingpongIters; i++) {
    const t = performance.now();
    await echo.echo(TINY);
    samples[i] = performance.now() - t;
  }
  const [p50, p99] = percentiles(samples, [50, 99]);
  let sum = 0;
  for (const s of samples) sum += s;
  return { p50_us: p50 * 1000, p99_us: p99 * 1000, mean_us: (sum / samples.length) * 1000 };
}

async function pipeline(echo: EchoProxy, wl: Workload): Promise<Record<string, number>> {
  let done = 0;
  let phase = 0; // 0 warm-up, 1 measuring, 2 stopping
  const loop = async () => {
    while (phase < 2) {
      await echo.echo(TINY);
      done++;
    }
  };
  const loops: Promise<void>[] = [];
  for (let i = 0; i < wl.pipelineInflight; i++) loops.push(loop());
  await new Promise((r) => setTimeout(r, wl.pipelineWarmupMs));
  const d0 = done;
  const t0 = performance.now();
  const c0 = cpuMicros();
  const s0 = await echo.cpu();
  phase = 1;
  await new Promise((r) => setTimeout(r, wl.pipelineMs));
  const s1 = await echo.cpu();
  const c1 = cpuMicros();
  const d1 = done;
  const t1 = performance.now();
  phase = 2;
  await Promise.all(loops);
  const n = d1 - d0;
  return {
    msgs_per_s: n / ((t1 - t0) / 1000),
    // CPU per message over the window, all threads (JS, I/O, GC): insensitive to what else the
    // machine runs, unlike msgs/s
    server_cpu_us: (s1 - s0) / n,
    client_cpu_us: (c1 - c0) / n,
  };
}

async function bulk(
  echo: Pick<EchoProxy, "ack">,
  wl: Workload,
  size: number,
  windowMs: number,
  warmup: number,
): Promise<Record<string, number>> {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) payload[i] = i & 0xff;
  for (let i = 0; i < warmup; i++) {
    if ((await echo.ack(payload)) !== size) throw new Error("bad ack");
  }
  let n = 0;
  let elapsed = 0;
  const t0 = performance.now();
  const inflight = Math.max(1, wl.bulkInflight);
  let stop = false;
  const loop = async () => {
    while (!stop) {
      if ((await echo.ack(payload)) !== size) throw new Error("bad ack");
      n++;
      elapsed = performance.now() - t0;
      if (elapsed >= windowMs && n >= wl.bulkMinReqs) stop = true;
    }
  };
  await Promise.all(Array.from({ length: inflight }, loop));
  return { mib_per_s: (n * size) / (1024 * 1024) / (elapsed / 1000), requests: n };
}

async function oneStream(
  echo: EchoProxy,
  count: number,
): Promise<{ seconds: number; ttfiUs: number }> {
  const t0 = performance.now();
  let ttfi = -1;
  let got = 0;
  let chars = 0;
  for await (const s of echo.items(count)) {
    if (got === 0) ttfi = performance.now() - t0;
    chars += (s as string).length;
    got++;
  }
  if (got !== count) throw new Error(`stream delivered ${got} of ${count}`);
  if (chars === 0) throw new Error("empty items");
  return { seconds: (performance.now() - t0) / 1000, ttfiUs: ttfi * 1000 };
}

async function stream(echo: EchoProxy, wl: Workload): Promise<Record<string, number>> {
  await oneStream(echo, wl.streamWarmupItems);
  const res = await oneStream(echo, wl.streamItems);
  // first-item latency of short streams (a chat reply, a token stream): median of many
  const firsts: number[] = [];
  for (let i = 0; i < SHORT_STREAMS; i++) {
    firsts.push((await oneStream(echo, SHORT_STREAM_ITEMS)).ttfiUs);
  }
  return {
    items_per_s: wl.streamItems / res.seconds,
    ttfi_us: res.ttfiUs,
    ttfi_short_us: median(firsts),
  };
}

async function runKind(kind: Kind, echo: EchoProxy, wl: Workload): Promise<KindResult> {
  try {
    switch (kind) {
      case "pingpong":
        return { kind, metrics: await pingpong(echo, wl) };
      case "pipeline":
        return { kind, metrics: await pipeline(echo, wl) };
      case "bulk1m": {
        const owned = await bulk(echo, wl, 1 << 20, wl.bulk1mMs, wl.bulkWarmup);
        const lentEcho = await LentEcho.resolve("echo-lent", { timeout: 15_000 });
        const lent = await bulk(lentEcho, wl, 1 << 20, wl.bulk1mMs, wl.bulkWarmup);
        return {
          kind,
          metrics: { ...owned, lent_mib_per_s: lent.mib_per_s, lent_requests: lent.requests },
        };
      }
      case "bulk16m":
        return { kind, metrics: await bulk(echo, wl, 16 << 20, wl.bulk16mMs, wl.bulk16mWarmup) };
      case "stream":
        return { kind, metrics: await stream(echo, wl) };
    }
  } catch (e) {
    return { kind, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

async function runClient(port: number, kinds: Kind[], wl: Workload): Promise<void> {
  const echo = await connectClient(port);
  console.log(JSON.stringify({ ready: true }));
  for (const k of kinds) console.log(JSON.stringify(await runKind(k, echo, wl)));
  await Promise.race([pul.shutdown(), new Promise((r) => setTimeout(r, 500))]);
  exit(0);
}

/** The long-running node a fresh joiner joins; reports when the joiner's actor answers. */
async function joinObserver(port: number, timeoutMs: number): Promise<void> {
  await pul.init({ addr: `${HOST}:${port}`, passphrase: PASSPHRASE });
  await Echo.spawn({ name: "obs" });
  console.log(JSON.stringify({ ready: true }));
  exitWith(true, timeoutMs + 5_000);
  try {
    const j = await Echo.resolve("joiner", { timeout: timeoutMs });
    await j.echo(1);
    console.log(JSON.stringify({ kind: "join", t1: wallMs() }));
  } catch (e) {
    console.log(JSON.stringify({ kind: "join", error: String(e) }));
  }
}

/** A fresh node: joins the observer, spawns `joiner`, then calls the observer's actor. */
async function joiner(port: number, timeoutMs: number): Promise<void> {
  await pul.init({ addr: `${HOST}:0`, seeds: [`${HOST}:${port}`], passphrase: PASSPHRASE });
  await Echo.spawn({ name: "joiner" });
  exitWith(true, timeoutMs + 5_000);
  try {
    const o = await Echo.resolve("obs", { timeout: timeoutMs });
    await o.echo(1);
    console.log(JSON.stringify({ kind: "join-reverse", t1: wallMs() }));
  } catch (e) {
    console.log(JSON.stringify({ kind: "join-reverse", t1: null, error: String(e) }));
  }
}

/**
 * Failure detection, caller side: joins the victim on `port`, resolves `echo`, starts a pending
 * call (`hang(60 s)`) and watches the victim's membership entry every 2 ms. Prints
 * `{"ready":true}` once the call is in flight, then one line per event as it happens:
 * `{"event":"call_failed","t":<wall ms>,"error":...}`, `{"event":"suspect","t":...}`,
 * `{"event":"dead","t":...}`. The orchestrator kills or stops the victim after `ready`.
 * Default timings (SWIM, request timeout 30 s): what a user gets without tuning.
 */
async function failObserver(port: number, boundMs: number): Promise<void> {
  await pul.init({ addr: `${HOST}:0`, seeds: [`${HOST}:${port}`], passphrase: PASSPHRASE });
  const echo = await Echo.resolve("echo", { timeout: 15_000 }) as EchoProxy;
  await echo.echo(1);
  const victim = `${HOST}:${port}`;
  const seen = new Set<string>();
  const report = (event: string, extra: Record<string, unknown> = {}) => {
    if (seen.has(event)) return;
    seen.add(event);
    printJson({ event, t: wallMs(), ...extra });
  };
  echo.hang(60_000).then(
    () => report("call_returned"),
    (e: unknown) => report("call_failed", { error: String(e).slice(0, 200) }),
  );
  await new Promise((r) => setTimeout(r, 50)); // the call has reached the victim
  printJson({ ready: true });
  const deadline = performance.now() + boundMs + 20_000;
  while (performance.now() < deadline && !(seen.has("dead") && seen.has("call_failed"))) {
    const m = (await pul.getSystem().members()).find((x) => x.addr === victim);
    if (!m || m.status === "dead" || m.status === "left") report("dead");
    else if (m.status === "suspect") report("suspect");
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.race([pul.shutdown(), new Promise((r) => setTimeout(r, 500))]);
  exit(0);
}

if (import.meta.main) {
  const [mode, ...rest] = args();
  const f = parseFlags(rest);
  PASSPHRASE = f.passphrase;
  const wl: Workload = f.params ? JSON.parse(f.params) : (f.quick ? QUICK_WORKLOAD : FULL_WORKLOAD);
  const maxLife = Number(f["max-life-ms"] ?? 300_000);
  if (mode === "server") {
    await runServer(Number(f.port ?? 0), maxLife, !!f["watch-stdin"]);
  } else if (mode === "client") {
    const kinds = (f.kinds ? f.kinds.split(",") : [...KINDS]) as Kind[];
    await runClient(Number(f.port), kinds, wl);
  } else if (mode === "join-observer") {
    await joinObserver(Number(f.port), Number(f["timeout-ms"] ?? 15_000));
  } else if (mode === "joiner") {
    await joiner(Number(f.port), Number(f["timeout-ms"] ?? 15_000));
  } else if (mode === "fail-observer") {
    await failObserver(Number(f.port), Number(f["bound-ms"] ?? 15_000));
  } else {
    console.error(
      "usage: pulsing_node.ts server|client|join-observer|joiner|fail-observer [--port N]",
    );
    exit(2);
  }
}
