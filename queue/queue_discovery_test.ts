/**
 * A writer that does not name `numBuckets` or `backend` takes the existing queue's; one that
 * names other values than the queue's is refused with an error naming both; writers opening a
 * new queue at the same time agree (bucket 0 holds the queue's configuration).
 */
import assert from "node:assert/strict";
import { PulsingRuntimeError } from "../core/errors.ts";
import * as pul from "../mod.ts";
import * as queue from "./mod.ts";
import { getBucketId } from "./bucket_hash.ts";
import { QueueBucketActor } from "./bucket_actor.ts";
import { drain, withSystem } from "./_test_helpers.ts";
import { withCluster } from "../tests/_cluster.ts";

/** Assert that `p` rejects with the configuration error naming both values. */
async function rejectsMismatch(p: Promise<unknown>, have: string, want: string): Promise<void> {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof PulsingRuntimeError, String(e));
    assert.ok(e.message.includes(have), e.message);
    assert.ok(e.message.includes(want), e.message);
    return true;
  });
}

Deno.test("queue discovery: a writer without numBuckets takes the queue's (8), hashes with it", async () => {
  await withSystem(async (system) => {
    const a = await queue.writeQueue(system, "disc8", { numBuckets: 8 });
    await a.put(Array.from({ length: 20 }, (_, i) => ({ id: `a${i}` })));
    const b = await queue.writeQueue(system, "disc8");
    assert.equal(b.numBuckets, 8);
    assert.equal(b.backend, "memory");
    const ids = Array.from({ length: 40 }, (_, i) => `b${i}`);
    const put = await b.put(ids.map((id) => ({ id })));
    put.forEach((r, i) => assert.equal(r.bucketId, getBucketId(ids[i], 8)));
    assert.ok(new Set(put.map((r) => r.bucketId)).size > 4, "some bucket >= 4 was used");
    for (const id of ids) assert.equal(b.getBucketId(id), getBucketId(id, 8));

    const all = await drain(await queue.readQueue(system, "disc8"));
    assert.equal(all.length, 60);
    assert.equal(new Set(all.map((r) => r.id)).size, 60);
    // each record is in the bucket that 8 buckets give it
    for (let bucket = 0; bucket < 8; bucket++) {
      const r = await queue.readQueue(system, "disc8", { bucketId: bucket });
      for (const rec of await drain(r)) assert.equal(getBucketId(rec.id as string, 8), bucket);
    }
  });
});

Deno.test("queue discovery: a given numBuckets or backend that differs is refused at open", async () => {
  await withSystem(async (system) => {
    // refused even before any record was written: bucket 0 holds the configuration
    await queue.writeQueue(system, "disc_conf", { numBuckets: 8 });
    await rejectsMismatch(
      queue.writeQueue(system, "disc_conf", { numBuckets: 4 }),
      "numBuckets=8",
      "numBuckets=4",
    );
    await rejectsMismatch(
      queue.writeQueue(system, "disc_conf", { backend: "sqlite" }),
      'backend "memory"',
      'backend "sqlite"',
    );
    // the same values given explicitly are fine
    assert.equal((await queue.writeQueue(system, "disc_conf", { numBuckets: 8 })).numBuckets, 8);
  });
});

Deno.test("queue discovery: a new queue without numBuckets gets 4 and memory, as before", async () => {
  await withSystem(async (system) => {
    assert.equal(await queue.discoverQueue(system, "disc_new"), undefined);
    const q = await queue.writeQueue(system, "disc_new");
    assert.equal(q.numBuckets, 4);
    assert.equal(q.backend, "memory");
    const found = await queue.discoverQueue(system, "disc_new");
    assert.equal(found?.numBuckets, 4);
    assert.equal(found?.bucketId, 0);
    await q.put({ id: "x" });
    assert.equal((await queue.readQueue(system, "disc_new")).numBuckets, 4);
    // a later explicit writer with other values is refused
    await rejectsMismatch(
      queue.writeQueue(system, "disc_new", { numBuckets: 2 }),
      "numBuckets=4",
      "numBuckets=2",
    );
  });
});

