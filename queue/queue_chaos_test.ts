/** Randomized, bounded chaos tests of the queue (and queue + topic together), in-process. */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import * as queue from "./mod.ts";
import * as topic from "../topic/mod.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("queue chaos: several producers and rank-partitioned consumers, no loss, no duplicates", async () => {
  const system = await pul.actorSystem();
  try {
    const numBuckets = 16;
    const worldSize = 3;
    const producers = 4;
    const perProducer = 400;
    const total = producers * perProducer;
    const produced = new Set<string>();
    let producersDone = false;
    const producing = Array.from({ length: producers }, async (_, p) => {
      const q = await queue.writeQueue(system, "chaos", { numBuckets, batchSize: 32 });
      for (let i = 0; i < perProducer;) {
        const n = 1 + Math.floor(Math.random() * 20);
        const recs = [];
        for (let k = 0; k < n && i < perProducer; k++, i++) {
          const id = `p${p}_${i}`;
          produced.add(id);
          recs.push({ id, p, i });
        }
        if (Math.random() < 0.5) await q.put(recs);
        else await Promise.all(recs.map((r) => q.put(r)));
        if (Math.random() < 0.2) await sleep(Math.random() * 3);
      }
      await q.flush();
    });
    const seenBy: Set<string>[] = [];
    const consuming = Array.from({ length: worldSize }, async (_, rank) => {
      const r = await queue.readQueue(system, "chaos", { numBuckets, rank, worldSize });
      const seen = new Set<string>();
      seenBy[rank] = seen;
      let idle = 0;
      while (!producersDone || idle < 2) {
        const batch = await r.get({
          limit: 1 + Math.floor(Math.random() * 50),
          wait: true,
          timeout: 150,
        });
        if (batch.length === 0) {
          idle++;
          continue;
        }
        idle = 0;
        for (const rec of batch) {
          assert.ok(!seen.has(rec.id as string), `rank ${rank} saw ${rec.id} twice`);
          seen.add(rec.id as string);
        }
      }
    });
    await Promise.all(producing);
    producersDone = true;
    await Promise.all(consuming);
    const union = new Set<string>();
    for (const s of seenBy) {
      for (const id of s) {
        assert.ok(!union.has(id), `${id} read by two ranks`);
        union.add(id);
      }
    }
    assert.equal(union.size, total);
    assert.deepEqual(union, produced);
    // reset and re-read gives the same first batch
    const r = await queue.readQueue(system, "chaos", { numBuckets, rank: 0, worldSize });
    const first = await r.get({ limit: 20 });
    r.reset();
    assert.deepEqual(await r.get({ limit: 20 }), first);
  } finally {
    await system.shutdown();
  }
});

Deno.test("queue chaos: mixed queue and topic load does not deadlock; rapid open/close of handles", async () => {
  const system = await pul.actorSystem();
  try {
    const got: number[] = [];
    const reader = await topic.readTopic<number>(system, "mixed_events");
    reader.onMessage(async (n) => {
      const q = await queue.writeQueue(system, "mixed_q", { numBuckets: 4 });
      await q.put({ id: n });
      got.push(n);
    });
    await reader.start();
    const w = await topic.writeTopic(system, "mixed_events");
    const q = await queue.writeQueue(system, "mixed_q", { numBuckets: 4 });
    await Promise.all([
      (async () => {
        for (let i = 0; i < 200; i++) {
          await w.publish(i, { mode: i % 2 ? "best_effort" : "fire_and_forget" });
        }
      })(),
      (async () => {
        for (let i = 1000; i < 1200; i++) await q.put({ id: i });
      })(),
      (async () => {
        for (let i = 0; i < 50; i++) {
          const r = await queue.readQueue(system, "mixed_q", { numBuckets: 4 });
          await r.get({ limit: 10 });
          const tr = await topic.readTopic(system, "mixed_events");
          tr.onMessage(() => {});
          await tr.start();
          await tr.stop();
        }
      })(),
    ]);
    for (let i = 0; i < 200 && got.length < 200; i++) await sleep(10);
    assert.equal(got.length, 200);
    const r = await queue.readQueue(system, "mixed_q", { numBuckets: 4 });
    let n = 0;
    for await (const b of r.batches({ limit: 500, timeout: 100 })) n += b.length;
    assert.equal(n, 400);
    await reader.stop();
  } finally {
    await system.shutdown();
  }
});
