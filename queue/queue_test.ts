import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import { PulsingBusinessError, PulsingRuntimeError } from "../core/errors.ts";
import * as queue from "./mod.ts";
import { MemoryBackend } from "./memory_backend.ts";
import { QueueBucketActor } from "./bucket_actor.ts";
import type { QueueRecord } from "./backend.ts";
import { drain, withSystem } from "./_test_helpers.ts";

Deno.test("queue: put one record and a list; results say where each went", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "put_basic", { numBuckets: 4 });
    const one = await q.put({ id: "u1", data: "hello" });
    assert.equal(one.bucketId, q.getBucketId("u1"));
    assert.equal(one.offset, 0);
    const many = await q.put([{ id: "a" }, { id: "b" }, { id: "c" }, { id: "u1", n: 2 }]);
    assert.equal(many.length, 4);
    assert.deepEqual(
      many.map((r) => r.bucketId),
      ["a", "b", "c", "u1"].map((v) => q.getBucketId(v)),
    );
    assert.equal(many[3].offset, 1); // second record of u1's bucket
    assert.deepEqual(await q.put([]), []);
    const all = await drain(await queue.readQueue(system, "put_basic"));
    assert.equal(all.length, 5);
  });
});

Deno.test("queue: a missing bucket column fails before anything is written", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "missing_col", { bucketColumn: "user" });
    await assert.rejects(() => q.put({ id: 1 }), (e: unknown) => {
      assert.ok(e instanceof PulsingBusinessError);
      assert.equal(e.code, queue.QueueErrorCode.missingColumn);
      assert.match(e.message, /Missing bucket column 'user'/);
      return true;
    });
    await assert.rejects(
      () => q.put([{ user: "a" }, { user: "b" }, { nope: 1 }]),
      PulsingBusinessError,
    );
    await assert.rejects(() => q.put([{ user: "a" }, 42 as unknown as QueueRecord]), TypeError);
    await assert.rejects(() => q.put("x" as unknown as QueueRecord), TypeError);
    await assert.rejects(() => q.put({ user: { nested: true } }), TypeError);
    assert.deepEqual(await drain(await queue.readQueue(system, "missing_col")), []);
    // null is a valid key (it is not a missing column)
    assert.equal((await q.put({ user: null })).bucketId, q.getBucketId(null));
  });
});

Deno.test("queue: 1 and '1' are different keys; per-bucket reads match the hash", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "hash_route", { numBuckets: 8 });
    const ids = Array.from({ length: 64 }, (_, i) => `k${i}`);
    await q.put(ids.map((id) => ({ id })));
    for (let b = 0; b < 8; b++) {
      const r = await queue.readQueue(system, "hash_route", { numBuckets: 8, bucketId: b });
      for (const rec of await drain(r)) assert.equal(q.getBucketId(rec.id as string), b);
    }
    assert.equal(q.getBucketId("u1"), queue.getBucketId("u1", 8));
    // the hash distinguishes types: over many values, 1..n and "1".."n" do not all coincide
    const same = Array.from(
      { length: 50 },
      (_, i) => q.getBucketId(i) === q.getBucketId(String(i)),
    );
    assert.ok(same.some((s) => !s));
  });
});

Deno.test("queue: records are visible as soon as put resolves, and in arrival order per bucket", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "visible", { numBuckets: 2 });
    const r = await queue.readQueue(system, "visible", { numBuckets: 2 });
    assert.deepEqual(await r.get(), []);
    await q.put({ id: "x", v: 1 });
    assert.deepEqual(await r.get(), [{ id: "x", v: 1 }]);
    for (let i = 2; i <= 20; i++) await q.put({ id: "x", v: i });
    const got = await r.get({ limit: 100 });
    assert.deepEqual(got.map((x) => x.v), Array.from({ length: 19 }, (_, i) => i + 2));
  });
});

