/**
 * Spawn 100k actors and print the time and the memory they take (RSS and V8 heap, measured
 * after a GC before and after). Target: under 1 s and under 100 MB.
 *
 * Run: `deno run -A --v8-flags=--expose-gc bench/spawn_100k.ts [count] [raw|remote|named]`
 * (`raw`: anonymous `{ receive }` actors; `named`: named raw actors; `remote`: named
 * `pul.remote` actors, the heaviest kind; default: all three in turn).
 *
 * @module
 */

import * as pul from "../mod.ts";

const N = Number(Deno.args[0] ?? 100_000);
const kinds = Deno.args[1] ? [Deno.args[1]] : ["raw", "named", "remote"];
const gc = (globalThis as { gc?: () => void }).gc;

function settle(): void {
  if (gc) { for (let i = 0; i < 3; i++) gc(); }
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

class Counter {
  value = 0;
  incr(): number {
    return ++this.value;
  }
}
const Remote = pul.remote(Counter);

async function run(kind: string): Promise<void> {
  const system = new pul.ActorSystem();
  const refs: unknown[] = new Array(N);
  settle();
  const before = Deno.memoryUsage();
  const t0 = performance.now();
  if (kind === "raw") {
    for (let i = 0; i < N; i++) refs[i] = await system.spawn({ receive: (m: unknown) => m });
  } else if (kind === "named") {
    for (let i = 0; i < N; i++) {
      refs[i] = await system.spawn({ receive: (m: unknown) => m }, { name: `w/${i}` });
    }
  } else {
    for (let i = 0; i < N; i++) refs[i] = await Remote.spawn({ system, name: `c/${i}` });
  }
  const ms = performance.now() - t0;
  settle();
  const after = Deno.memoryUsage();
  // Prove they are alive: one call to the last one.
  const last = refs[N - 1];
  const ok = kind === "remote"
    ? await (last as pul.ActorProxy<Counter>).incr()
    : await (last as pul.ActorRef).ask(1);
  const rss = after.rss - before.rss;
  const heap = after.heapUsed - before.heapUsed;
  console.log(
    `${kind.padEnd(6)} spawn ${N} actors: ${ms.toFixed(0)} ms ` +
      `(${(N / ms * 1000).toFixed(0)}/s, ${(ms * 1e6 / N).toFixed(0)} ns each), ` +
      `RSS +${mb(rss)} MB, heap +${mb(heap)} MB (${(heap / N).toFixed(0)} B/actor)` +
      `${gc ? "" : " [no --expose-gc: memory is approximate]"} check=${ok}`,
  );
  const t1 = performance.now();
  await system.shutdown();
  console.log(
    `${kind.padEnd(6)} shutdown of ${N} actors: ${(performance.now() - t1).toFixed(0)} ms`,
  );
}

for (const k of kinds) await run(k);
