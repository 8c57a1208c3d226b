/**
 * Throughput of the queue API in one process: records/s for awaited single puts, un-awaited
 * puts (coalesced into batches), list puts, and reads; the backend's own putBatch is the
 * baseline measured in the same run, so the ratio is the cost of the actor/queue layer.
 *
 * Usage: deno run -A queue/queue_bench.ts [records=20000]
 *
 * @module
 */

import * as pul from "../mod.ts";
import { MemoryBackend } from "./memory_backend.ts";
import { readQueue } from "./reader.ts";
import { writeQueue } from "./queue.ts";

const N = Number(Deno.args[0] ?? 20_000);

async function rate(label: string, n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  const r = n / s;
  console.log(`${label.padEnd(44)} ${Math.round(r).toLocaleString("en-US").padStart(12)} rec/s`);
  return r;
}

const recs = Array.from({ length: N }, (_, i) => ({ id: `k${i % 997}`, i, data: "x".repeat(32) }));

const base = await rate("baseline: MemoryBackend.putBatch(100)", N, async () => {
  const b = new MemoryBackend({ bucketId: 0 });
  for (let i = 0; i < N; i += 100) await b.putBatch(recs.slice(i, i + 100));
});

const readBase = await rate("baseline: MemoryBackend.get(offset, 100)", N, async () => {
  const b = new MemoryBackend({ bucketId: 0 });
  await b.putBatch(recs);
  for (let i = 0; i < N; i += 100) await b.get(i, 100);
});

const system = await pul.actorSystem();
const q1 = await writeQueue(system, "bench_single", { numBuckets: 4 });
const single = await rate("queue.put(record), awaited one by one", N, async () => {
  for (const r of recs) await q1.put(r);
});
const q2 = await writeQueue(system, "bench_unawaited", { numBuckets: 4, batchSize: 100 });
const coalesced = await rate("queue.put(record) x N un-awaited (batched)", N, async () => {
  await Promise.all(recs.map((r) => q2.put(r)));
});
const q3 = await writeQueue(system, "bench_list", { numBuckets: 4 });
const list = await rate("queue.put(list of 100)", N, async () => {
  for (let i = 0; i < N; i += 100) await q3.put(recs.slice(i, i + 100));
});
const reader = await readQueue(system, "bench_list", { numBuckets: 4 });
const reads = await rate("reader.get({ limit: 100 })", N, async () => {
  let n = 0;
  while (n < N) n += (await reader.get({ limit: 100 })).length;
});
const reader2 = await readQueue(system, "bench_list", { numBuckets: 4 });
const bigReads = await rate("reader.get({ limit: 1000 })", N, async () => {
  let n = 0;
  while (n < N) n += (await reader2.get({ limit: 1000 })).length;
});
await system.shutdown();

console.log("\nratio to the backend baseline (puts: putBatch(100); reads: get(100)):");
for (const [k, v] of Object.entries({ single, coalesced, list })) {
  console.log(`  ${k.padEnd(10)} ${(v / base).toFixed(3)}`);
}
for (const [k, v] of Object.entries({ reads, bigReads })) {
  console.log(`  ${k.padEnd(10)} ${(v / readBase).toFixed(3)}`);
}
