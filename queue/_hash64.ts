/**
 * Private helpers of the queue hashes: the canonical byte encoding of a key and the 64-bit
 * hash over it (FNV-1a 64, finalized with MurmurHash3's `fmix64`), written with 32-bit halves
 * so that it runs the same, and fast, on every JavaScript engine (no `BigInt` on the hot path).
 *
 * The format is specified in `bucket_hash.ts`; changing a single byte here moves every record
 * of every queue to another bucket, so the test vectors in `bucket_hash_test.ts` pin it.
 *
 * @module
 */

/** A value that can be hashed: see {@linkcode encodeBucketKey} in `bucket_hash.ts`. */
export type HashableKey =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Uint8Array
  | readonly HashableKey[];

/** Where the canonical encoding goes: a hasher or a byte buffer. */
export interface ByteSink {
  /** Append one byte (0..255). */
  byte(b: number): void;
  /** Append bytes. */
  bytes(b: Uint8Array): void;
}

/** The type tags of the canonical encoding. */
export const TAG = {
  null: 0x00,
  false: 0x01,
  true: 0x02,
  int64: 0x03,
  float64: 0x04,
  bigint: 0x05,
  string: 0x06,
  bytes: 0x07,
  array: 0x08,
} as const;

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
const TWO_32 = 4294967296;
const INT64_MIN = -(2 ** 63);
const INT64_LIMIT = 2 ** 63;
const BIG_INT64_MIN = -(1n << 63n);
const BIG_INT64_MAX = (1n << 63n) - 1n;

const encoder = new TextEncoder();
const scratch = new DataView(new ArrayBuffer(8));

/** FNV-1a 64 state, fed byte by byte, read through {@linkcode Hash64.digest}. */
export class Hash64 implements ByteSink {
  /** High 32 bits of the state. */
  hi: number;
  /** Low 32 bits of the state. */
  lo: number;
  /** A fresh state (the FNV-1a 64 offset basis), or a copy of the given halves. */
  constructor(hi: number = FNV_OFFSET_HI, lo: number = FNV_OFFSET_LO) {
    this.hi = hi;
    this.lo = lo;
  }
  /** A copy of this state, to hash several suffixes after one common prefix. */
  clone(): Hash64 {
    return new Hash64(this.hi, this.lo);
  }
  /** `h ^= b; h *= 0x100000001b3` (mod 2^64). */
  byte(b: number): void {
    const lo = (this.lo ^ b) >>> 0;
    // prime = 2^40 + 0x1b3: h * prime = h * 0x1b3 + (h << 40)
    const loMul = lo * 0x1b3; // < 2^41, exact
    const carry = Math.floor(loMul / TWO_32);
    this.lo = loMul >>> 0;
    this.hi = (this.hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
  }
  /** Feed every byte of `b`. */
  bytes(b: Uint8Array): void {
    for (let i = 0; i < b.length; i++) this.byte(b[i]);
  }
  /** The FNV-1a 64 value of what was fed, without the finalizer: `[hi, lo]`. */
  raw(): [number, number] {
    return [this.hi, this.lo];
  }
  /** The finalized 64-bit hash (`fmix64` of the FNV-1a state): `[hi, lo]`. */
  digest(): [number, number] {
    return fmix64(this.hi, this.lo);
  }
}

/** A growable byte buffer, to materialize the canonical encoding. */
export class ByteWriter implements ByteSink {
  #buf: Uint8Array = new Uint8Array(32);
  #len = 0;
  /** Append one byte. */
  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }
  /** Append bytes. */
  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }
  /** A copy of the bytes written so far. */
  result(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
}

/** `(a * b) mod 2^64` on 32-bit halves: `[hi, lo]`. */
export function mul64(ah: number, al: number, bh: number, bl: number): [number, number] {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const carry = p11 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 65536);
  const hi = (carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
  return [hi, lo];
}

