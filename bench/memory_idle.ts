/**
 * The "memory" figure of `bench/compare.ts`: resident memory of a networked node
 * (`pul.init({ addr: "127.0.0.1:0" })`) holding 100,000 idle actors, in a fresh process.
 *
 * The actors are instances of a small `pul.remote` class (a counter), spawned with a name
 * (`--anonymous`: without), all kept alive; after a full GC (when exposed) the process prints
 * one line:
 * `{"kind":"memory","metrics":{"rss_mb","rss_empty_mb","heap_mb","spawn_ms","bytes_per_actor"}}`
 * where `rss_mb` is the whole process and `rss_empty_mb` the same node before spawning.
 *
 * Run: `deno run -A --v8-flags=--expose-gc bench/memory_idle.ts [--n 100000] [--anonymous]
 * [--idle-ms 300]`
 * (on Node, bundled against the npm build: `node --expose-gc memory_idle.mjs`).
 *
 * @module
 */

import * as pul from "../mod.ts";
import { args, exit, memory, printJson, runtimeVersion, settleGc } from "./_rt.ts";
import { parseFlags } from "./_workload.ts";

class Counter {
  value = 0;
  incr(): number {
    return ++this.value;
  }
}
const Remote = pul.remote(Counter, { name: "BenchIdleCounter" });

const MB = 1024 * 1024;

async function main(): Promise<void> {
  const f = parseFlags(args());
  const n = Number(f.n ?? 100_000);
  const named = !f.anonymous;
  await pul.init({ addr: "127.0.0.1:0" });
  const gc = settleGc();
  const empty = memory();
  const keep: pul.ActorProxy<Counter>[] = new Array(n);
  let collisions = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    try {
      keep[i] = await Remote.spawn(named ? { name: `idle/${i}` } : {});
    } catch (e) {
      // Anonymous names carry a 32-bit random suffix (core/remote.ts): at 100k actors a
      // collision is likely (birthday bound, ~69%). Count it and retry.
      if (named || !String(e).includes("already exists")) throw e;
      collisions++;
      i--;
    }
  }
  const spawnMs = performance.now() - t0;
  // Idle: let timers and registry broadcasts settle, then measure (`--idle-ms`, default 300).
  await new Promise((r) => setTimeout(r, Number(f["idle-ms"] ?? 300)));
  settleGc();
  const full = memory();
  const check = await keep[n - 1].incr(); // alive
  printJson({
    kind: "memory",
    runtime: runtimeVersion,
    actors: n,
    named,
    gc,
    check,
    collisions,
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
  await Promise.race([pul.shutdown(), new Promise((r) => setTimeout(r, 1000))]);
  exit(0);
}

await main();
