import assert from "node:assert/strict";
import {
  assertNumBuckets,
  bucketHash,
  encodeBucketKey,
  getBucketId,
  type HashableKey,
  MAX_BUCKETS,
} from "./bucket_hash.ts";
import { Hash64 } from "./_hash64.ts";

/** A straightforward BigInt implementation of the documented algorithm, to check the fast one. */
function referenceHash(bytes: Uint8Array): bigint {
  const m = (1n << 64n) - 1n;
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & m;
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & m;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & m;
  h ^= h >> 33n;
  return h;
}

const hex = (v: HashableKey): string => bucketHash(v).toString(16).padStart(16, "0");

Deno.test("bucketHash: fixed vectors (the storage format: never change them)", () => {
  const vectors: [HashableKey, string][] = [
    ["", "fd1e2cc2f913e8f4"],
    ["1", "6f06b49092ca055d"],
    [1, "20555535918597bd"],
    ["u1", "e14def1248396998"],
    [null, "b9034ad37056f5fb"],
    [true, "5aec852590056221"],
    [false, "0d7cea42b5057e4c"],
    [1.5, "fa7d73a9fe13ce87"],
    [-1, "226f86eb67acf662"],
    [2n ** 70n, "ea11730060dfe8d4"],
    [-(2n ** 70n), "e29133d77643e8b2"],
    [new Uint8Array([1, 2, 3]), "3e53d993b3d6d5fc"],
    [["a", 1], "89fe4c20cf4064ec"],
    [NaN, "7a3421dfc6e85e56"],
    [Infinity, "7563a334663079da"],
    ["héllo 🚀", "66de7d4a0284de2d"],
    [2 ** 53, "516443e309cdfa5d"],
    [-(2 ** 63), "38a9b0a94e80406b"],
  ];
  for (const [value, expected] of vectors) assert.equal(hex(value), expected, String(value));
});

Deno.test("bucketHash: FNV-1a 64 core matches the published vectors", () => {
  const h = new Hash64();
  assert.deepEqual(h.raw(), [0xcbf29ce4, 0x84222325]); // offset basis = FNV-1a("")
  h.bytes(new TextEncoder().encode("a"));
  assert.deepEqual(h.raw(), [0xaf63dc4c, 0x8601ec8c]); // FNV-1a 64("a")
  const f = new Hash64();
  f.bytes(new TextEncoder().encode("foobar"));
  assert.deepEqual(f.raw(), [0x85944171, 0xf73967e8]); // FNV-1a 64("foobar")
});

Deno.test("bucketHash: 32-bit implementation equals the BigInt reference", () => {
  const values: HashableKey[] = [];
  for (let i = 0; i < 2000; i++) {
    values.push(`key-${i}-${Math.random()}`, i * 7919 - 5000, Math.random() * 1e9, [i, `x${i}`]);
    values.push(BigInt(i) * 123456789123456789n, new Uint8Array([i & 255, i >> 8]));
  }
  for (const v of values) assert.equal(bucketHash(v), referenceHash(encodeBucketKey(v)));
});

Deno.test("encodeBucketKey: canonical bytes", () => {
  assert.deepEqual([...encodeBucketKey("1")], [6, 0, 0, 0, 1, 49]);
  assert.deepEqual([...encodeBucketKey(1)], [3, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...encodeBucketKey(-1)], [3, 255, 255, 255, 255, 255, 255, 255, 255]);
  assert.deepEqual([...encodeBucketKey(null)], [0]);
  assert.deepEqual([...encodeBucketKey(undefined)], [0]);
  assert.deepEqual([...encodeBucketKey(true)], [2]);
  assert.deepEqual([...encodeBucketKey(0.5)], [4, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeBucketKey(2n ** 64n)], [5, 0, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeBucketKey(new Uint8Array([9]))], [7, 0, 0, 0, 1, 9]);
  assert.deepEqual([...encodeBucketKey(["é"])], [8, 0, 0, 0, 1, 6, 0, 0, 0, 2, 0xc3, 0xa9]);
  // lone surrogate: U+FFFD, like TextEncoder on every runtime
  assert.deepEqual([...encodeBucketKey("\ud800")], [6, 0, 0, 0, 3, 0xef, 0xbf, 0xbd]);
});

Deno.test("bucketHash: number and string never collide; equal integers do", () => {
  for (let i = 0; i < 1000; i++) assert.notEqual(bucketHash(i), bucketHash(String(i)));
  assert.notEqual(bucketHash(true), bucketHash("true"));
  assert.notEqual(bucketHash(null), bucketHash(""));
  assert.notEqual(bucketHash(null), bucketHash("null"));
  assert.notEqual(bucketHash(new Uint8Array([49])), bucketHash("1"));
  assert.notEqual(bucketHash(["a", "b"]), bucketHash(["ab"]));
  assert.notEqual(bucketHash([["a"], "b"]), bucketHash(["a", ["b"]]));
  assert.equal(bucketHash(1), bucketHash(1n));
  assert.equal(bucketHash(1), bucketHash(1.0));
  assert.equal(bucketHash(0), bucketHash(-0));
  assert.equal(bucketHash(2 ** 60), bucketHash(2n ** 60n));
  assert.equal(bucketHash(null), bucketHash(undefined));
  assert.equal(bucketHash(NaN), bucketHash(0 / 0));
});

Deno.test("getBucketId: uniform within ±20% over 4, 8 and 32 buckets for 10,000 keys", () => {
  const keySets: [string, HashableKey[]][] = [
    ["strings", Array.from({ length: 10_000 }, (_, i) => `user-${i}`)],
    ["integers", Array.from({ length: 10_000 }, (_, i) => i)],
    ["uuids", Array.from({ length: 10_000 }, () => crypto.randomUUID())],
    ["single chars and short", Array.from({ length: 10_000 }, (_, i) => i.toString(36))],
  ];
  for (const [label, keys] of keySets) {
    for (const n of [4, 8, 32]) {
      const counts = new Array<number>(n).fill(0);
      for (const k of keys) counts[getBucketId(k, n)]++;
      const expected = keys.length / n;
      for (const c of counts) {
        assert.ok(
          Math.abs(c - expected) <= expected * 0.2,
          `${label}, ${n} buckets: ${counts.join(",")}`,
        );
      }
    }
  }
});

Deno.test("getBucketId: equals bucketHash % numBuckets, stable, in range", () => {
  for (const n of [1, 2, 3, 4, 7, 1000, 65_537, MAX_BUCKETS]) {
    for (let i = 0; i < 300; i++) {
      const k = `k${i}`;
      const id = getBucketId(k, n);
      assert.equal(id, Number(bucketHash(k) % BigInt(n)));
      assert.ok(id >= 0 && id < n);
      assert.equal(getBucketId(k, n), id);
    }
  }
});

Deno.test("getBucketId: bad numBuckets is a RangeError, bad key a TypeError", () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity, MAX_BUCKETS + 1]) {
    assert.throws(() => getBucketId("x", bad), RangeError);
    assert.throws(() => assertNumBuckets(bad), /numBuckets must be an integer/);
  }
  assert.throws(() => getBucketId({ a: 1 } as unknown as HashableKey, 4), TypeError);
  assert.throws(() => bucketHash(Symbol("s") as unknown as HashableKey), TypeError);
  assert.throws(() => bucketHash([new Date()] as unknown as HashableKey), /Date/);
});
