/**
 * The value codec of the wire protocol: msgpack for the structure, raw segments for the bytes.
 * The msgpack part is written and read by this module's own one-pass encoder and decoder (no
 * intermediate tree, no separate validation pass): the hot path of every RPC message.
 *
 * Every `Uint8Array` found at any depth of a value (and every other typed array, `DataView`,
 * `ArrayBuffer`, and the buffers of zero-copy descriptors) is taken out of the msgpack part and
 * travels as a separate segment: on the sending side the segment *is* the caller's memory (a
 * view, never a copy), and the frame layer writes it as it is.
 *
 * Round-trips: plain objects, arrays, strings, numbers, booleans, `null`, `undefined`,
 * `bigint` (any size), `Uint8Array` (and the other typed arrays, `DataView`, `ArrayBuffer`),
 * `Map` (any keys), `Set`, `Date`, and {@linkcode ZeroCopyDescriptor}s. `-0` arrives as `0`.
 * Class instances without a `[zerocopy]()` method travel as plain objects of their own
 * enumerable fields.
 *
 * Decoding validates as it reads: one complete value, no trailing bytes, nesting at most
 * `maxDepth` (default 64), every length checked against the bytes actually present before
 * anything is allocated, only the extension types this codec writes, map keys that are strings
 * or numbers (a `__proto__` key becomes an own property, never the prototype). Garbage raises a
 * {@linkcode ProtocolError}; it never crashes the process.
 *
 * Wire format (standard msgpack plus): `d4 00 00` = `undefined`; timestamps (ext −1) = `Date`;
 * `d4 <t> 00 <value>` = one of this codec's wrappers, `t` = 0x50 segment reference (value:
 * index), 0x51 other byte view (`[index, kind]`), 0x52 `Map` (`[k0, v0, ...]`), 0x53 `Set`,
 * 0x54 bigint outside 64 bits (decimal string), 0x55 zero-copy descriptor
 * (`[version, [index...], meta]`). Bigints within 64 bits are msgpack int64/uint64 and always
 * decode as bigints; numbers never use the 64-bit integer forms (integers beyond 32 bits are
 * float64).
 *
 * @module
 */

import { PulsingRuntimeError } from "../core/errors.ts";
import { toZeroCopy, zerocopy, zeroCopyConfig, ZeroCopyDescriptor } from "../core/zerocopy.ts";
import type { ZeroCopyable, ZeroCopyMode } from "../core/zerocopy.ts";

/**
 * Malformed input on the wire: bad framing, garbage msgpack, a limit exceeded. The connection
 * that produced it is closed.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./codec.ts";
 * const e = new ProtocolError("frame of 4294967295 bytes exceeds maxFrameSize 67108864");
 * console.log(e instanceof Error, e.name); // true "ProtocolError"
 * ```
 */
export class ProtocolError extends PulsingRuntimeError {}

/** The default maximum nesting depth of a value. */
export const DEFAULT_MAX_DEPTH = 64;

/** Options of {@linkcode encodeValue}. */
export interface EncodeOptions {
  /** Maximum nesting depth (default 64); deeper values (and cycles) raise a `TypeError`. */
  maxDepth?: number;
  /**
   * How objects with a `[zerocopy]()` method are sent (default: the environment's mode). `force`
   * is checked on the top-level value only; nested values follow `auto`.
   */
  zeroCopy?: ZeroCopyMode;
}

/** Options of {@linkcode decodeValue}. */
export interface DecodeOptions {
  /** Maximum nesting depth (default 64); deeper input raises a {@linkcode ProtocolError}. */
  maxDepth?: number;
}

/** An encoded value: the msgpack part and the raw segments it refers to. */
export interface EncodedValue {
  /** The msgpack bytes (a view that stays valid; never reused by later encodes). */
  meta: Uint8Array;
  /** The raw segments, in the order the msgpack part refers to them: the caller's memory. */
  segments: Uint8Array[];
  /** `meta.byteLength` plus the length of every segment. */
  byteLength: number;
}

// ---- extension types ----

const EXT_SEG = 0x50; // Uint8Array segment: payload = index
const EXT_TYPED = 0x51; // other byte views: payload = [index, kind]
const EXT_MAP = 0x52; // Map: payload = [k0, v0, k1, v1, ...]
const EXT_SET = 0x53; // Set: payload = [v0, v1, ...]
const EXT_BIGINT = 0x54; // bigint outside 64 bits: payload = decimal string
const EXT_ZC = 0x55; // zero-copy descriptor: payload = [version, [index...], meta]

type ViewCtor = { new (buffer: ArrayBuffer, byteOffset: number, length: number): ArrayBufferView };
const TYPED_KINDS: (ViewCtor | undefined)[] = [
  undefined, // 0: ArrayBuffer
  DataView as unknown as ViewCtor, // 1
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];
const KIND_OF = new Map<unknown, number>(
  TYPED_KINDS.map((c, i) => [c, i] as [unknown, number]).filter(([c]) => c !== undefined),
);