Deno.test("queue: un-awaited puts are batched per bucket (batchSize) and keep their order", async () => {
  const calls: number[] = [];
  queue.registerBackend("counting", (o) => {
    const m = new MemoryBackend(o);
    const putBatch = m.putBatch.bind(m);
    m.putBatch = (records) => {
      calls.push(records.length);
      return putBatch(records);
    };
    return m;
  }, { replace: true });
  try {
    await withSystem(async (system) => {
      const q = await queue.writeQueue(system, "batched", {
        numBuckets: 1,
        batchSize: 100,
        backend: "counting",
      });
      const ps = Array.from({ length: 250 }, (_, i) => q.put({ id: "same", seq: i }));
      const res = await Promise.all(ps);
      assert.deepEqual(res.map((r) => r.offset), Array.from({ length: 250 }, (_, i) => i));
      assert.ok(calls.length <= 4, `expected coalesced batches, got ${calls}`);
      assert.ok(calls.every((n) => n <= 100));
      // one put's records for a bucket are never split, even above batchSize
      calls.length = 0;
      await q.put(Array.from({ length: 150 }, (_, i) => ({ id: "same", seq: 250 + i })));
      assert.deepEqual(calls, [150]);
      const r = await queue.readQueue(system, "batched", { numBuckets: 1, backend: "counting" });
      const all = await drain(r);
      assert.deepEqual(all.map((x) => x.seq), Array.from({ length: 400 }, (_, i) => i));
    });
  } finally {
    queue.unregisterBackend("counting");
  }
});

Deno.test("queue: a list put is all or nothing per bucket", async () => {
  queue.registerBackend("picky", (o) => {
    const m = new MemoryBackend(o);
    const putBatch = m.putBatch.bind(m);
    m.putBatch = (records) =>
      records.some((r) => r.poison) ? Promise.reject(new Error("poison")) : putBatch(records);
    return m;
  }, { replace: true });
  try {
    await withSystem(async (system) => {
      const q = await queue.writeQueue(system, "atomic", { numBuckets: 1, backend: "picky" });
      await q.put({ id: "a" });
      await assert.rejects(() => q.put([{ id: "b" }, { id: "c", poison: true }, { id: "d" }]));
      const r = await queue.readQueue(system, "atomic", { numBuckets: 1, backend: "picky" });
      assert.deepEqual(await drain(r), [{ id: "a" }]);
    });
  } finally {
    queue.unregisterBackend("picky");
  }
});

Deno.test("queue: flush and stats", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "stats_q", { numBuckets: 4, bucketColumn: "k" });
    await q.flush(); // nothing touched: fine
    const s0 = await q.stats();
    assert.deepEqual(s0, { topic: "stats_q", bucketColumn: "k", numBuckets: 4, buckets: {} });
    q.put([{ k: 1 }, { k: 2 }, { k: 3 }]);
    await q.flush();
    const s = await q.stats();
    const total = Object.values(s.buckets).reduce((n, b) => n + b.totalCount, 0);
    assert.equal(total, 3);
    for (const [id, b] of Object.entries(s.buckets)) {
      assert.equal(b.bucketId, Number(id));
      assert.equal(b.backend, "memory");
      assert.equal(b.persistedCount, 0);
    }
  });
});

Deno.test("queue: reader offsets, reset and setOffset; reads are non-destructive", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "offsets", { numBuckets: 1 });
    await q.put(Array.from({ length: 10 }, (_, i) => ({ id: "k", i })));
    const r = await queue.readQueue(system, "offsets", { numBuckets: 1 });
    const first = await r.get({ limit: 4 });
    assert.deepEqual(first.map((x) => x.i), [0, 1, 2, 3]);
    assert.deepEqual(r.offsets, { 0: 4 });
    assert.deepEqual((await r.get({ limit: 4 })).map((x) => x.i), [4, 5, 6, 7]);
    r.reset();
    assert.deepEqual(await r.get({ limit: 4 }), first);
    r.setOffset(8);
    assert.deepEqual((await r.get()).map((x) => x.i), [8, 9]);
    r.setOffset(9, 0);
    assert.deepEqual((await r.get()).map((x) => x.i), [9]);
    assert.throws(() => r.setOffset(1, 3), RangeError);
    assert.throws(() => r.setOffset(-1), RangeError);
    // another reader sees everything again
    const r2 = await queue.readQueue(system, "offsets", { numBuckets: 1 });
    assert.equal((await drain(r2)).length, 10);
    // data written after a read is returned by the next read
    await q.put({ id: "k", i: 10 });
    assert.deepEqual((await r.get()).map((x) => x.i), [10]);
  });
});