/** MurmurHash3's 64-bit finalizer: every input bit affects every output bit. */
export function fmix64(hi: number, lo: number): [number, number] {
  // k ^= k >>> 33  (hi word becomes 0, lo word gets hi >>> 1)
  lo = (lo ^ (hi >>> 1)) >>> 0;
  [hi, lo] = mul64(hi, lo, 0xff51afd7, 0xed558ccd);
  lo = (lo ^ (hi >>> 1)) >>> 0;
  [hi, lo] = mul64(hi, lo, 0xc4ceb9fe, 0x1a85ec53);
  lo = (lo ^ (hi >>> 1)) >>> 0;
  return [hi, lo];
}

function u32(sink: ByteSink, n: number): void {
  sink.byte(n >>> 24);
  sink.byte((n >>> 16) & 0xff);
  sink.byte((n >>> 8) & 0xff);
  sink.byte(n & 0xff);
}

function int64(sink: ByteSink, v: bigint): void {
  scratch.setBigInt64(0, v);
  for (let i = 0; i < 8; i++) sink.byte(scratch.getUint8(i));
}

/**
 * Write the canonical encoding of `value` into `sink` (format: see `bucket_hash.ts`).
 *
 * @throws {TypeError} for a value that has no canonical encoding (objects, symbols, functions).
 */
export function encodeKeyInto(sink: ByteSink, value: unknown): void {
  switch (typeof value) {
    case "string": {
      const b = encoder.encode(value);
      sink.byte(TAG.string);
      u32(sink, b.length);
      sink.bytes(b);
      return;
    }
    case "number":
      if (Number.isInteger(value) && value >= INT64_MIN && value < INT64_LIMIT) {
        sink.byte(TAG.int64);
        int64(sink, BigInt(value));
      } else {
        sink.byte(TAG.float64);
        if (Number.isNaN(value)) {
          scratch.setUint32(0, 0x7ff80000); // one canonical NaN, whatever its payload
          scratch.setUint32(4, 0);
        } else {
          scratch.setFloat64(0, value);
        }
        for (let i = 0; i < 8; i++) sink.byte(scratch.getUint8(i));
      }
      return;
    case "bigint":
      if (value >= BIG_INT64_MIN && value <= BIG_INT64_MAX) {
        sink.byte(TAG.int64);
        int64(sink, value);
      } else {
        sink.byte(TAG.bigint);
        sink.byte(value < 0n ? 1 : 0);
        let hex = (value < 0n ? -value : value).toString(16);
        if (hex.length % 2) hex = "0" + hex;
        u32(sink, hex.length / 2);
        for (let i = 0; i < hex.length; i += 2) sink.byte(parseInt(hex.slice(i, i + 2), 16));
      }
      return;
    case "boolean":
      sink.byte(value ? TAG.true : TAG.false);
      return;
    case "undefined":
      sink.byte(TAG.null);
      return;
    case "object":
      if (value === null) {
        sink.byte(TAG.null);
        return;
      }
      if (value instanceof Uint8Array) {
        sink.byte(TAG.bytes);
        u32(sink, value.length);
        sink.bytes(value);
        return;
      }
      if (Array.isArray(value)) {
        sink.byte(TAG.array);
        u32(sink, value.length);
        for (const v of value) encodeKeyInto(sink, v);
        return;
      }
  }
  throw new TypeError(
    `Cannot hash a value of type ${describe(value)}: a bucket key must be a string, number, ` +
      "bigint, boolean, null, Uint8Array or an array of those",
  );
}

function describe(value: unknown): string {
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}

/** The finalized hash of one key: `[hi, lo]`. */
export function hashKey(value: unknown): [number, number] {
  const h = new Hash64();
  encodeKeyInto(h, value);
  return h.digest();
}

/** Unsigned 64-bit `[hi, lo]` → `bigint`. */
export function toBigInt(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Compare two unsigned 64-bit values given as halves: negative, zero or positive. */
export function compare64(ah: number, al: number, bh: number, bl: number): number {
  return ah !== bh ? ah - bh : al - bl;
}