function toTyped(seg: Uint8Array, kind: unknown): unknown {
  if (kind === 0) return seg.slice().buffer; // an ArrayBuffer of exactly these bytes
  const C = typeof kind === "number" ? TYPED_KINDS[kind] : undefined;
  if (C === undefined) throw new ProtocolError(`unknown typed-array kind ${String(kind)}`);
  const size = (C as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  if (seg.byteLength % size !== 0) {
    throw new ProtocolError(
      `typed-array segment of ${seg.byteLength} bytes is not a multiple of ${size}`,
    );
  }
  // Views must be aligned to their element size: copy when the segment is not.
  const src = seg.byteOffset % size === 0 ? seg : seg.slice();
  return new C(src.buffer as ArrayBuffer, src.byteOffset, src.byteLength / size);
}

const MIN_I64 = -(2n ** 63n);
const MAX_I64 = 2n ** 63n;
const MAX_U64 = 2n ** 64n;
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

// ---- encoding ----

/** Nesting depth a {@linkcode PreEncoded} value may have (and is counted as). */
const PRE_ENCODED_DEPTH = 4;

/**
 * A small value encoded once and written verbatim wherever it appears in a value being
 * encoded: for parts that repeat message after message (a request head naming the same target
 * and method). The wire carries ordinary msgpack: the receiver sees the plain value.
 *
 * @example
 * ```ts
 * import { decodeValue, PreEncoded, ValueEncoder } from "./codec.ts";
 * const head = new PreEncoded({ op: "call", m: "echo" });
 * const enc = new ValueEncoder();
 * enc.encode([1, head]);
 * console.log(decodeValue(enc.meta().slice(), enc.segments)); // [ 1, { op: "call", m: "echo" } ]
 * ```
 */
export class PreEncoded {
  /** The value (for logs and error messages). */
  readonly value: unknown;
  /** Its msgpack encoding. */
  readonly bytes: Uint8Array;

  /**
   * Encode `value` now.
   *
   * @param value A small value without bytes (at most 4 levels deep).
   * @throws {TypeError} When the value holds bytes or is nested too deep.
   */
  constructor(value: unknown) {
    const e = new ValueEncoder(64);
    // the smallest depth limit it encodes under is the nesting it adds where it is placed
    let depth = 0;
    for (;; depth++) {
      try {
        e.encode(value, depth, "off");
        break;
      } catch (err) {
        if (depth >= PRE_ENCODED_DEPTH) throw err;
      }
    }
    if (e.segments.length > 0) throw new TypeError("a PreEncoded value cannot hold bytes");
    this.value = value;
    this.bytes = e.buf.slice(0, e.pos);
    this.depth = depth;
  }

  /** @internal Levels of nesting the value adds. */
  readonly depth: number;
}

/**
 * A reusable msgpack encoder: writes one value into its own growing buffer, moving every byte
 * view into {@linkcode ValueEncoder.segments}. The output is valid until the next `encode`
 * on the same encoder, which lets a frame writer copy the (small) msgpack part straight into
 * its batch buffer without allocating anything per message.
 *
 * @example
 * ```ts
 * import { decodeValue, ValueEncoder } from "./codec.ts";
 * const enc = new ValueEncoder();
 * enc.encode({ a: [1, 2], b: new Uint8Array(3) });
 * console.log(enc.segments.length); // 1
 * console.log(decodeValue(enc.meta().slice(), enc.segments)); // { a: [ 1, 2 ], b: Uint8Array(3) ... }
 * ```
 */
export class ValueEncoder {
  /** The output buffer; the msgpack part is `buf[0, pos)`. */
  buf: Uint8Array;
  /** Bytes written. */
  pos = 0;
  /** Segments of the last encode, in reference order (the caller's memory). */
  segments: Uint8Array[] = [];
  /** Total bytes of {@linkcode ValueEncoder.segments}. */
  segmentBytes = 0;
  #dv: DataView;
  #maxDepth = DEFAULT_MAX_DEPTH;
  #mode: ZeroCopyMode = "auto";
  #busy = false;

  /**
   * Create an encoder.
   *
   * @param initial Initial buffer size in bytes (grows as needed).
   */
  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
    this.#dv = new DataView(this.buf.buffer);
  }

  /** The msgpack part of the last encode (a view, valid until the next encode). */
  meta(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /**
   * Encode `value`, replacing the previous output.
   *
   * @param value The value.
   * @param maxDepth Maximum nesting depth.
   * @param mode Zero-copy mode for nested values (`force` is not checked here).
   * @throws {TypeError} When the value is nested deeper than `maxDepth` (or cyclic).
   */
  encode(value: unknown, maxDepth = DEFAULT_MAX_DEPTH, mode: ZeroCopyMode = "auto"): void {
    if (this.#busy) throw new Error("ValueEncoder is not reentrant");
    this.#busy = true;
    this.pos = 0;
    if (this.segments.length !== 0) this.segments = [];
    this.segmentBytes = 0;
    this.#maxDepth = maxDepth;
    this.#mode = mode === "force" ? "auto" : mode;
    try {
      this.#any(value, 0);
    } finally {
      this.#busy = false;
    }
    if (this.buf.length > 1 << 20 && this.pos < 1 << 16) {
      // do not keep a huge buffer alive for one big message
      this.buf = this.buf.slice(0, Math.max(4096, this.pos));
      this.#dv = new DataView(this.buf.buffer);
    }
  }

  /** Whether an encode is in progress (a `[zerocopy]()` method encoding values itself). */
  get busy(): boolean {
    return this.#busy;
  }

  #grow(n: number): void {
    const need = this.pos + n;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
    this.#dv = new DataView(nb.buffer);
  }

  #room(depth: number, levels: number): void {
    if (depth + levels > this.#maxDepth) {
      throw new TypeError(`value nested deeper than maxDepth ${this.#maxDepth} (or cyclic)`);
    }
  }

  #any(v: unknown, depth: number): void {
    switch (typeof v) {
      case "string":
        return this.#str(v);
      case "number":
        return this.#num(v);
      case "boolean":
        if (this.pos + 1 > this.buf.length) this.#grow(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case "object":
        if (v === null) {
          if (this.pos + 1 > this.buf.length) this.#grow(1);
          this.buf[this.pos++] = 0xc0;
          return;
        }
        return this.#obj(v, depth);
      case "bigint":
        return this.#bigint(v, depth);
      case "undefined":
        return this.#ext0(0);
      default: // function, symbol: null (object fields holding them are skipped)
        if (this.pos + 1 > this.buf.length) this.#grow(1);
        this.buf[this.pos++] = 0xc0;
    }
  }

  #ext0(type: number): void {
    if (this.pos + 3 > this.buf.length) this.#grow(3);
    const b = this.buf;
    b[this.pos] = 0xd4;
    b[this.pos + 1] = type;
    b[this.pos + 2] = 0;
    this.pos += 3;
  }

  #num(v: number): void {
    if (this.pos + 9 > this.buf.length) this.#grow(9);
    const b = this.buf;
    let p = this.pos;
    if (v >>> 0 === v) {
      if (v < 0x80) b[p++] = v;
      else if (v < 0x100) {
        b[p++] = 0xcc;
        b[p++] = v;
      } else if (v < 0x10000) {
        b[p++] = 0xcd;
        b[p++] = v >>> 8;
        b[p++] = v;
      } else {
        b[p++] = 0xce;
        b[p++] = v >>> 24;
        b[p++] = v >>> 16;
        b[p++] = v >>> 8;
        b[p++] = v;
      }
    } else if ((v | 0) === v) {
      if (v >= -32) b[p++] = v & 0xff;
      else if (v >= -128) {
        b[p++] = 0xd0;
        b[p++] = v;
      } else if (v >= -32768) {
        b[p++] = 0xd1;
        b[p++] = v >> 8;
        b[p++] = v;
      } else {
        b[p++] = 0xd2;
        b[p++] = v >> 24;
        b[p++] = v >> 16;
        b[p++] = v >> 8;
        b[p++] = v;
      }
    } else {
      b[p++] = 0xcb;
      this.#dv.setFloat64(p, v);
      p += 8;
    }
    this.pos = p;
  }

  #str(s: string): void {
    const len = s.length;
    const max = len * 3;
    if (this.pos + max + 5 > this.buf.length) this.#grow(max + 5);
    const b = this.buf;
    const hdr = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    const start = this.pos + hdr;
    let p = start;
    if (len < 64) {
      for (let i = 0; i < len; i++) {
        let c = s.charCodeAt(i);
        if (c < 0x80) b[p++] = c;
        else if (c < 0x800) {
          b[p++] = 0xc0 | (c >> 6);
          b[p++] = 0x80 | (c & 63);
        } else {
          if ((c & 0xfc00) === 0xd800) {
            const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
            if ((d & 0xfc00) === 0xdc00) {
              i++;
              c = 0x10000 + ((c & 0x3ff) << 10) + (d & 0x3ff);
              b[p++] = 0xf0 | (c >> 18);
              b[p++] = 0x80 | ((c >> 12) & 63);
              b[p++] = 0x80 | ((c >> 6) & 63);
              b[p++] = 0x80 | (c & 63);
              continue;
            }
            c = 0xfffd; // lone surrogate, as TextEncoder does
          } else if ((c & 0xfc00) === 0xdc00) c = 0xfffd;
          b[p++] = 0xe0 | (c >> 12);
          b[p++] = 0x80 | ((c >> 6) & 63);
          b[p++] = 0x80 | (c & 63);
        }
      }
    } else {
      p += utf8.encodeInto(s, b.subarray(start, start + max)).written;
    }
    const n = p - start;
    let h = this.pos;
    if (hdr === 1) b[h] = 0xa0 | n;
    else if (hdr === 2) {
      b[h++] = 0xd9;
      b[h] = n;
    } else if (hdr === 3) {
      b[h++] = 0xda;
      b[h++] = n >>> 8;
      b[h] = n;
    } else {
      b[h++] = 0xdb;
      b[h++] = n >>> 24;
      b[h++] = n >>> 16;
      b[h++] = n >>> 8;
      b[h] = n;
    }
    this.pos = p;
  }

  #head(n: number, fix: number, b16: number): void {
    if (this.pos + 5 > this.buf.length) this.#grow(5);
    const b = this.buf;
    let p = this.pos;
    if (n < 16) b[p++] = fix | n;
    else if (n < 0x10000) {
      b[p++] = b16;
      b[p++] = n >>> 8;
      b[p++] = n;
    } else {
      b[p++] = b16 + 1;
      b[p++] = n >>> 24;
      b[p++] = n >>> 16;
      b[p++] = n >>> 8;
      b[p++] = n;
    }
    this.pos = p;
  }

  #bigint(v: bigint, depth: number): void {
    if (v >= MIN_I64 && v < MAX_I64) {
      if (this.pos + 9 > this.buf.length) this.#grow(9);
      this.buf[this.pos] = 0xd3;
      this.#dv.setBigInt64(this.pos + 1, v);
      this.pos += 9;
    } else if (v >= 0n && v < MAX_U64) {
      if (this.pos + 9 > this.buf.length) this.#grow(9);
      this.buf[this.pos] = 0xcf;
      this.#dv.setBigUint64(this.pos + 1, v);
      this.pos += 9;
    } else {
      this.#room(depth, 1);
      this.#ext0(EXT_BIGINT);
      this.#str(v.toString());
    }
  }

  #seg(b: Uint8Array): number {
    this.segmentBytes += b.byteLength;
    return this.segments.push(b) - 1;
  }

  #obj(v: object, depth: number): void {
    // Depth is counted as the decoder counts it: every container and every extension
    // wrapper is one level.
    if (depth + 1 > this.#maxDepth) this.#room(depth, 1);
    const C = (v as { constructor?: unknown }).constructor;
    if (C === Object || C === undefined) {
      if (this.#mode !== "off" && (v as Partial<ZeroCopyable>)[zerocopy] !== undefined) {
        if (this.#zc(v, depth)) return;
      }
      return this.#plain(v as Record<string, unknown>, depth);
    }
    if (C === Array) return this.#array(v as unknown[], depth);
    if (C === PreEncoded) return this.#pre(v as PreEncoded, depth);
    if (v instanceof Uint8Array) {
      this.#ext0(EXT_SEG);
      return this.#num(this.#seg(v));
    }
    if (ArrayBuffer.isView(v)) {
      const kind = KIND_OF.get(C) ?? (v instanceof DataView ? 1 : undefined);
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (kind === undefined) {
        this.#ext0(EXT_SEG);
        return this.#num(this.#seg(bytes));
      }
      return this.#typed(bytes, kind, depth);
    }
    if (v instanceof ArrayBuffer) return this.#typed(new Uint8Array(v), 0, depth);
    if (v instanceof Date) return this.#date(v);
    if (v instanceof Map) {
      this.#room(depth, 2);
      this.#ext0(EXT_MAP);
      this.#head(v.size * 2, 0x90, 0xdc);
      for (const [k, x] of v) {
        this.#any(k, depth + 2);
        this.#any(x, depth + 2);
      }
      return;
    }
    if (v instanceof Set) {
      this.#room(depth, 2);
      this.#ext0(EXT_SET);
      this.#head(v.size, 0x90, 0xdc);
      for (const x of v) this.#any(x, depth + 2);
      return;
    }
    if (this.#zc(v, depth)) return;
    if (Array.isArray(v)) return this.#array(v, depth);
    return this.#plain(v as Record<string, unknown>, depth);
  }

  #pre(v: PreEncoded, depth: number): void {
    if (v.depth > 0) this.#room(depth, v.depth);
    const src = v.bytes;
    const n = src.length;
    if (this.pos + n > this.buf.length) this.#grow(n);
    const b = this.buf;
    const p = this.pos;
    if (n <= 32) { for (let i = 0; i < n; i++) b[p + i] = src[i]; }
    else b.set(src, p);
    this.pos = p + n;
  }

  #typed(bytes: Uint8Array, kind: number, depth: number): void {
    this.#room(depth, 2);
    this.#ext0(EXT_TYPED);
    this.#head(2, 0x90, 0xdc);
    this.#num(this.#seg(bytes));
    this.#num(kind);
  }

  #date(d: Date): void {
    const ms = d.getTime();
    if (this.pos + 15 > this.buf.length) this.#grow(15);
    const b = this.buf;
    if (ms !== ms) {
      this.#ext0(0xff); // invalid Date
      return;
    }
    const sec = Math.floor(ms / 1000);
    const nsec = (ms - sec * 1000) * 1e6;
    if (sec >= 0 && sec < 0x400000000) {
      // timestamp 64: nsec (30 bits) | sec (34 bits)
      b[this.pos] = 0xd7;
      b[this.pos + 1] = 0xff;
      this.#dv.setUint32(this.pos + 2, nsec * 4 + Math.floor(sec / 0x100000000));
      this.#dv.setUint32(this.pos + 6, sec >>> 0);
      this.pos += 10;
    } else {
      // timestamp 96: nsec u32 | sec i64
      b[this.pos] = 0xc7;
      b[this.pos + 1] = 12;
      b[this.pos + 2] = 0xff;
      this.#dv.setUint32(this.pos + 3, nsec);
      this.#dv.setBigInt64(this.pos + 7, BigInt(sec));
      this.pos += 15;
    }
  }

  #zc(v: unknown, depth: number): boolean {
    const d = toZeroCopy(v, this.#mode === "off" ? "off" : "auto");
    if (d === undefined) return false;
    this.#room(depth, 4);
    const meta: Record<string, unknown> = {};
    if (d.dtype !== undefined) meta.dtype = d.dtype;
    if (d.shape !== undefined) meta.shape = d.shape;
    if (d.strides !== undefined) meta.strides = d.strides;
    if (d.transport !== undefined) meta.transport = d.transport;
    if (d.checksum !== undefined) meta.checksum = d.checksum;
    this.#ext0(EXT_ZC);
    this.#head(3, 0x90, 0xdc);
    this.#num(d.version);
    this.#head(d.buffers.length, 0x90, 0xdc);
    for (const buf of d.buffers) this.#num(this.#seg(buf));
    this.#plain(meta, depth + 2);
    return true;
  }

  #array(a: unknown[], depth: number): void {
    const n = a.length;
    this.#head(n, 0x90, 0xdc);
    for (let i = 0; i < n; i++) this.#any(a[i], depth + 1);
  }

  #plain(o: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(o);
    let n = keys.length;
    for (let i = 0; i < keys.length; i++) {
      const t = typeof o[keys[i]];
      if (t === "function" || t === "symbol") n--;
    }
    this.#head(n, 0x80, 0xde);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const x = o[k];
      const t = typeof x;
      if (t === "function" || t === "symbol") continue;
      this.#str(k);
      this.#any(x, depth + 1);
    }
  }
}