Deno.test("queue: rank/worldSize assignment is disjoint and complete; bad values throw", async () => {
  await withSystem(async (system) => {
    const r0 = await queue.readQueue(system, "assign", { rank: 0, worldSize: 2 });
    const r1 = await queue.readQueue(system, "assign", { rank: 1, worldSize: 2 });
    assert.deepEqual(r0.bucketIds, [0, 2]);
    assert.deepEqual(r1.bucketIds, [1, 3]);
    assert.deepEqual(queue.assignBuckets(4, { rank: 0, worldSize: 3 }), [0, 3]);
    assert.deepEqual(queue.assignBuckets(4, { rank: 2, worldSize: 3 }), [2]);
    assert.deepEqual(queue.assignBuckets(4, { bucketId: 3 }), [3]);
    assert.deepEqual(queue.assignBuckets(4, { bucketIds: [3, 1, 3] }), [3, 1]);
    assert.deepEqual(queue.assignBuckets(4, {}), [0, 1, 2, 3]);
    await assert.rejects(
      () => queue.readQueue(system, "assign", { rank: 2, worldSize: 2 }),
      RangeError,
    );
    await assert.rejects(
      () => queue.readQueue(system, "assign", { rank: 0, worldSize: 0 }),
      RangeError,
    );
    await assert.rejects(() => queue.readQueue(system, "assign", { rank: 0 }), TypeError);
    await assert.rejects(() => queue.readQueue(system, "assign", { bucketId: 4 }), RangeError);
    await assert.rejects(() => queue.readQueue(system, "assign", { bucketIds: [] }), RangeError);
    await assert.rejects(() => queue.readQueue(system, "assign", { numBuckets: 0 }), RangeError);
    await assert.rejects(() => queue.writeQueue(system, "assign", { numBuckets: 1.5 }), RangeError);
    await assert.rejects(() => queue.writeQueue(system, "assign", { batchSize: 0 }), RangeError);
    await assert.rejects(() => queue.writeQueue(system, "a/b"), TypeError);
    await assert.rejects(() => queue.writeQueue(system, "x", { backend: "nope" }), (e) => {
      assert.ok(e instanceof PulsingBusinessError);
      assert.equal(e.code, 404);
      return true;
    });
  });
});

Deno.test("queue: readers partitioned by rank read every record exactly once", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "ranks", { numBuckets: 8 });
    const ids = Array.from({ length: 500 }, (_, i) => `id${i}`);
    await q.put(ids.map((id) => ({ id })));
    const seen: string[] = [];
    for (let rank = 0; rank < 3; rank++) {
      const r = await queue.readQueue(system, "ranks", { numBuckets: 8, rank, worldSize: 3 });
      seen.push(...(await drain(r)).map((x) => x.id as string));
    }
    assert.equal(seen.length, 500);
    assert.deepEqual(new Set(seen), new Set(ids));
  });
});

