// Moleculer 0.14 peer for the cross-process benchmark suite (run with Node, not Deno).
//
// Moleculer is NOT a project dependency: `bench/moleculer/install.ts` installs it on demand
// into a temp folder whose path is passed as --dir; it is loaded from there with createRequire.
//
// Roles (each its own OS process, 127.0.0.1 only):
//   server   --port P        node "n1" with service `echo` (actions echo, ack)
//   client   --port P        node that joins n1 through the static URL, runs the kinds, prints
//                            one JSON line per kind (same shape as bench/raw_echo.ts)
//   observer --port Q        node "obs"; polls `joiner.ping` until it succeeds, prints wall time
//   joiner   --port Q        fresh node with service `joiner`, seeded with obs (join time)
//   fail-observer --port P   failure detection, caller side: joins n1 with Moleculer's DEFAULT
//                            request timeout (0 = none) and heartbeat settings, starts a pending
//                            call `echo.hang`, then prints one line per event as it happens:
//                            {"event":"call_failed"|"dead","t":<wall ms>} ("dead": n1 is no
//                            longer `available` in the registry); {"ready":true} first
//   local    [--n N]         in-process `broker.call` (no transporter) vs a plain async call
// Settings as in ../shared/reference/peers.md §4.1: TCP transporter, udpDiscovery false, static
// urls, maxPacketSize raised (default 1 MiB rejects the payloads), logger off, rest default.
// Moleculer's TCP server would listen on all interfaces and advertise external IPs; this script
// pins both to 127.0.0.1.

import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import process from "node:process";
import { Buffer } from "node:buffer";

const argv = process.argv.slice(2);
const role = argv[0];
const flags = {};
for (let i = 1; i < argv.length; i++) {
  if (argv[i].startsWith("--")) {
    const k = argv[i].slice(2);
    const v = i + 1 < argv.length && !argv[i + 1].startsWith("--") ? argv[++i] : "1";
    flags[k] = v;
  }
}
const dir = flags.dir ?? process.env.PULSING_BENCH_MOLECULER_DIR;
if (!dir) {
  console.error("moleculer_node.mjs: --dir <install folder> is required");
  process.exit(2);
}
const require = createRequire(path.join(dir, "node_modules", "_.js"));
const { ServiceBroker } = require("moleculer");
const moleculerVersion = ServiceBroker.MOLECULER_VERSION;

// Loopback only: Moleculer calls server.listen({ port, exclusive }) without a host.
const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const a0 = args[0];
  if (a0 && typeof a0 === "object" && a0.host === undefined && a0.path === undefined) {
    args[0] = { ...a0, host: "127.0.0.1" };
  }
  return origListen.apply(this, args);
};

const now = () => performance.timeOrigin + performance.now();
const serializer = flags.serializer === "cbor" ? "CBOR" : "JSON";
const MAX_PACKET = 64 * 1024 * 1024;

function makeBroker(nodeID, seedPort, seedID, gossipPeriod, defaultTimeout = false) {
  const broker = new ServiceBroker({
    nodeID,
    logger: false,
    serializer,
    ...(defaultTimeout ? {} : { requestTimeout: 60_000 }),
    transporter: {
      type: "TCP",
      options: {
        udpDiscovery: false,
        urls: [`127.0.0.1:${seedPort}/${seedID}`],
        useHostname: false,
        maxPacketSize: MAX_PACKET,
        ...(gossipPeriod ? { gossipPeriod } : {}),
      },
    },
  });
  const local = broker.registry.nodes.localNode;
  local.ipList = ["127.0.0.1"];
  local.hostname = "127.0.0.1";
  return broker;
}

function exitWithParent(broker, maxLifeMs) {
  const stop = () => broker.stop().finally(() => process.exit(0));
  setTimeout(stop, maxLifeMs).unref();
  if (flags["watch-stdin"]) {
    process.stdin.on("end", stop);
    process.stdin.on("error", stop);
    process.stdin.resume();
  }
  process.on("SIGTERM", stop);
}

function percentile(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function bulkPayload(size) {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) buf[i] = i & 0xff;
  // JSON cannot carry binary: base64 string (what a Moleculer user would send).
  return serializer === "CBOR" ? { b: buf } : { b: buf.toString("base64") };
}

