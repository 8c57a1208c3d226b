// nact 7 peer for the local and memory figures of bench/compare.ts (run with Node, not Deno).
//
// nact is NOT a project dependency: bench/nact/install.ts installs it on demand into a temp
// folder passed as --dir; it is loaded from there with createRequire.
//
// Roles (one JSON line on stdout, same shape as bench/local_compare.ts / memory_idle.ts):
//   local  [--n 200000]  a plain `await obj.asyncMethod()` and a nact `query` to a stateful
//                        actor that replies with `dispatch(msg.sender, ...)`, in the same
//                        process, 5 interleaved rounds, median ns per call
//   memory [--n 100000]  RSS of a process holding n idle stateful nact actors (named)

import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";

const argv = process.argv.slice(2);
const role = argv[0];
const flags = {};
for (let i = 1; i < argv.length; i++) {
  if (argv[i].startsWith("--")) {
    const k = argv[i].slice(2);
    flags[k] = i + 1 < argv.length && !argv[i + 1].startsWith("--") ? argv[++i] : "1";
  }
}
if (!flags.dir) {
  console.error("nact_node.mjs: --dir <install folder> is required");
  process.exit(2);
}
const require = createRequire(path.join(flags.dir, "node_modules", "_.js"));
const { start, spawn, query, dispatch } = require("nact");
const version = require("nact/package.json").version;
const print = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const settle = () => {
  if (globalThis.gc) { for (let i = 0; i < 3; i++) globalThis.gc(); }
};

function counter(system, name) {
  return spawn(system, (state = 0, msg, _ctx) => {
    dispatch(msg.sender, state + 1);
    return state + 1;
  }, name);
}

async function loop(f, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  return ((performance.now() - t0) * 1e6) / n;
}

if (role === "local") {
  const n = Number(flags.n ?? 200_000);
  const rounds = Number(flags.rounds ?? 5);
  class Counter {
    value = 0;
    // deno-lint-ignore require-await
    async incr() {
      return ++this.value;
    }
  }
  const plain = new Counter();
  const system = start();
  const actor = counter(system, "counter");
  const plainCall = () => plain.incr();
  const nactCall = () => query(actor, (sender) => ({ sender }), 10_000);
  await loop(plainCall, n / 4);
  await loop(nactCall, n / 4);
  const p = [], x = [];
  for (let r = 0; r < rounds; r++) {
    p.push(await loop(plainCall, n));
    x.push(await loop(nactCall, n));
  }
  const plainNs = median(p), callNs = median(x);
  print({
    kind: "local",
    runtime: `Node ${process.version}, nact ${version}`,
    metrics: { call_ns: callNs, plain_ns: plainNs, ratio: callNs / plainNs },
    rounds: { plain: p, nact: x },
  });
  process.exit(0);
} else if (role === "memory") {
  const n = Number(flags.n ?? 100_000);
  const system = start();
  settle();
  const empty = process.memoryUsage();
  const keep = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) keep[i] = counter(system, `idle-${i}`);
  const spawnMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 300));
  settle();
  const full = process.memoryUsage();
  const check = await query(keep[n - 1], (sender) => ({ sender }), 10_000);
  const MB = 1024 * 1024;
  print({
    kind: "memory",
    runtime: `Node ${process.version}, nact ${version}`,
    actors: n,
    gc: !!globalThis.gc,
    check,
    metrics: {
      rss_mb: full.rss / MB,
      rss_empty_mb: empty.rss / MB,
      heap_mb: full.heapUsed / MB,
      heap_total_mb: full.heapTotal / MB,
      external_mb: full.external / MB,
      spawn_ms: spawnMs,
      bytes_per_actor: (full.rss - empty.rss) / n,
    },
  });
  process.exit(0);
} else {
  console.error("usage: node nact_node.mjs local|memory --dir D [--n N]");
  process.exit(2);
}