Deno.test("queue: get takes fair shares across buckets", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "fair", { numBuckets: 4 });
    const byBucket = new Map<number, string[]>();
    for (let i = 0; byBucket.size < 4 || [...byBucket.values()].some((v) => v.length < 50); i++) {
      const id = `f${i}`;
      const b = q.getBucketId(id);
      const list = byBucket.get(b) ?? [];
      if (list.length < 50) {
        list.push(id);
        byBucket.set(b, list);
      }
    }
    await q.put([...byBucket.values()].flat().map((id) => ({ id })));
    const r = await queue.readQueue(system, "fair");
    const got = await r.get({ limit: 40 });
    assert.equal(got.length, 40);
    const counts = [0, 0, 0, 0];
    for (const rec of got) counts[q.getBucketId(rec.id as string)]++;
    assert.deepEqual(counts, [10, 10, 10, 10]);
  });
});

Deno.test("queue: wait times out with [] and returns as soon as any bucket gets data", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "waiting", { numBuckets: 4 });
    const r = await queue.readQueue(system, "waiting");
    let t0 = performance.now();
    assert.deepEqual(await r.get({ wait: true, timeout: 500 }), []);
    assert.ok(performance.now() - t0 >= 400);
    // put to some bucket 100 ms from now; the reader watches all four at once
    const timer = setTimeout(() => q.put({ id: "late" }), 100);
    t0 = performance.now();
    const got = await r.get({ wait: true, timeout: 5_000 });
    clearTimeout(timer);
    assert.deepEqual(got, [{ id: "late" }]);
    assert.ok(performance.now() - t0 < 1_500, `took ${performance.now() - t0} ms`);
    // timeout 0 only looks
    assert.deepEqual(await r.get({ wait: true, timeout: 0 }), []);
    // an aborted wait rejects with the reason
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("enough")), 50);
    await assert.rejects(() => r.get({ wait: true, signal: ac.signal }), /enough/);
  });
});

Deno.test("queue: async iteration yields batches; batches() ends after its timeout", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "iter", { numBuckets: 2 });
    await q.put(Array.from({ length: 250 }, (_, i) => ({ id: i })));
    const r = await queue.readQueue(system, "iter", { numBuckets: 2 });
    let n = 0;
    for await (const batch of r.batches({ limit: 100, timeout: 100 })) {
      assert.ok(batch.length <= 100);
      n += batch.length;
    }
    assert.equal(n, 250);
    const r2 = await queue.readQueue(system, "iter", { numBuckets: 2 });
    let m = 0;
    for await (const batch of r2) {
      m += batch.length;
      if (m === 250) break;
    }
    assert.equal(m, 250);
  });
});

Deno.test("queue: a reader with other storage options than the bucket's is refused", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "mismatch", { numBuckets: 4 });
    await q.put([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }, { id: 6 }]);
    const r = await queue.readQueue(system, "mismatch", { numBuckets: 8 });
    await assert.rejects(() => r.get(), (e) => {
      assert.ok(e instanceof PulsingRuntimeError);
      assert.match(e.message, /numBuckets=4/);
      return true;
    });
  });
});

Deno.test("queue: a reader without numBuckets/backend takes them from the existing queue", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "found2", { numBuckets: 2 });
    await q.put(Array.from({ length: 20 }, (_, i) => ({ id: i })));
    const r = await queue.readQueue(system, "found2");
    assert.equal(r.numBuckets, 2);
    assert.deepEqual(r.bucketIds, [0, 1]);
    assert.equal((await drain(r)).length, 20);
    const r1 = await queue.readQueue(system, "found2", { rank: 1, worldSize: 2 });
    assert.deepEqual(r1.bucketIds, [1]);
    // the writer creates bucket 0 (it holds the queue's settings); readers find the count there
    const q3 = await queue.writeQueue(system, "found3", { numBuckets: 3 });
    let id = 0;
    while (q3.getBucketId(id) !== 1) id++;
    await q3.put({ id });
    assert.equal((await queue.readQueue(system, "found3")).numBuckets, 3);
    // no queue yet: the default
    assert.equal((await queue.readQueue(system, "not_there_yet")).numBuckets, 4);
  });
});

