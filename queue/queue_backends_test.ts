import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import type { ActorSystem } from "../core/system.ts";
import * as queue from "./mod.ts";
import { MemoryBackend } from "./memory_backend.ts";
import type { QueueRecord } from "./backend.ts";
import { drain } from "./_test_helpers.ts";

Deno.test("queue backends: memory is the default; a registered alias works through the queue API", async () => {
  assert.deepEqual(queue.listBackends().slice(0, 2), ["memory", "sqlite"]);
  class Tagged extends MemoryBackend {
    override put(r: QueueRecord) {
      return super.put({ ...r, tagged: true });
    }
    override putBatch(rs: readonly QueueRecord[]) {
      return super.putBatch(rs.map((r) => ({ ...r, tagged: true })));
    }
  }
  queue.registerBackend("tagged", Tagged, { replace: true });
  const system = await pul.actorSystem();
  try {
    assert.ok(queue.listBackends().includes("tagged"));
    const q = await queue.writeQueue(system, "alias", { backend: "tagged", numBuckets: 2 });
    await q.put([{ id: 1 }, { id: 2 }]);
    const r = await queue.readQueue(system, "alias", { backend: "tagged", numBuckets: 2 });
    const got = await drain(r);
    assert.equal(got.length, 2);
    assert.ok(got.every((x) => x.tagged === true));
    const d = await queue.writeQueue(system, "default_backend");
    assert.equal(d.backend, "memory");
    await d.put({ id: "x" });
    assert.equal((await d.stats()).buckets[d.getBucketId("x")].backend, "memory");
  } finally {
    await system.shutdown();
    queue.unregisterBackend("tagged");
  }
});

Deno.test("queue backends: sqlite through the queue API survives a restart on the same storagePath", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulsing_q_" });
  try {
    const opts = { backend: "sqlite", storagePath: dir, numBuckets: 3 };
    let system: ActorSystem = await pul.actorSystem();
    const q = await queue.writeQueue(system, "durable", opts);
    const records = Array.from(
      { length: 300 },
      (_, i) => ({ id: `r${i}`, n: i, bytes: "x".repeat(i % 7) }),
    );
    await q.put(records.slice(0, 200));
    for (const r of records.slice(200)) await q.put(r);
    await q.flush();
    const st = await q.stats();
    const persisted = Object.values(st.buckets).reduce((n, b) => n + b.persistedCount, 0);
    assert.equal(persisted, 300);
    await system.shutdown(); // closes the buckets: the sqlite files are released

    system = await pul.actorSystem();
    try {
      const r = await queue.readQueue(system, "durable", opts);
      const back = await drain(r);
      assert.equal(back.length, 300);
      assert.deepEqual(
        new Set(back.map((x) => x.id)),
        new Set(records.map((x) => x.id)),
      );
      // per-bucket order survived
      for (const b of r.bucketIds) {
        const inBucket = back.filter((x) => q.getBucketId(x.id as string) === b).map((x) => x.n);
        assert.deepEqual(inBucket, [...inBucket].sort((a, b) => (a as number) - (b as number)));
      }
      // appending after the restart continues the offsets
      const q2 = await queue.writeQueue(system, "durable", opts);
      const res = await q2.put({ id: "r0", n: 300 });
      assert.ok(res.offset > 0);
      assert.deepEqual(await r.get(), [{ id: "r0", n: 300 }]);
    } finally {
      await system.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue backends: distributed consumption and concurrent writers (memory)", async () => {
  const system = await pul.actorSystem();
  try {
    const writers = await Promise.all(
      [0, 1, 2, 3].map(() => queue.writeQueue(system, "conc", { numBuckets: 4 })),
    );
    await Promise.all(
      writers.map((w, k) =>
        Promise.all(Array.from({ length: 50 }, (_, i) => w.put({ id: `w${k}_${i}`, k, i })))
      ),
    );
    const seen = new Set<string>();
    for (let rank = 0; rank < 2; rank++) {
      const r = await queue.readQueue(system, "conc", { rank, worldSize: 2 });
      for (const rec of await drain(r)) {
        assert.ok(!seen.has(rec.id as string), `duplicate ${rec.id}`);
        seen.add(rec.id as string);
      }
    }
    assert.equal(seen.size, 200);
    // each writer's per-bucket order is its put order
    const all = await drain(await queue.readQueue(system, "conc", { bucketId: 0 }));
    for (let k = 0; k < 4; k++) {
      const is = all.filter((r) => r.k === k).map((r) => r.i as number);
      assert.deepEqual(is, [...is].sort((a, b) => a - b));
    }
  } finally {
    await system.shutdown();
  }
});
