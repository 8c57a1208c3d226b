/**
 * Throughput of the queue storage: `deno bench -A queue/backend_bench.ts`.
 * Each group compares the backends against the memory backend (baseline) in the same run.
 * One iteration of a `putBatch`/`get` bench moves 100 records.
 */
import { MemoryBackend } from "./memory_backend.ts";
import { openSqliteBackend } from "./sqlite_backend.ts";
import { getBucketId } from "./bucket_hash.ts";
import { ownerOf } from "./rendezvous.ts";
import type { QueueBackend } from "./backend.ts";

const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of dirs) Deno.removeSync(d, { recursive: true });
});
async function dir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "pulsing_bench_" });
  dirs.push(d);
  return d;
}

const backends: [string, QueueBackend][] = [
  ["memory", new MemoryBackend()],
  ["sqlite :memory:", await openSqliteBackend({ bucketId: 0, storagePath: ":memory:" })],
  [
    "sqlite file (synchronous normal)",
    await openSqliteBackend({ bucketId: 0, storagePath: await dir() }),
  ],
  [
    "sqlite file (synchronous full)",
    await openSqliteBackend({ bucketId: 0, storagePath: await dir(), synchronous: "full" }),
  ],
];

const record = (i: number) => ({ id: `user-${i}`, seq: i, data: "x".repeat(100) });
const batch = Array.from({ length: 100 }, (_, i) => record(i));

for (const [name, b] of backends) {
  let i = 0;
  Deno.bench(`put 1 record: ${name}`, { group: "put", baseline: name === "memory" }, async () => {
    await b.put(record(i++));
  });
  Deno.bench(
    `putBatch 100: ${name}`,
    { group: "putBatch", baseline: name === "memory" },
    async () => {
      await b.putBatch(batch);
    },
  );
}
for (const [name, b] of backends) {
  // enough data to read from
  while (b.totalCount() < 100_000) await b.putBatch(batch);
  let o = 0;
  Deno.bench(`get 100: ${name}`, { group: "get", baseline: name === "memory" }, async () => {
    o = (o + 7919) % (b.totalCount() - 100);
    await b.get(o, 100);
  });
}

const keys = Array.from({ length: 1024 }, (_, i) => `user-${i}`);
let k = 0;
Deno.bench("getBucketId(string, 8)", { group: "hash" }, () => {
  getBucketId(keys[k++ & 1023], 8);
});
const nodes = Array.from({ length: 10 }, (_, i) => `node-${i}`);
Deno.bench("ownerOf(key, 10 nodes)", { group: "hash" }, () => {
  ownerOf(keys[k++ & 1023], nodes);
});
