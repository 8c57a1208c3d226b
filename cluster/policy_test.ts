import assert from "node:assert/strict";
import {
  ConsistentHashPolicy,
  hash32,
  PowerOfTwoPolicy,
  RandomPolicy,
  RoundRobinPolicy,
} from "./policy.ts";
import type { NamedInstance } from "../core/system.ts";

function inst(ids: string[], inFlight: number[] = []): NamedInstance[] {
  return ids.map((nodeId, i) => ({ nodeId, actorId: `a${i}`, inFlight: inFlight[i] ?? 0 }));
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test("round robin: each instance in turn; reset starts over", () => {
  const p = new RoundRobinPolicy();
  const xs = inst(["a", "b", "c"]);
  assert.deepEqual([0, 1, 2, 3, 4].map(() => p.select(xs)), [0, 1, 2, 0, 1]);
  p.reset();
  assert.equal(p.select(xs), 0);
  // the list shrinking keeps the index in range
  assert.ok(p.select(inst(["a"])) === 0);
});

Deno.test("random: in range and roughly uniform", () => {
  const p = new RandomPolicy(seeded(1));
  const xs = inst(["a", "b", "c", "d"]);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[p.select(xs)]++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `uneven: ${counts}`);
  assert.equal(new RandomPolicy(() => 0.999999).select(xs), 3);
});

Deno.test("power of two: never picks the more loaded of the pair; spreads load", () => {
  const p = new PowerOfTwoPolicy(seeded(2));
  // a hot node is never chosen: it always loses against the other (distinct) draw
  const hot = inst(["a", "b", "c", "d"], [50, 0, 0, 0]);
  for (let i = 0; i < 500; i++) assert.notEqual(p.select(hot), 0);
  assert.equal(p.select(inst(["only"])), 0);
  // simulated in-flight accounting: keep choosing and adding load; the spread stays tight
  const load = [0, 0, 0, 0, 0];
  for (let i = 0; i < 1000; i++) {
    const xs = inst(["a", "b", "c", "d", "e"], load);
    load[p.select(xs)]++;
  }
  assert.ok(Math.max(...load) - Math.min(...load) <= 3, `spread ${load}`);
});

Deno.test("consistent hash: same key same node, order-independent, ~1/N keys move", () => {
  const p = new ConsistentHashPolicy();
  const ids = Array.from({ length: 10 }, (_, i) => `node-${i}`);
  const keys = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
  const before = keys.map((k) => p.owner(ids, k));
  // order of the instance list does not matter
  const xs = inst(ids);
  const rev = [...xs].reverse();
  for (const k of keys.slice(0, 200)) {
    assert.equal(xs[p.select(xs, k)].nodeId, rev[p.select(rev, k)].nodeId);
  }
  // balance: each of 10 nodes owns 5%..15% of the keys
  const share = new Map<string, number>();
  for (const o of before) share.set(o, (share.get(o) ?? 0) + 1);
  for (const id of ids) {
    const n = share.get(id) ?? 0;
    assert.ok(n > 250 && n < 750, `${id} owns ${n} of 5000`);
  }
  // a node leaves: only its keys move, all to other nodes
  const gone = ids.filter((id) => id !== "node-3");
  let moved = 0;
  keys.forEach((k, i) => {
    const now = p.owner(gone, k);
    if (now !== before[i]) {
      moved++;
      assert.equal(before[i], "node-3", "a key of a surviving node moved");
    }
  });
  assert.equal(moved, share.get("node-3"));
  // a node joins: only ~1/11 of the keys move, all to the new node
  const more = [...ids, "node-new"];
  let movedIn = 0;
  keys.forEach((k, i) => {
    const now = p.owner(more, k);
    if (now !== before[i]) {
      movedIn++;
      assert.equal(now, "node-new");
    }
  });
  assert.ok(movedIn > 5000 / 11 / 2 && movedIn < 5000 / 11 * 2, `moved ${movedIn}`);
  assert.throws(() => new ConsistentHashPolicy({ virtualNodes: 0 }), TypeError);
});

Deno.test("hash32: stable values", () => {
  assert.equal(hash32("a"), hash32("a"));
  assert.notEqual(hash32("a"), hash32("b"));
  assert.ok(hash32("") >= 0 && hash32("x".repeat(1000)) < 2 ** 32);
});
