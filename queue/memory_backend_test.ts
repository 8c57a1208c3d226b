import assert from "node:assert/strict";
import { createMemoryBackend, MemoryBackend } from "./memory_backend.ts";

Deno.test("memory: stats report everything as buffered, nothing persisted", async () => {
  const b = createMemoryBackend({ bucketId: 3, storagePath: "/ignored", batchSize: 10 });
  await b.putBatch([{ a: 1 }, { a: 2 }]);
  await b.flush(); // no-op
  assert.deepEqual(await b.stats(), {
    bucketId: 3,
    backend: "memory",
    totalCount: 2,
    bufferSize: 2,
    persistedCount: 0,
  });
});

Deno.test("memory: records are kept as given, and reads are non-destructive", async () => {
  const b = new MemoryBackend();
  assert.equal(b.bucketId, 0);
  const r = { id: "x", payload: new Uint8Array(1024) };
  await b.put(r);
  const [a] = await b.get(0, 1);
  const [again] = await b.get(0, 1);
  assert.equal(a, r); // no copy: zero cost, do not mutate after put
  assert.equal(again, r);
});

Deno.test("memory: a waiter is woken by put without polling", async () => {
  const b = new MemoryBackend();
  const woken: number[] = [];
  const waits = [0, 1, 2].map((o) => b.waitForData(o).then(() => woken.push(o)));
  await b.put({ i: 0 });
  await Promise.resolve();
  await b.putBatch([{ i: 1 }, { i: 2 }]);
  await Promise.all(waits);
  assert.deepEqual(woken, [0, 1, 2]);
});

Deno.test("memory: close drops the records", async () => {
  const b = new MemoryBackend();
  await b.put({ i: 0 });
  await b.close();
  assert.equal(b.totalCount(), 0);
  await assert.rejects(b.flush(), /closed/);
});
