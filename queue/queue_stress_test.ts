/** Bounded stress tests of the queue API (in-process; sizes kept small enough for CI). */
import assert from "node:assert/strict";
import * as queue from "./mod.ts";
import { drain, withSystem } from "./_test_helpers.ts";

Deno.test("queue stress: 1000 concurrent puts over 8 buckets, 10 concurrent readers", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "stress1", { numBuckets: 8 });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => q.put({ id: `s${i}`, i })));
    const readers = await Promise.all(
      Array.from({ length: 10 }, () => queue.readQueue(system, "stress1", { numBuckets: 8 })),
    );
    const results = await Promise.all(readers.map((r) => drain(r, 500)));
    for (const r of results) {
      assert.equal(r.length, 1000);
      assert.equal(new Set(r.map((x) => x.id)).size, 1000);
    }
  });
});

Deno.test("queue stress: 1 KB records and checksums of 200 records survive the trip", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "stress_big", { numBuckets: 4 });
    const sum = (s: string) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
    const recs = Array.from({ length: 200 }, (_, i) => {
      const payload = crypto.randomUUID().repeat(29).slice(0, 1024);
      return { id: i, payload, sum: sum(payload) };
    });
    await q.put(recs);
    const got = await drain(await queue.readQueue(system, "stress_big"), 500);
    assert.equal(got.length, 200);
    for (const r of got) {
      assert.equal((r.payload as string).length, 1024);
      assert.equal(sum(r.payload as string), r.sum);
    }
  });
});

Deno.test("queue stress: producer and consumer with waits see every record", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "prodcons", { numBuckets: 4 });
    const r = await queue.readQueue(system, "prodcons");
    const N = 500;
    const producer = (async () => {
      for (let i = 0; i < N; i++) {
        await q.put({ id: `p${i}` });
        if (i % 50 === 0) await new Promise((res) => setTimeout(res, 1));
      }
    })();
    const seen = new Set<string>();
    while (seen.size < N) {
      const batch = await r.get({ limit: 64, wait: true, timeout: 2_000 });
      assert.ok(batch.length > 0, `stalled at ${seen.size}`);
      for (const x of batch) {
        assert.ok(!seen.has(x.id as string));
        seen.add(x.id as string);
      }
    }
    await producer;
  });
});

Deno.test("queue stress: 32 buckets are mostly used; 50 rapid flush cycles read back completely", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "wide", { numBuckets: 32 });
    await q.put(Array.from({ length: 320 }, (_, i) => ({ id: `w${i}` })));
    const st = await q.stats();
    assert.ok(Object.keys(st.buckets).length >= 16);
    const f = await queue.writeQueue(system, "flushes", { numBuckets: 4 });
    for (let c = 0; c < 50; c++) {
      await f.put(Array.from({ length: 10 }, (_, i) => ({ id: `c${c}_${i}` })));
      await f.flush();
    }
    assert.equal((await drain(await queue.readQueue(system, "flushes"), 500)).length, 500);
  });
});