const shared = new ValueEncoder(8192);

/**
 * Encode a value: msgpack for the structure, segments for the bytes.
 *
 * @param value Any value the codec supports (see the module doc).
 * @param options Depth limit and zero-copy mode.
 * @returns The msgpack part and the segments (the caller's own memory, not copies).
 * @throws {TypeError} When the value is nested deeper than `maxDepth` (or cyclic), or when the
 *   zero-copy mode is `force` and the value offers no descriptor.
 *
 * @example
 * ```ts
 * import { decodeValue, encodeValue } from "./codec.ts";
 * const bytes = new Uint8Array(1024);
 * const enc = encodeValue({ name: "blob", bytes });
 * console.log(enc.segments[0] === bytes); // true: no copy
 * const back = decodeValue(enc.meta, enc.segments) as { bytes: Uint8Array };
 * console.log(back.bytes.byteLength); // 1024
 * ```
 */
export function encodeValue(value: unknown, options: EncodeOptions = {}): EncodedValue {
  const mode = options.zeroCopy ?? zeroCopyConfig().mode;
  if (mode === "force") toZeroCopy(value, "force");
  const e = shared.busy ? new ValueEncoder() : shared;
  e.encode(value, options.maxDepth ?? DEFAULT_MAX_DEPTH, mode);
  const meta = e.buf.slice(0, e.pos);
  return { meta, segments: e.segments, byteLength: meta.byteLength + e.segmentBytes };
}