const TINY = { x: "0123456789abcdef" };

async function pingpong(broker, wl) {
  for (let i = 0; i < wl.pingpongWarmup; i++) await broker.call("echo.echo", TINY);
  const s = new Float64Array(wl.pingpongIters);
  for (let i = 0; i < wl.pingpongIters; i++) {
    const t = performance.now();
    await broker.call("echo.echo", TINY);
    s[i] = performance.now() - t;
  }
  let sum = 0;
  for (const v of s) sum += v;
  s.sort();
  return {
    p50_us: percentile(s, 50) * 1000,
    p99_us: percentile(s, 99) * 1000,
    mean_us: (sum / s.length) * 1000,
  };
}

async function pipeline(broker, wl) {
  let done = 0;
  let phase = 0; // 0 warm-up, 1 measuring, 2 stopping
  const loop = async () => {
    while (phase < 2) {
      await broker.call("echo.echo", TINY);
      done++;
    }
  };
  const loops = [];
  for (let i = 0; i < wl.pipelineInflight; i++) loops.push(loop());
  await new Promise((r) => setTimeout(r, wl.pipelineWarmupMs));
  const d0 = done;
  const t0 = performance.now();
  phase = 1;
  await new Promise((r) => setTimeout(r, wl.pipelineMs));
  const d1 = done;
  const t1 = performance.now();
  phase = 2;
  await Promise.all(loops);
  return { msgs_per_s: (d1 - d0) / ((t1 - t0) / 1000) };
}

async function bulk(broker, wl, size, windowMs, warmup) {
  const params = bulkPayload(size);
  for (let i = 0; i < warmup; i++) await broker.call("echo.ack", params);
  let n = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (true) {
    const r = await broker.call("echo.ack", params);
    if (!r || r.n <= 0) throw new Error("bad ack");
    n++;
    elapsed = performance.now() - t0;
    if (elapsed >= windowMs && n >= wl.bulkMinReqs) break;
  }
  return { mib_per_s: (n * size) / (1024 * 1024) / (elapsed / 1000), requests: n };
}

async function runKind(broker, kind, wl) {
  try {
    switch (kind) {
      case "pingpong":
        return { kind, metrics: await pingpong(broker, wl) };
      case "pipeline":
        return { kind, metrics: await pipeline(broker, wl) };
      case "bulk1m":
        return { kind, metrics: await bulk(broker, wl, 1 << 20, wl.bulk1mMs, wl.bulkWarmup) };
      case "bulk16m":
        return { kind, metrics: await bulk(broker, wl, 16 << 20, wl.bulk16mMs, wl.bulk16mWarmup) };
      case "stream":
        return {
          kind,
          unsupported: "Moleculer 0.14 streams are byte streams (Node Readable), not item streams",
        };
      default:
        return { kind, error: `unknown kind ${kind}` };
    }
  } catch (e) {
    return { kind, error: String(e && e.message ? e.message : e) };
  }
}

const print = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const port = Number(flags.port);

