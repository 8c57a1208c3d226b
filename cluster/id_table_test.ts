import assert from "node:assert/strict";
import { IdTable } from "./id_table.ts";

Deno.test("IdTable behaves like a Map under churn, collisions, growth and wrap-around", () => {
  const t = new IdTable<number>();
  const m = new Map<number, number>();
  let seed = 12345;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  let next = 0xfffffff0; // ids wrap past 2^32 - 2 like the RPC layer's
  const live: number[] = [];
  for (let step = 0; step < 50_000; step++) {
    const op = rnd(10);
    if (op < 5 || live.length === 0) {
      const id = next;
      next = next >= 0xfffffffe ? 1 : next + 1;
      t.set(id, step);
      m.set(id, step);
      live.push(id);
    } else if (op < 9) {
      // mostly the oldest, sometimes any: some requests stay long and collide later
      const k = rnd(4) === 0 ? rnd(live.length) : 0;
      const [id] = live.splice(k, 1);
      assert.equal(t.delete(id), m.delete(id));
      assert.equal(t.delete(id), false);
    } else {
      const id = live[rnd(live.length)];
      t.set(id, -step); // overwrite
      m.set(id, -step);
    }
    if (step % 997 === 0) {
      assert.equal(t.size, m.size);
      for (const [id, v] of m) assert.equal(t.get(id), v);
      assert.deepEqual(
        t.entries().sort((a, b) => a[0] - b[0]),
        [...m.entries()].sort((a, b) => a[0] - b[0]),
      );
    }
  }
  assert.equal(t.size, m.size);
  assert.equal(t.has(0xffffffff), false);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.get(live[0]), undefined);
});

Deno.test("IdTable: ids that all collide (a hostile peer) still work, through the overflow", () => {
  const t = new IdTable<string>();
  for (let i = 0; i < 300; i++) t.set(i * 65536, `v${i}`);
  assert.equal(t.size, 300);
  for (let i = 0; i < 300; i++) assert.equal(t.get(i * 65536), `v${i}`);
  for (let i = 0; i < 300; i += 2) assert.equal(t.delete(i * 65536), true);
  assert.equal(t.size, 150);
  assert.equal(t.values().length, 150);
  assert.equal(t.get(65536), "v1");
  assert.equal(t.get(0), undefined);
});