// ---- decoding ----

/** Hard ceiling of the decoder's recursion, whatever `maxDepth` says. */
const DEPTH_CEILING = 1000;

class Decoder {
  src: Uint8Array = new Uint8Array(0);
  p = 0;
  end = 0;
  segs: Uint8Array[] = [];
  maxDepth = DEFAULT_MAX_DEPTH;
  /** Whether the last {@linkcode Decoder.cachedKey} was a hit. */
  hit = false;
  #dv: DataView | undefined;

  fail(what: string): never {
    throw new ProtocolError(`${what} at offset ${this.p}`);
  }

  dv(): DataView {
    return this.#dv ??= new DataView(this.src.buffer, this.src.byteOffset, this.src.byteLength);
  }

  run(src: Uint8Array, segs: Uint8Array[], maxDepth: number, start: number, end: number): unknown {
    this.src = src;
    this.p = start;
    this.end = end;
    this.segs = segs;
    this.maxDepth = Math.min(maxDepth, DEPTH_CEILING);
    this.#dv = undefined;
    if (end <= start) this.fail("empty msgpack");
    const v = this.any(0);
    if (this.p !== this.end) this.fail("trailing bytes after msgpack value");
    return v;
  }

  need(k: number): void {
    if (this.p + k > this.end) this.fail(`truncated msgpack: need ${k} bytes`);
  }

