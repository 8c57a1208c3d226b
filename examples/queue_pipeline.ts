/**
 * A two-stage data pipeline on the distributed queue.
 *
 * Stage 0: a producer writes 1,000 documents to the queue `docs` (8 buckets, bucketed by the
 * `doc` column) while three workers read it at the same time, each with its own `rank` of
 * `worldSize: 3` (so each bucket has exactly one reader). Stage 1: the workers count the
 * words of each document and write the results to a second queue, `counts`, which a single
 * reader (no rank: every bucket) sums up. Every document is processed exactly once.
 *
 * Run: `deno task example:queue_pipeline` (or `deno run -A examples/queue_pipeline.ts`).
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";

const DOCS = 1_000;
const BUCKETS = 8;
const WORKERS = 3;

const system = await pul.init(); // one process here; on a cluster buckets spread over the nodes

async function produce(): Promise<void> {
  const writer = await pul.queue.write("docs", {
    bucketColumn: "doc",
    numBuckets: BUCKETS,
    batchSize: 50,
  });
  for (let i = 0; i < DOCS; i += 100) {
    const batch = Array.from({ length: 100 }, (_, j) => ({
      doc: `doc-${i + j}`,
      text: "lorem ipsum ".repeat(1 + ((i + j) % 5)).trim(),
    }));
    await writer.put(batch);
    await new Promise((r) => setTimeout(r, 5)); // documents trickle in
  }
  await writer.flush(); // make the last partial batches visible
  console.log(`producer: wrote ${DOCS} documents to 'docs'`);
}

async function work(rank: number): Promise<number> {
  const input = await pul.queue.read("docs", { rank, worldSize: WORKERS, numBuckets: BUCKETS });
  const output = await pul.queue.write("counts", { bucketColumn: "doc", numBuckets: 4 });
  console.log(`worker ${rank}: reads buckets ${input.bucketIds.join(",")}`);
  let done = 0;
  // `batches({ timeout })` waits for records and ends once nothing new came for 500 ms.
  for await (const batch of input.batches({ limit: 64, timeout: 500 })) {
    await output.put(batch.map((r) => ({
      doc: r.doc,
      words: String(r.text).split(" ").length,
      by: rank,
    })));
    done += batch.length;
  }
  await output.flush();
  console.log(`worker ${rank}: processed ${done} documents`);
  return done;
}

console.log(`pipeline: 1 producer -> queue 'docs' (${BUCKETS} buckets) -> ${WORKERS} workers`);
const [, ...perWorker] = await Promise.all([
  produce(),
  ...Array.from({ length: WORKERS }, (_, rank) => work(rank)),
]);

const results = await pul.queue.read("counts", { numBuckets: 4 });
const counts = await results.get({ limit: 10_000 });
const unique = new Set(counts.map((r) => r.doc)).size;
const words = counts.reduce((sum, r) => sum + Number(r.words), 0);
console.log(
  `collector: ${counts.length} results, ${unique} distinct documents, ${words} words in all`,
);
console.log(`per worker: ${perWorker.join(" + ")} = ${perWorker.reduce((a, b) => a + b, 0)}`);
const buckets = (await system.allNamedActors()).filter((a) => a.path.startsWith("queues/"));
const paths = buckets.map((b) => b.path).sort();
console.log(`bucket actors: ${buckets.length} (${paths.slice(0, 2).join(", ")}, ...)`);
if (unique !== DOCS || counts.length !== DOCS) throw new Error("a document was lost or doubled");

await pul.shutdown();
console.log("queue pipeline example done: every document processed exactly once");
