/**
 * The bucket hash of the distributed queue: which bucket a record goes to, from the value of
 * its bucket column.
 *
 * The hash is part of the storage format: a record written by one node (Deno, Node or a
 * browser, this version or a later one) must land in the bucket where every other node looks
 * for it. So it is a fixed algorithm on a canonical byte encoding of the value, written here in
 * plain 32-bit arithmetic, and pinned by test vectors (`bucket_hash_test.ts`).
 *
 * ## Canonical encoding ({@linkcode encodeBucketKey})
 *
 * One type tag byte, then the payload; all integers big-endian.
 *
 * | value | tag | payload |
 * |---|---|---|
 * | `null`, `undefined` | `0x00` | none |
 * | `false` / `true` | `0x01` / `0x02` | none |
 * | integer in [-2^63, 2^63) — a `number` with no fraction, or a `bigint` | `0x03` | 8 bytes, two's complement |
 * | other `number` (fraction, ±Infinity, NaN) | `0x04` | 8 bytes IEEE 754 binary64; every NaN as `7ff8000000000000` |
 * | `bigint` outside int64 | `0x05` | sign byte (0 = +, 1 = −), u32 length, magnitude bytes (minimal) |
 * | `string` | `0x06` | u32 byte length, UTF-8 (a lone surrogate encodes as U+FFFD, as `TextEncoder` does) |
 * | `Uint8Array` | `0x07` | u32 length, the bytes |
 * | array | `0x08` | u32 element count, each element encoded in turn |
 *
 * Consequences: `1` and `"1"` never collide (different tags), while `1`, `1.0`, `1n` and `-0`/`0`
 * are the same key (they are the same integer, and survive a trip through msgpack or JSON
 * that turns one into the other). `null` and `undefined` are one key. Objects, symbols and
 * functions have no canonical form: {@linkcode TypeError}.
 *
 * ## Hash ({@linkcode bucketHash})
 *
 * FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`) over the encoding, then
 * MurmurHash3's `fmix64` finalizer (`k ^= k >>> 33; k *= 0xff51afd7ed558ccd; k ^= k >>> 33;
 * k *= 0xc4ceb9fe1a85ec53; k ^= k >>> 33`), all mod 2^64. The finalizer matters: the low bits of
 * plain FNV-1a depend only on the low bits of each input byte, so `hash % 4` alone would put
 * `"a"` and `"e"` in the same bucket.
 *
 * ## Bucket ({@linkcode getBucketId})
 *
 * `bucketHash(value) % numBuckets`, with `numBuckets` an integer in `[1, 2^26]`.
 *
 * Test vectors (`bucketHash`, hex):
 *
 * | value | hash |
 * |---|---|
 * | `""` | `fd1e2cc2f913e8f4` |
 * | `"1"` | `6f06b49092ca055d` |
 * | `1` | `20555535918597bd` |
 * | `"u1"` | `e14def1248396998` |
 * | `null` | `b9034ad37056f5fb` |
 * | `["a", 1]` | `89fe4c20cf4064ec` |
 * | `"héllo 🚀"` | `66de7d4a0284de2d` |
 *
 * @module
 */

import { ByteWriter, encodeKeyInto, type HashableKey, hashKey, toBigInt } from "./_hash64.ts";

export type { HashableKey } from "./_hash64.ts";

/** The largest accepted number of buckets (2^26). */
export const MAX_BUCKETS: number = 2 ** 26;

const TWO_32 = 4294967296;

/**
 * The canonical byte encoding of a bucket key (the input of {@linkcode bucketHash}).
 *
 * @param value The key.
 * @returns Its encoding: a type tag byte then the payload (see the module doc).
 * @throws {TypeError} If the value is an object (other than an array or `Uint8Array`), a symbol
 * or a function.
 *
 * @example
 * ```ts
 * import { encodeBucketKey } from "./bucket_hash.ts";
 * console.log(encodeBucketKey("1")); // Uint8Array [6, 0, 0, 0, 1, 49]
 * console.log(encodeBucketKey(1));   // Uint8Array [3, 0, 0, 0, 0, 0, 0, 0, 1]
 * ```
 */
export function encodeBucketKey(value: HashableKey): Uint8Array {
  const w = new ByteWriter();
  encodeKeyInto(w, value);
  return w.result();
}

/**
 * The stable 64-bit hash of a bucket key.
 *
 * @param value The key (the value of the record's bucket column).
 * @returns An unsigned 64-bit integer.
 * @throws {TypeError} If the value has no canonical encoding (see {@linkcode encodeBucketKey}).
 *
 * @example
 * ```ts
 * import { bucketHash } from "./bucket_hash.ts";
 * console.log(bucketHash("1").toString(16)); // "6f06b49092ca055d"
 * console.log(bucketHash(1) !== bucketHash("1")); // true
 * ```
 */
export function bucketHash(value: HashableKey): bigint {
  const [hi, lo] = hashKey(value);
  return toBigInt(hi, lo);
}

/**
 * The bucket of a record: `bucketHash(value) % numBuckets`.
 *
 * @param value The value of the record's bucket column.
 * @param numBuckets The number of buckets of the queue, an integer in `[1, 2^26]`.
 * @returns A bucket id in `[0, numBuckets)`.
 * @throws {RangeError} If `numBuckets` is not an integer in `[1, 2^26]`.
 * @throws {TypeError} If the value has no canonical encoding (see {@linkcode encodeBucketKey}).
 *
 * @example
 * ```ts
 * import { getBucketId } from "./bucket_hash.ts";
 * const id = getBucketId("user-42", 4);
 * console.log(id >= 0 && id < 4); // true
 * console.log(getBucketId("user-42", 4) === id); // true, on every runtime, forever
 * ```
 */
export function getBucketId(value: HashableKey, numBuckets: number): number {
  assertNumBuckets(numBuckets);
  const [hi, lo] = hashKey(value);
  // (hi * 2^32 + lo) mod n, exact in doubles because n <= 2^26
  return ((hi % numBuckets) * (TWO_32 % numBuckets) + (lo % numBuckets)) % numBuckets;
}

/**
 * Check a number of buckets.
 *
 * @param numBuckets The value to check.
 * @throws {RangeError} If it is not an integer in `[1, 2^26]`.
 *
 * @example
 * ```ts
 * import { assertNumBuckets } from "./bucket_hash.ts";
 * assertNumBuckets(4); // fine
 * try { assertNumBuckets(0); } catch (e) { console.log(e instanceof RangeError); } // true
 * ```
 */
export function assertNumBuckets(numBuckets: number): void {
  if (!Number.isInteger(numBuckets) || numBuckets < 1 || numBuckets > MAX_BUCKETS) {
    throw new RangeError(
      `numBuckets must be an integer between 1 and ${MAX_BUCKETS}, got ${String(numBuckets)}`,
    );
  }
}