if (role === "server") {
  const broker = makeBroker("n1", port, "n1");
  broker.createService({
    name: "echo",
    actions: {
      echo(ctx) {
        return ctx.params;
      },
      who() {
        return broker.nodeID;
      },
      ack(ctx) {
        const b = ctx.params.b;
        return { n: b ? b.length : 0 };
      },
      hang(ctx) {
        return new Promise((r) => setTimeout(() => r(ctx.params.ms), ctx.params.ms));
      },
    },
  });
  await broker.start();
  exitWithParent(broker, Number(flags["max-life-ms"] ?? 300_000));
  print({ ready: true, port, pid: process.pid, moleculer: moleculerVersion, serializer });
} else if (role === "client") {
  const wl = JSON.parse(flags.params);
  // gossipPeriod 1 s (the minimum) only shortens the client's wait for the echo service;
  // it does not change any measured figure. Join time is measured by observer/joiner.
  const broker = makeBroker(`c${process.pid}`, port, "n1", 1);
  await broker.start();
  await broker.waitForServices(["echo"], 20_000, 5);
  const who = await broker.call("echo.who");
  if (who !== "n1") throw new Error(`echo answered by ${who}, expected the server node n1`);
  print({ ready: true, joinedMs: performance.now() });
  for (const kind of (flags.kinds ?? "pingpong,pipeline,bulk1m,bulk16m,stream").split(",")) {
    print(await runKind(broker, kind, wl));
  }
  await broker.stop();
  process.exit(0);
} else if (role === "observer") {
  const broker = makeBroker("obs", port, "obs");
  broker.createService({ name: "observer", actions: { ping: () => "pong" } });
  await broker.start();
  exitWithParent(broker, Number(flags["max-life-ms"] ?? 60_000));
  print({ ready: true });
  const deadline = performance.now() + Number(flags["timeout-ms"] ?? 15_000);
  let result = null;
  while (performance.now() < deadline) {
    try {
      await broker.call("joiner.ping");
      result = { kind: "join", t1: now() };
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  print(result ?? { kind: "join", error: "joiner.ping not callable before the deadline" });
  await broker.stop();
  process.exit(0);
} else if (role === "joiner") {
  // Moleculer defaults (gossipPeriod 2 s): this is what the join figure measures.
  const broker = makeBroker(`j${process.pid}`, port, "obs");
  broker.createService({ name: "joiner", actions: { ping: () => "pong" } });
  await broker.start();
  exitWithParent(broker, Number(flags["max-life-ms"] ?? 60_000));
  const started = now();
  // Reverse direction: until the fresh node can call the service on the existing node.
  const deadline = performance.now() + 15_000;
  let rev = null;
  while (performance.now() < deadline) {
    try {
      await broker.call("observer.ping");
      rev = now();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  print({ kind: "join-reverse", started, t1: rev });
} else if (role === "fail-observer") {
  const broker = makeBroker(`f${process.pid}`, port, "n1", 1, true);
  await broker.start();
  await broker.waitForServices(["echo"], 20_000, 5);
  await broker.call("echo.echo", TINY);
  const seen = new Set();
  const report = (event, extra = {}) => {
    if (seen.has(event)) return;
    seen.add(event);
    print({ event, t: now(), ...extra });
  };
  broker.call("echo.hang", { ms: 60_000 }).then(
    () => report("call_returned"),
    (e) => report("call_failed", { error: String(e && e.message ? e.message : e).slice(0, 200) }),
  );
  await new Promise((r) => setTimeout(r, 50));
  print({ ready: true });
  const deadline = performance.now() + Number(flags["bound-ms"] ?? 15_000) + 20_000;
  while (performance.now() < deadline && !(seen.has("dead") && seen.has("call_failed"))) {
    const n1 = broker.registry.nodes.get("n1");
    if (!n1 || !n1.available) report("dead");
    await new Promise((r) => setTimeout(r, 2));
  }
  process.exit(0);
} else if (role === "local") {
  const n = Number(flags.n ?? 200_000);
  const broker = new ServiceBroker({ nodeID: "local", logger: false });
  broker.createService({
    name: "counter",
    actions: {
      incr() {
        return 1;
      },
    },
  });
  await broker.start();
  class Counter {
    value = 0;
    // deno-lint-ignore require-await
    async incr() {
      return ++this.value;
    }
  }
  const plain = new Counter();
  const loop = async (f, k) => {
    const t0 = performance.now();
    for (let i = 0; i < k; i++) await f();
    return ((performance.now() - t0) * 1e6) / k;
  };
  const plainCall = () => plain.incr();
  const molCall = () => broker.call("counter.incr");
  await loop(plainCall, n / 4);
  await loop(molCall, n / 4);
  const p = [], x = [];
  for (let r = 0; r < 5; r++) {
    p.push(await loop(plainCall, n));
    x.push(await loop(molCall, n));
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  print({
    kind: "local",
    metrics: { call_ns: med(x), plain_ns: med(p), ratio: med(x) / med(p) },
    rounds: { plain: p, moleculer: x },
  });
  await broker.stop();
  process.exit(0);
} else {
  console.error(
    "usage: node moleculer_node.mjs server|client|observer|joiner|fail-observer|local --dir D --port P",
  );
  process.exit(2);
}