Deno.test("queue: a reader takes backend and storage path from an existing sqlite queue", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withSystem(async (system) => {
      const q = await queue.writeQueue(system, "found_sql", {
        numBuckets: 2,
        backend: "sqlite",
        storagePath: `${dir}/q`,
      });
      await q.put([{ id: "a" }, { id: "b" }, { id: "c" }]);
      const r = await queue.readQueue(system, "found_sql");
      assert.equal(r.numBuckets, 2);
      assert.equal((await drain(r)).length, 3);
      // explicit options that differ are still refused
      const bad = await queue.readQueue(system, "found_sql", { backend: "memory" });
      await assert.rejects(() => bad.get(), /backend "sqlite"/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue: close() ends a waiting get and an iteration at once, then refuses", async () => {
  await withSystem(async (system) => {
    const q = await queue.writeQueue(system, "closing", { numBuckets: 2 });
    await q.put({ id: 1 });
    const r = await queue.readQueue(system, "closing");
    assert.equal((await r.get()).length, 1);
    const waiting = r.get({ wait: true }); // no timeout: only close() can end it
    const batches: number[] = [];
    const r2 = await queue.readQueue(system, "closing");
    const iterating = (async () => {
      for await (const b of r2) batches.push(b.length);
    })();
    await new Promise((res) => setTimeout(res, 50));
    await r.close();
    await assert.rejects(waiting, (e) => {
      assert.ok(e instanceof PulsingRuntimeError);
      assert.match(e.message, /closed/);
      return true;
    });
    assert.ok(r.closed);
    await assert.rejects(() => r.get(), /closed/);
    await r2.close();
    await iterating; // ends without an error
    assert.deepEqual(batches, [1]);
  });
});

Deno.test("queue: pul.queue-style helpers work on the global system", async () => {
  await pul.init();
  try {
    const w = await queue.write("global_q", { bucketColumn: "id" });
    await w.put({ id: "u1", data: "hello" });
    await w.put(Array.from({ length: 10 }, (_, i) => ({ id: `b${i}` })));
    await w.flush();
    const r = await queue.read("global_q");
    assert.equal((await drain(r)).length, 11);
  } finally {
    await pul.shutdown();
  }
  await assert.rejects(() => queue.write("global_q"), PulsingRuntimeError);
});

Deno.test("queue: the bucket actor can be used directly", async () => {
  await withSystem(async (system) => {
    const b = await QueueBucketActor.spawn({
      system,
      name: "queues/direct/bucket_0",
      args: [{ topic: "direct", bucketId: 0, numBuckets: 1, backend: "memory" }],
    });
    assert.equal(await b.put({ id: 1 }), 0);
    assert.equal(await b.putBatch([{ id: 2 }, { id: 3 }]), 1);
    assert.deepEqual(await b.get(1, 10), [{ id: 2 }, { id: 3 }]);
    assert.equal(await b.totalCount(), 3);
    const s = await b.stats();
    assert.equal(s.totalCount, 3);
    assert.equal((await b.info()).config.topic, "direct");
    assert.equal(b.cancelWait !== undefined, true);
    // the queue API finds this bucket (same name)
    const r = await queue.readQueue(system, "direct", { numBuckets: 1 });
    assert.equal((await r.get()).length, 3);
  });
});

Deno.test("queue: a bucket whose backend cannot open fails the call and frees its name", async () => {
  let fail = true;
  queue.registerBackend("flaky", (o) => {
    if (fail) throw new Error("storage unavailable");
    return new MemoryBackend(o);
  }, { replace: true });
  try {
    await withSystem(async (system) => {
      const q = await queue.writeQueue(system, "flaky_q", { numBuckets: 1, backend: "flaky" });
      await assert.rejects(() => q.put({ id: 1 }), /storage unavailable/);
      fail = false;
      // the broken bucket stopped; the next put creates a working one
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) {
        try {
          await q.put({ id: 2 });
          ok = true;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      assert.ok(ok);
    });
  } finally {
    queue.unregisterBackend("flaky");
  }
});
