import assert from "node:assert/strict";
import { DataWaiters } from "./data_waiters.ts";

function log(): { items: number[]; waiters: DataWaiters; append(n?: number): void } {
  const items: number[] = [];
  const waiters = new DataWaiters(() => items.length);
  return {
    items,
    waiters,
    append(n = 1) {
      for (let i = 0; i < n; i++) items.push(items.length);
      waiters.notify();
    },
  };
}

Deno.test("DataWaiters: data already there resolves true at once", async () => {
  const l = log();
  l.append(3);
  assert.equal(await l.waiters.wait(2), true);
  assert.equal(l.waiters.size, 0);
});

Deno.test("DataWaiters: notify wakes exactly the waiters whose offset now has data", async () => {
  const l = log();
  const w0 = l.waiters.wait(0);
  const w2 = l.waiters.wait(2, { timeout: 50 });
  assert.equal(l.waiters.size, 2);
  l.append(1);
  assert.equal(await w0, true);
  assert.equal(l.waiters.size, 1);
  assert.equal(await w2, false); // offset 2 never came
  assert.equal(l.waiters.size, 0);
});

Deno.test("DataWaiters: timeout resolves false, no earlier than asked", async () => {
  const l = log();
  const t0 = performance.now();
  assert.equal(await l.waiters.wait(0, { timeout: 100 }), false);
  assert.ok(performance.now() - t0 >= 90);
  assert.equal(await l.waiters.wait(0, { timeout: 0 }), false); // 0 = only look
  assert.equal(l.waiters.size, 0);
});

Deno.test("DataWaiters: abort rejects with the reason and leaves no waiter", async () => {
  const l = log();
  const ac = new AbortController();
  const w = l.waiters.wait(0, { signal: ac.signal, timeout: 10_000 });
  ac.abort(new Error("stop"));
  await assert.rejects(w, /stop/);
  assert.equal(l.waiters.size, 0);
  await assert.rejects(l.waiters.wait(0, { signal: ac.signal }), /stop/); // already aborted
  await assert.rejects(l.waiters.wait(0, { signal: AbortSignal.timeout(20) }), {
    name: "TimeoutError",
  });
  assert.equal(l.waiters.size, 0);
});

Deno.test("DataWaiters: close resolves pending and future waits with false", async () => {
  const l = log();
  const w = l.waiters.wait(0);
  l.waiters.close();
  assert.equal(await w, false);
  assert.equal(await l.waiters.wait(0), false);
  assert.equal(l.waiters.closed, true);
  assert.equal(l.waiters.size, 0);
});

Deno.test("DataWaiters: many waiters, one notify", async () => {
  const l = log();
  const ws = Array.from({ length: 1000 }, (_, i) => l.waiters.wait(i % 10));
  l.append(10);
  assert.deepEqual(new Set(await Promise.all(ws)), new Set([true]));
  assert.equal(l.waiters.size, 0);
});