Deno.test("queue discovery: a writer without backend takes the queue's sqlite and storage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pulsing_disc_" });
  try {
    await withSystem(async (system) => {
      const a = await queue.writeQueue(system, "disc_sql", {
        numBuckets: 2,
        backend: "sqlite",
        storagePath: `${dir}/q`,
      });
      await a.put([{ id: "a1" }, { id: "a2" }]);
      const b = await queue.writeQueue(system, "disc_sql");
      assert.equal(b.backend, "sqlite");
      assert.equal(b.numBuckets, 2);
      assert.equal(b.storagePath, `${dir}/q`);
      await b.put([{ id: "b1" }, { id: "b2" }, { id: "b3" }]);
      await b.flush();
      const all = await drain(await queue.readQueue(system, "disc_sql"));
      assert.deepEqual(all.map((r) => r.id).sort(), ["a1", "a2", "b1", "b2", "b3"]);
      // naming the backend but not numBuckets: the queue's numBuckets
      const c = await queue.writeQueue(system, "disc_sql", { backend: "sqlite" });
      assert.equal(c.numBuckets, 2);
      assert.equal(c.storagePath, `${dir}/q`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue discovery: without bucket 0, a writer takes another bucket's values and re-creates bucket 0 with them", async () => {
  await withSystem(async (system) => {
    await QueueBucketActor.spawn({
      system,
      name: "queues/disc_b1/bucket_1",
      args: [{ topic: "disc_b1", bucketId: 1, numBuckets: 3, backend: "memory" }],
    });
    await rejectsMismatch(
      queue.writeQueue(system, "disc_b1", { numBuckets: 5 }),
      "numBuckets=3",
      "numBuckets=5",
    );
    const q = await queue.writeQueue(system, "disc_b1");
    assert.equal(q.numBuckets, 3);
    const zero = await system.resolve("queues/disc_b1/bucket_0");
    const info = await zero.call("info", []) as queue.BucketInfo;
    assert.equal(info.config.numBuckets, 3);
  });
});

Deno.test({
  name:
    "queue discovery: writers on two nodes opening a new queue at once agree, or the explicit one is refused",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  // two networked systems: each has its own client cache, so their bucket-0 creations really
  // race, and only the home node's refusal of a second one decides
  const a = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  const b = await pul.actorSystem({ addr: "127.0.0.1:0", seeds: [a.addr!], logger: () => {} });
  try {
    for (let i = 0; i < 200 && (await a.members()).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await a.members()).length, 2);
    let agreedOn8 = 0;
    let refused = 0;
    for (let round = 0; round < 20; round++) {
      const topic = `disc_race_${round}`;
      // the explicit writer and the discovering ones on different nodes, in both start orders
      const opens = [
        () => queue.writeQueue(round % 2 ? a : b, topic, { numBuckets: 8 }),
        () => queue.writeQueue(round % 2 ? b : a, topic),
        () => queue.writeQueue(b, topic),
      ];
      if (round % 2 === 1) opens.reverse();
      const results = await Promise.allSettled(opens.map((open) => open()));
      const queueOf = (await queue.discoverQueue(a, topic))!.numBuckets;
      for (const r of results) {
        if (r.status === "fulfilled") {
          assert.equal(r.value.numBuckets, queueOf, `round ${round}`);
        } else {
          // only the explicit writer may fail, and only when the queue has the default
          assert.equal(queueOf, 4, `round ${round}`);
          assert.ok(r.reason instanceof PulsingRuntimeError);
          assert.match(r.reason.message, /numBuckets=4 .*numBuckets=8/);
        }
      }
      const explicit = results[round % 2 === 1 ? 2 : 0];
      assert.equal(explicit.status === "fulfilled", queueOf === 8, `round ${round}`);
      if (queueOf === 8) agreedOn8++;
      else refused++;
    }
    console.log(`  20 races: ${agreedOn8} ended on the explicit 8, ${refused} refused it`);
  } finally {
    await b.shutdown();
    await a.shutdown();
  }
});

Deno.test({
  name: "queue discovery: across processes, a writer on another node takes the queue's values",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster(2, async ([a, b]) => {
      const USE = `const queue = await import(${
        JSON.stringify(new URL("./mod.ts", import.meta.url).href)
      });`;
      await a.run(
        `${USE}
        const q = await queue.write("disc_x", { system, numBuckets: 8 });
        await q.put(Array.from({ length: 30 }, (_, i) => ({ id: "a" + i })));
        return true;`,
        30_000,
      );
      const fromB = await b.run<{ n: number; ok: boolean; error: string }>(
        `${USE}
        const q = await queue.write("disc_x", { system });
        const ids = Array.from({ length: 30 }, (_, i) => "b" + i);
        const put = await q.put(ids.map((id) => ({ id })));
        const ok = put.every((r, i) => r.bucketId === queue.getBucketId(ids[i], 8));
        const error = await queue.write("disc_x", { system, numBuckets: 4 })
          .then(() => "", (e) => e.name + ": " + e.message);
        return { n: q.numBuckets, ok, error };`,
        30_000,
      );
      assert.equal(fromB.n, 8);
      assert.ok(fromB.ok);
      assert.match(fromB.error, /^PulsingRuntimeError: .*numBuckets=8.*numBuckets=4/);
      const read = await a.run<number>(
        `${USE}
        const r = await queue.read("disc_x", { system });
        let n = 0;
        for (;;) { const got = await r.get({ limit: 1000 }); if (!got.length) return n; n += got.length; }`,
        30_000,
      );
      assert.equal(read, 60);
    }),
});