  u16(): number {
    this.need(2);
    const b = this.src, p = this.p;
    this.p = p + 2;
    return (b[p] << 8) | b[p + 1];
  }

  u32(): number {
    this.need(4);
    const b = this.src, p = this.p;
    this.p = p + 4;
    return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  any(depth: number): unknown {
    if (this.p >= this.end) this.fail("truncated msgpack");
    const t = this.src[this.p++];
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 256;
    if (t < 0x90) return this.map(t & 0x0f, depth);
    if (t < 0xa0) return this.array(t & 0x0f, depth);
    if (t < 0xc0) return this.str(t & 0x1f);
    const b = this.src;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        this.need(1);
        return this.bin(b[this.p++]);
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xc7:
      case 0xc8:
      case 0xc9: {
        const n = t === 0xc7 ? (this.need(1), b[this.p++]) : t === 0xc8 ? this.u16() : this.u32();
        this.need(1);
        const type = b[this.p++];
        if (type !== 0xff || n !== 12) this.fail(`unexpected extension type ${type}/${n}`);
        this.need(12);
        const dv = this.dv();
        const nsec = dv.getUint32(this.p);
        const sec = dv.getBigInt64(this.p + 4);
        this.p += 12;
        return new Date(Number(sec) * 1000 + Math.floor(nsec / 1e6));
      }
      case 0xca: {
        this.need(4);
        const v = this.dv().getFloat32(this.p);
        this.p += 4;
        return v;
      }
      case 0xcb: {
        this.need(8);
        const v = this.dv().getFloat64(this.p);
        this.p += 8;
        return v;
      }
      case 0xcc:
        this.need(1);
        return b[this.p++];
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf: {
        this.need(8);
        const v = this.dv().getBigUint64(this.p);
        this.p += 8;
        return v;
      }
      case 0xd0:
        this.need(1);
        return (b[this.p++] << 24) >> 24;
      case 0xd1:
        return (this.u16() << 16) >> 16;
      case 0xd2:
        return this.u32() | 0;
      case 0xd3: {
        this.need(8);
        const v = this.dv().getBigInt64(this.p);
        this.p += 8;
        return v;
      }
      case 0xd4: {
        this.need(2);
        const type = b[this.p];
        this.p += 2;
        if (type === 0) return undefined;
        if (type === 0xff) return new Date(NaN);
        return this.wrapped(type, depth);
      }
      case 0xd6: {
        this.need(5);
        if (b[this.p] !== 0xff) this.fail(`unknown extension type ${b[this.p]}`);
        this.p++;
        return new Date(this.u32() * 1000);
      }
      case 0xd7: {
        this.need(9);
        if (b[this.p] !== 0xff) this.fail(`unknown extension type ${b[this.p]}`);
        this.p++;
        const hi = this.u32();
        const lo = this.u32();
        const nsec = hi >>> 2;
        const sec = (hi & 3) * 0x100000000 + lo;
        return new Date(sec * 1000 + Math.floor(nsec / 1e6));
      }
      case 0xd9:
        this.need(1);
        return this.str(b[this.p++]);
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default: // 0xc1, 0xd5, 0xd8: never written by this codec
        this.p--;
        return this.fail(`invalid or unknown msgpack byte 0x${t.toString(16)}`);
    }
  }

