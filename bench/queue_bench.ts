/**
 * The distributed queue across two processes on 127.0.0.1: a writer/reader node W and a node H
 * that holds every bucket (they are created on H first, so rendezvous does not put any on W).
 * Measured in W, in the same run:
 *
 * - baseline: raw remote asks/s from W to an echo actor on H (`pul.remote` class, `call`), one
 *   in flight and 64 in flight, with a queue record as the payload;
 * - `put` records/s: one record per awaited `put` (1 in flight), one record per `put` with 64
 *   in flight (the writer coalesces them into batches), and lists of 100 records;
 * - `get` records/s: `get({ limit: 1 })` on one bucket, and `get({ limit: 100 })` over all
 *   buckets (reads are non-destructive: the reader rewinds when it reaches the end).
 *
 * Each figure is the median of `--reps` runs of `--ms` each (the raw asks are measured in every
 * repetition too), printed with its ratio to the raw asks/s with the same number in flight (a
 * list put or a batched get moves many records per ask, so its ratio can exceed 1).
 *
 * ```sh
 * deno run -A bench/queue_bench.ts                     # 3 × 1 s per figure, ~25 s in all
 * deno run -A bench/queue_bench.ts --ms 500 --reps 1   # quicker
 * ```
 *
 * @module
 */

import { type NodeProc, startNode, waitMembers } from "../tests/_cluster.ts";

const QUEUE = new URL("../queue/mod.ts", import.meta.url).href;
const NUM_BUCKETS = 4;

/** Helpers defined in every measuring snippet: `timed(ms, inFlight, step)` → units/s. */
const TIMED = `const timed = async (ms, inFlight, step) => {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < end) {
      const done = await step(); // (n += await ...) would read n before the await
      n += done;
    }
  }));
  return n / ((performance.now() - t0) / 1000);
};
const rec = (i) => ({ id: "k" + (i % 997), i, data: "x".repeat(32) });
const g = globalThis;`;

/** One measured figure. */
interface Row {
  label: string;
  rate: number;
  unit: string;
  base?: number;
}

function print(rows: Row[]): void {
  for (const r of rows) {
    const rate = Math.round(r.rate).toLocaleString("en-US").padStart(10);
    const ratio = r.base ? `  ${(r.rate / r.base).toFixed(2).padStart(6)}× raw asks` : "";
    console.log(`${r.label.padEnd(46)} ${rate} ${r.unit}${ratio}`);
  }
}

async function main(): Promise<void> {
  const flag = (name: string, d: number): number => {
    const at = Deno.args.indexOf(name);
    return at >= 0 ? Number(Deno.args[at + 1]) : d;
  };
  const ms = flag("--ms", 1_000);
  const reps = flag("--reps", 3);
  const nodes: NodeProc[] = [];
  try {
    const h = await startNode();
    nodes.push(h);
    const w = await startNode({ seeds: [h.addr] });
    nodes.push(w);
    await waitMembers(nodes, 2);
    // on H: the echo actor and every bucket of the queue
    await h.run(
      `const queue = await import(${JSON.stringify(QUEUE)});
      await Counter.spawn({ system, name: "bench/echo" });
      for (let b = 0; b < ${NUM_BUCKETS}; b++) {
        await queue.QueueBucketActor.spawn({
          system,
          name: "queues/qbench/bucket_" + b,
          args: [{ topic: "qbench", bucketId: b, numBuckets: ${NUM_BUCKETS}, backend: "memory",
            storagePath: "./queue_storage/qbench/bucket_" + b, batchSize: 100 }],
        });
      }
      return true;`,
    );
    const rows = await w.run<Row[]>(
      `${TIMED}
      const queue = await import(${JSON.stringify(QUEUE)});
      const echo = await system.resolve("bench/echo", { timeout: 5000 });
      const q = await queue.write("qbench", { system, numBuckets: ${NUM_BUCKETS} });
      await q.put(rec(0));
      for (const info of await system.allNamedActors()) {
        if (info.path.startsWith("queues/qbench/") && info.instances[0].nodeId === system.nodeId.value) {
          throw new Error("a bucket is on the writer's node: " + info.path);
        }
      }
      let i = 0;
      const list = Array.from({ length: 100 }, (_, k) => rec(k));
      const one = await queue.read("qbench", { system, bucketId: 0 });
      const all = await queue.read("qbench", { system });
      const read = async (r, limit) => {
        let got = await r.get({ limit });
        if (got.length === 0) { r.reset(); got = await r.get({ limit }); }
        return got.length;
      };
      const runs = { raw1: [], raw64: [], put1: [], put64: [], putList: [], get1: [], get100: [] };
      for (let rep = 0; rep < ${reps}; rep++) {
        runs.raw1.push(await timed(${ms}, 1, async () => { await echo.call("echo", [rec(i++)]); return 1; }));
        runs.raw64.push(await timed(${ms}, 64, async () => { await echo.call("echo", [rec(i++)]); return 1; }));
        runs.put1.push(await timed(${ms}, 1, async () => { await q.put(rec(i++)); return 1; }));
        runs.put64.push(await timed(${ms}, 64, async () => { await q.put(rec(i++)); return 1; }));
        runs.putList.push(await timed(${ms}, 1, async () => { await q.put(list); return 100; }));
        runs.get1.push(await timed(${ms}, 1, () => read(one, 1)));
        runs.get100.push(await timed(${ms}, 1, () => read(all, 100)));
      }
      const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const raw1 = med(runs.raw1), raw64 = med(runs.raw64), put1 = med(runs.put1),
        put64 = med(runs.put64), putList = med(runs.putList), get1 = med(runs.get1),
        get100 = med(runs.get100);
      const stored = (await q.stats()).buckets;
      return [
        { label: "raw remote ask (echo), 1 in flight", rate: raw1, unit: "asks/s" },
        { label: "raw remote ask (echo), 64 in flight", rate: raw64, unit: "asks/s" },
        { label: "put 1 record, awaited (1 in flight)", rate: put1, unit: "rec/s", base: raw1 },
        { label: "put 1 record, 64 in flight (coalesced)", rate: put64, unit: "rec/s", base: raw64 },
        { label: "put list of 100, awaited", rate: putList, unit: "rec/s", base: raw1 },
        { label: "get limit 1, one bucket", rate: get1, unit: "rec/s", base: raw1 },
        { label: "get limit 100, all " + ${NUM_BUCKETS} + " buckets", rate: get100, unit: "rec/s", base: raw1 },
        { label: "(records stored in the run)", rate: Object.values(stored).reduce((s, b) => s + b.totalCount, 0), unit: "rec" },
      ];`,
      reps * 10 * ms + 30_000,
    );
    console.log(
      `queue across two processes (writer W → ${NUM_BUCKETS} memory buckets on H), ` +
        `median of ${reps} × ${ms} ms per figure`,
    );
    print(rows);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

if (import.meta.main) await main();
