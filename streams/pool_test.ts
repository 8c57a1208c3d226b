import assert from "node:assert/strict";
import { BytePool } from "./pool.ts";

Deno.test("BytePool: a given-back buffer is detached and its memory reused at the same size", () => {
  const pool = new BytePool();
  const a = pool.take(100_000);
  a[7] = 9;
  const view = a.subarray(10, 20);
  assert.equal(pool.give(a), true);
  assert.equal(a.byteLength, 0);
  assert.equal(view.byteLength, 0, "every view of the lent memory is detached");
  assert.equal(pool.freeBytes, 100_000);
  const other = pool.take(100_001);
  assert.equal(other[7], 0, "another size is a fresh allocation");
  const b = pool.take(100_000);
  assert.equal(b[7], 9, "same size: the same memory");
  assert.equal(pool.reused, 1);
  assert.equal(pool.freeBytes, 0);
});

Deno.test("BytePool: foreign, small and double gives are refused; caps hold", () => {
  const pool = new BytePool({ maxBytes: 300_000, maxPerSize: 2 });
  const foreign = new Uint8Array(100_000);
  assert.equal(pool.give(foreign), false);
  assert.equal(foreign.byteLength, 100_000, "a foreign buffer is left alone");
  const small = pool.take(100);
  assert.equal(pool.give(small), false);
  assert.equal(small.byteLength, 100);
  const bufs = [pool.take(100_000), pool.take(100_000), pool.take(100_000)];
  assert.equal(pool.give(bufs[0]), true);
  assert.equal(pool.give(bufs[0]), false, "given twice");
  assert.equal(pool.give(bufs[1]), true);
  assert.equal(pool.give(bufs[2]), false, "over maxPerSize");
  assert.equal(bufs[2].byteLength, 0, "detached even when the pool is full");
  const big = pool.take(200_000);
  assert.equal(pool.give(big), false, "over maxBytes");
  assert.equal(pool.freeBytes, 200_000);
  pool.clear();
  assert.equal(pool.freeBytes, 0);
});

Deno.test("BytePool: a big size gets a spare prepared after the macrotask; beyond the cap, none", async () => {
  const pool = new BytePool({ prefillMinBytes: 300_000, prefillMaxBytes: 1_000_000 });
  // the spare is made after the current macrotask; a busy loop can run timers first, so wait for
  // it (bounded) rather than for a fixed time
  const spareOf = async (bytes: number) => {
    for (let i = 0; i < 500 && pool.freeBytes !== bytes; i++) {
      await new Promise((r) => setTimeout(r, 2));
    }
    return pool.freeBytes;
  };
  const a = pool.take(400_000);
  assert.equal(pool.freeBytes, 0, "prepared later, not on the taking path");
  assert.equal(await spareOf(400_000), 400_000);
  const b = pool.take(400_000);
  assert.equal(pool.reused, 1, "the next message of that size takes the spare");
  assert.notEqual(a.buffer, b.buffer);
  assert.equal(b.length, 400_000);
  assert.equal(await spareOf(400_000), 400_000, "and a new spare follows");
  pool.take(200_000); // below prefillMinBytes
  pool.take(2_000_000); // above prefillMaxBytes
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(pool.freeBytes, 400_000);
  pool.clear();
});
