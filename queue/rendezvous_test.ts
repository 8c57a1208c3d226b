import assert from "node:assert/strict";
import { ownerOf, rankNodes } from "./rendezvous.ts";
import { bucketHash } from "./bucket_hash.ts";
import { PulsingRuntimeError } from "../core/errors.ts";

const nodes = (n: number): string[] => Array.from({ length: n }, (_, i) => `node-${i}`);
const keys = Array.from({ length: 10_000 }, (_, i) => `topic${i % 7}:bucket_${i}`);

function shuffle<T>(a: readonly T[]): T[] {
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [b[i], b[j]] = [b[j], b[i]];
  }
  return b;
}

Deno.test("ownerOf: the score is bucketHash([key, node]) and the highest wins", () => {
  const ns = nodes(5);
  for (const k of keys.slice(0, 200)) {
    const best = ns.reduce((a, b) => (bucketHash([k, b]) > bucketHash([k, a]) ? b : a));
    assert.equal(ownerOf(k, ns), best);
  }
  const ranked = rankNodes("k", ns);
  for (const r of ranked) assert.equal(r.score, bucketHash(["k", r.node]));
});

Deno.test("ownerOf: deterministic (fixed vector) and independent of order and duplicates", () => {
  const ns = nodes(6);
  // pinned: a change here moves buckets between nodes of a mixed-version cluster
  assert.equal(ownerOf("orders:bucket_0", ns), ownerOf("orders:bucket_0", [...ns]));
  const pinned = ["orders:bucket_0", "orders:bucket_1", "topic:events"].map((k) => ownerOf(k, ns));
  assert.deepEqual(pinned, ["node-1", "node-3", "node-1"]);
  for (const k of keys.slice(0, 2000)) {
    const o = ownerOf(k, ns);
    assert.equal(ownerOf(k, shuffle(ns)), o);
    assert.equal(ownerOf(k, [...ns, ...ns.slice(2)]), o);
  }
});

Deno.test("ownerOf: uniform within ±20% over 3, 5 and 10 nodes", () => {
  for (const n of [3, 5, 10]) {
    const ns = nodes(n);
    const counts = new Map<string, number>(ns.map((x) => [x, 0]));
    for (const k of keys) {
      const o = ownerOf(k, ns);
      counts.set(o, counts.get(o)! + 1);
    }
    const expected = keys.length / n;
    for (const [node, c] of counts) {
      assert.ok(Math.abs(c - expected) <= expected * 0.2, `${n} nodes, ${node}: ${c}`);
    }
  }
});

Deno.test("ownerOf: a joining node takes ≈1/(N+1) of the keys, only from others", () => {
  for (const n of [2, 4, 9]) {
    const before = nodes(n);
    const after = [...before, "newcomer"];
    let moved = 0;
    for (const k of keys) {
      const a = ownerOf(k, before), b = ownerOf(k, after);
      if (a !== b) {
        moved++;
        assert.equal(b, "newcomer"); // keys only ever move to the new node
      }
    }
    const expected = keys.length / (n + 1);
    assert.ok(Math.abs(moved - expected) <= expected * 0.2, `${n}→${n + 1}: moved ${moved}`);
  }
});

Deno.test("ownerOf: a leaving node's keys (≈1/N) move, no other key does", () => {
  for (const n of [3, 5, 10]) {
    const before = nodes(n);
    const gone = before[1];
    const after = before.filter((x) => x !== gone);
    let moved = 0;
    for (const k of keys) {
      const a = ownerOf(k, before), b = ownerOf(k, after);
      if (a !== b) {
        moved++;
        assert.equal(a, gone);
      } else {
        assert.notEqual(a, gone);
      }
    }
    const expected = keys.length / n;
    assert.ok(Math.abs(moved - expected) <= expected * 0.2, `${n}→${n - 1}: moved ${moved}`);
  }
});

Deno.test("ownerOf: empty node list is a clear PulsingRuntimeError; one node owns all", () => {
  assert.throws(() => ownerOf("q:bucket_0", []), PulsingRuntimeError);
  assert.throws(() => ownerOf("q:bucket_0", []), /No live node to own key "q:bucket_0"/);
  for (const k of keys.slice(0, 100)) assert.equal(ownerOf(k, ["solo"]), "solo");
});

Deno.test("ownerOf: numeric and bigint node ids; 1 and '1' are different nodes", () => {
  const numeric = [1, 2, 3, 4];
  const big = [1n, 2n, 3n, 4n];
  for (const k of keys.slice(0, 500)) assert.equal(BigInt(ownerOf(k, numeric)), ownerOf(k, big));
  let differ = 0;
  for (const k of keys.slice(0, 500)) {
    if (String(ownerOf(k, numeric)) !== ownerOf(k, ["1", "2", "3", "4"])) differ++;
  }
  assert.ok(differ > 100, `string ids should rank independently of numeric ones (${differ})`);
});

Deno.test("rankNodes: best first, fail-over order, duplicates once", () => {
  const ns = nodes(5);
  for (const k of keys.slice(0, 300)) {
    const ranked = rankNodes(k, [...ns, ns[0]]);
    assert.equal(ranked.length, 5);
    assert.equal(ranked[0].node, ownerOf(k, ns));
    for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].score > ranked[i].score);
    assert.equal(ranked[1].node, ownerOf(k, ns.filter((x) => x !== ranked[0].node)));
  }
  assert.deepEqual(rankNodes("k", []), []);
});