  bin(n: number): Uint8Array {
    this.need(n);
    const v = this.src.slice(this.p, this.p + n); // the source buffer is reused: copy
    this.p += n;
    return v;
  }

  str(n: number): string {
    if (this.p + n > this.end) this.fail(`truncated msgpack: string of ${n} bytes`);
    // Short strings often repeat (method names, actor ids, small values): same cache as map
    // keys, while it pays. A run of distinct strings (a stream of items) turns it off; one
    // probe in 256 turns it back on.
    if (n <= 32 && n > 0) {
      const c = valueCacheCredit;
      if (c > 0) {
        const s = this.cachedKey(n);
        valueCacheCredit = this.hit ? (c < 248 ? c + 8 : 256) : c - 1;
        return s;
      }
      if (--valueCacheCredit <= -256) valueCacheCredit = 1;
    }
    return this.strRaw(n);
  }

  /** Decode a string of `n` bytes at `p` (bounds already checked), uncached. */
  strRaw(n: number): string {
    const b = this.src;
    let p = this.p;
    const e = p + n;
    if (n <= 64) {
      if (n === 0) return "";
      const codes = CODES[n]; // one array per length: `apply` is fastest on a stable length
      for (let i = 0; p < e; p++, i++) {
        const c = b[p];
        if (c >= 0x80) {
          const s = utf8d.decode(b.subarray(this.p, e));
          this.p = e;
          return s;
        }
        codes[i] = c;
      }
      this.p = e;
      return String.fromCharCode.apply(null, codes);
    }
    this.p = e;
    return utf8d.decode(b.subarray(p, e));
  }

  array(n: number, depth: number): unknown[] {
    if (depth + 1 > this.maxDepth) this.fail(`msgpack nested deeper than ${this.maxDepth}`);
    // every item takes at least one byte: reject impossible counts before allocating
    if (n > this.end - this.p) this.fail(`truncated msgpack: array of ${n} items`);
    const a = new Array(n);
    for (let i = 0; i < n; i++) a[i] = this.any(depth + 1);
    return a;
  }

  map(n: number, depth: number): Record<string, unknown> {
    if (depth + 1 > this.maxDepth) this.fail(`msgpack nested deeper than ${this.maxDepth}`);
    if (n * 2 > this.end - this.p) this.fail(`truncated msgpack: map of ${n} entries`);
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.key();
      const v = this.any(depth + 1);
      if (k === "__proto__") {
        Object.defineProperty(o, k, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else o[k] = v;
    }
    return o;
  }

  key(): string {
    this.need(1);
    const t = this.src[this.p];
    if (t >= 0xa0 && t < 0xc0) {
      this.p++;
      const n = t & 0x1f;
      if (n <= 16 && this.p + n <= this.end) return this.cachedKey(n);
      return this.str(n);
    }
    if (t === 0xd9 || t === 0xda || t === 0xdb) return this.any(0) as string;
    if (t < 0x80 || t >= 0xe0 || (t >= 0xcc && t <= 0xce) || (t >= 0xd0 && t <= 0xd2)) {
      return String(this.any(0));
    }
    return this.fail("map key is not a string or an integer");
  }

  /** Short ASCII map keys come from a small cache: the same (internalized) string each time. */
  cachedKey(n: number): string {
    const b = this.src;
    const p = this.p;
    let h = n;
    for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + b[p + i]) | 0;
    const slot = (h ^ (h >>> 12)) & (KEY_CACHE_SIZE - 1);
    const hit = keyCache[slot];
    if (hit !== undefined && hit.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (hit.charCodeAt(i) !== b[p + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.p = p + n;
        this.hit = true;
        return hit;
      }
    }
    this.hit = false;
    const s = this.strRaw(n);
    if (s.length === n) keyCache[slot] = s; // ASCII only (one byte per char)
    return s;
  }

  segment(index: unknown): Uint8Array {
    const segs = this.segs;
    if (typeof index !== "number" || !(index >= 0 && index < segs.length)) {
      this.fail(`segment reference ${String(index)} out of range`);
    }
    return segs[index as number];
  }

  wrapped(type: number, depth: number): unknown {
    if (depth + 1 > this.maxDepth) this.fail(`msgpack nested deeper than ${this.maxDepth}`);
    switch (type) {
      case EXT_SEG:
        return this.segment(this.any(depth + 1));
      case EXT_TYPED: {
        const p = this.any(depth + 1);
        if (!Array.isArray(p) || p.length !== 2) this.fail("bad typed-array reference");
        return toTyped(this.segment(p[0]), p[1]);
      }
      case EXT_MAP: {
        const flat = this.any(depth + 1);
        if (!Array.isArray(flat) || flat.length % 2 !== 0) this.fail("bad Map payload");
        const m = new Map();
        for (let i = 0; i < flat.length; i += 2) m.set(flat[i], flat[i + 1]);
        return m;
      }
      case EXT_SET: {
        const items = this.any(depth + 1);
        if (!Array.isArray(items)) this.fail("bad Set payload");
        return new Set(items);
      }
      case EXT_BIGINT: {
        const text = this.any(depth + 1);
        if (typeof text !== "string" || !/^-?\d{1,100000}$/.test(text)) {
          this.fail("bad bigint payload");
        }
        return BigInt(text);
      }
      case EXT_ZC: {
        const p = this.any(depth + 1);
        if (!Array.isArray(p) || p.length !== 3 || !Array.isArray(p[1]) || p[1].length === 0) {
          this.fail("bad zero-copy descriptor payload");
        }
        const meta = (p[2] ?? {}) as Record<string, unknown>;
        return new ZeroCopyDescriptor((p[1] as unknown[]).map((i) => this.segment(i)), {
          version: typeof p[0] === "number" ? p[0] : 1,
          dtype: meta.dtype as string | undefined,
          shape: meta.shape as number[] | undefined,
          strides: meta.strides as number[] | undefined,
          transport: meta.transport as string | undefined,
          checksum: meta.checksum as string | undefined,
        });
      }
      default:
        this.p -= 2;
        return this.fail(`unknown extension type ${type}`);
    }
  }
}

/** Scratch for short ASCII strings (`String.fromCharCode.apply`). */
const CODES: number[][] = Array.from({ length: 65 }, (_, n) => new Array<number>(n).fill(0));
const KEY_CACHE_SIZE = 1024;
/** > 0: short string values go through the key cache (see `Decoder.str`). */
let valueCacheCredit = 64;
const keyCache: (string | undefined)[] = new Array(KEY_CACHE_SIZE).fill(undefined);

const decoder = new Decoder();
let decoderBusy = false;

/**
 * Decode what {@linkcode encodeValue} produced.
 *
 * @param meta The msgpack part. It may be a view into a buffer that is reused after the call:
 *   nothing of it is kept (strings are decoded, inline binaries copied).
 * @param segments The segments, in order. Decoded byte values are these very views.
 * @param options The depth limit.
 * @param start Where the msgpack part starts in `meta` (default 0).
 * @param end Where it ends (default `meta.length`): `meta[start, end)` is decoded, so a caller
 *   holding a bigger buffer needs no view of its own.
 * @returns The value.
 * @throws {ProtocolError} On malformed input, too deep nesting, unknown extension types, or
 *   segment references out of range.
 *
 * @example
 * ```ts
 * import { decodeValue, encodeValue } from "./codec.ts";
 * const enc = encodeValue(new Map([[1, "one"]]));
 * console.log(decodeValue(enc.meta, enc.segments)); // Map(1) { 1 => "one" }
 * ```
 */
export function decodeValue(
  meta: Uint8Array,
  segments: Uint8Array[] = [],
  options: DecodeOptions = {},
  start = 0,
  end: number = meta.length,
): unknown {
  if (!(start >= 0 && end <= meta.length)) {
    throw new RangeError(`msgpack range [${start}, ${end}) outside a buffer of ${meta.length}`);
  }
  const d = decoderBusy ? new Decoder() : decoder;
  const own = d === decoder;
  if (own) decoderBusy = true;
  try {
    return d.run(meta, segments, options.maxDepth ?? DEFAULT_MAX_DEPTH, start, end);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    // e.g. a RangeError from a view constructor, or a stack overflow on an absurd maxDepth
    throw new ProtocolError(`malformed msgpack: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
  } finally {
    if (own) {
      decoderBusy = false;
      d.src = EMPTY;
      d.segs = NO_SEGS;
    }
  }
}

const EMPTY = new Uint8Array(0);
const NO_SEGS: Uint8Array[] = [];

/** Our "write/read" extensions: `d4 type 00` followed by one nested value. */
const WRAPPING_EXT = new Set([EXT_SEG, EXT_TYPED, EXT_MAP, EXT_SET, EXT_BIGINT, EXT_ZC]);

/**
 * Check that `b` holds exactly one well-formed msgpack value of nesting at most `maxDepth`,
 * using only the extension types this codec knows. Iterative: garbage cannot blow the stack.
 *
 * @param b The bytes.
 * @param maxDepth The maximum nesting depth.
 * @throws {ProtocolError} When it does not.
 *
 * @example
 * ```ts
 * import { validateMsgpack } from "./codec.ts";
 * validateMsgpack(new Uint8Array([0x91, 0x01]), 64); // [1]: fine
 * try {
 *   validateMsgpack(new Uint8Array([0x92, 0x01]), 64); // array of 2 with 1 item
 * } catch (e) {
 *   console.log((e as Error).message); // truncated msgpack ...
 * }
 * ```
 */
export function validateMsgpack(b: Uint8Array, maxDepth: number): void {
  const n = b.length;
  // remaining[d] = values still expected at depth d (depth 0 = top level)
  const remaining: number[] = [1];
  let depth = 0;
  let p = 0;
  const need = (k: number): void => {
    if (p + k > n) throw new ProtocolError(`truncated msgpack: need ${k} bytes at offset ${p}`);
  };
  const u16 = (): number => (b[p] << 8) | b[p + 1];
  const u32 = (): number => ((b[p] << 24) >>> 0) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3];
  while (true) {
    // close finished containers
    while (remaining[depth] === 0) {
      if (depth === 0) {
        if (p !== n) throw new ProtocolError(`trailing bytes after msgpack value at offset ${p}`);
        return;
      }
      depth--;
    }
    remaining[depth]--;
    need(1);
    const t = b[p++];
    let children = 0;
    let skip = 0;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) {
      if (t === 0xc1) throw new ProtocolError(`invalid msgpack byte 0xc1 at offset ${p - 1}`);
    } else if (t >= 0x80 && t <= 0x8f) children = (t & 0x0f) * 2;
    else if (t >= 0x90 && t <= 0x9f) children = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf) skip = t & 0x1f;
    else {
      switch (t) {
        case 0xc4: // bin8
        case 0xd9: // str8
          need(1);
          skip = b[p++];
          break;
        case 0xc5:
        case 0xda:
          need(2);
          skip = u16();
          p += 2;
          break;
        case 0xc6:
        case 0xdb:
          need(4);
          skip = u32();
          p += 4;
          break;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xdc:
          need(2);
          children = u16();
          p += 2;
          break;
        case 0xdd:
          need(4);
          children = u32();
          p += 4;
          break;
        case 0xde:
          need(2);
          children = u16() * 2;
          p += 2;
          break;
        case 0xdf:
          need(4);
          children = u32() * 2;
          p += 4;
          break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8: {
          need(1);
          const type = b[p++];
          // d4: undefined (0), invalid Date (ff) or one of our wrappers; d6/d7: timestamps
          const ok = t === 0xd4
            ? type === 0 || type === 0xff || WRAPPING_EXT.has(type)
            : (t === 0xd6 || t === 0xd7) && type === 0xff;
          if (!ok) throw new ProtocolError(`unknown extension type ${type} at offset ${p - 2}`);
          skip = 1 << (t - 0xd4);
          if (t === 0xd4 && WRAPPING_EXT.has(type)) children = 1;
          break;
        }
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const w = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
          need(w + 1);
          skip = w === 1 ? b[p] : w === 2 ? u16() : u32();
          p += w;
          const type = b[p++];
          if (type !== 0xff) throw new ProtocolError(`unexpected extension type ${type}`);
          break;
        }
      }
    }
    if (skip > 0) {
      need(skip);
      p += skip;
    }
    if (children > 0) {
      // every child takes at least one byte: reject impossible counts before looping
      if (children > n - p) {
        throw new ProtocolError(`truncated msgpack: container of ${children} items at offset ${p}`);
      }
      depth++;
      if (depth > maxDepth) throw new ProtocolError(`msgpack nested deeper than ${maxDepth}`);
      remaining[depth] = children;
    }
  }
}
