/**
 * The value codec of the wire protocol: msgpack (msgpackr, `useRecords: false`) for the
 * structure, raw segments for the bytes.
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
 * Decoding validates the msgpack part before msgpackr sees it: one complete value, no trailing
 * bytes, nesting at most `maxDepth` (default 64), only the extension types this codec writes.
 * Garbage raises a {@linkcode ProtocolError}; it never crashes the process.
 *
 * @module
 */

import { Packr } from "msgpackr/pack";
import { addExtension, Unpackr } from "msgpackr/unpack";
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

// ---- extension boxes (private classes: registering them touches no one else's types) ----

const EXT_SEG = 0x50; // Uint8Array segment: payload = index
const EXT_TYPED = 0x51; // other byte views: payload = [index, kind]
const EXT_MAP = 0x52; // Map: payload = [k0, v0, k1, v1, ...]
const EXT_SET = 0x53; // Set: payload = [v0, v1, ...]
const EXT_BIGINT = 0x54; // bigint outside 64 bits: payload = decimal string
const EXT_ZC = 0x55; // zero-copy descriptor: payload = [version, [index...], meta]

class SegBox {
  constructor(readonly index: number) {}
}
class TypedBox {
  constructor(readonly index: number, readonly kind: number) {}
}
class MapBox {
  constructor(readonly flat: unknown[]) {}
}
class SetBox {
  constructor(readonly items: unknown[]) {}
}
class BigBox {
  constructor(readonly text: string) {}
}
class ZcBox {
  constructor(readonly payload: unknown[]) {}
}

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

/** The segments of the decode in progress (decoding is synchronous). */
let decoding: Uint8Array[] | null = null;

function segmentAt(index: unknown): Uint8Array {
  const segs = decoding;
  if (segs === null || typeof index !== "number" || !(index >= 0 && index < segs.length)) {
    throw new ProtocolError(`segment reference ${String(index)} out of range`);
  }
  return segs[index | 0];
}

addExtension({
  Class: SegBox,
  type: EXT_SEG,
  write: (b: SegBox) => b.index,
  read: (index: unknown) => segmentAt(index),
});
addExtension({
  Class: TypedBox,
  type: EXT_TYPED,
  write: (b: TypedBox) => [b.index, b.kind],
  read: (p: unknown) => {
    if (!Array.isArray(p) || p.length !== 2) throw new ProtocolError("bad typed-array reference");
    return toTyped(segmentAt(p[0]), p[1]);
  },
});
addExtension({
  Class: MapBox,
  type: EXT_MAP,
  write: (b: MapBox) => b.flat,
  read: (flat: unknown) => {
    if (!Array.isArray(flat) || flat.length % 2 !== 0) throw new ProtocolError("bad Map payload");
    const m = new Map();
    for (let i = 0; i < flat.length; i += 2) m.set(flat[i], flat[i + 1]);
    return m;
  },
});
addExtension({
  Class: SetBox,
  type: EXT_SET,
  write: (b: SetBox) => b.items,
  read: (items: unknown) => {
    if (!Array.isArray(items)) throw new ProtocolError("bad Set payload");
    return new Set(items);
  },
});
addExtension({
  Class: BigBox,
  type: EXT_BIGINT,
  write: (b: BigBox) => b.text,
  read: (text: unknown) => {
    if (typeof text !== "string" || !/^-?\d{1,100000}$/.test(text)) {
      throw new ProtocolError("bad bigint payload");
    }
    return BigInt(text);
  },
});
addExtension({
  Class: ZcBox,
  type: EXT_ZC,
  write: (b: ZcBox) => b.payload,
  read: (p: unknown) => {
    if (!Array.isArray(p) || p.length !== 3 || !Array.isArray(p[1]) || p[1].length === 0) {
      throw new ProtocolError("bad zero-copy descriptor payload");
    }
    const meta = (p[2] ?? {}) as Record<string, unknown>;
    return new ZeroCopyDescriptor(p[1].map(segmentAt), {
      version: typeof p[0] === "number" ? p[0] : 1,
      dtype: meta.dtype as string | undefined,
      shape: meta.shape as number[] | undefined,
      strides: meta.strides as number[] | undefined,
      transport: meta.transport as string | undefined,
      checksum: meta.checksum as string | undefined,
    });
  },
});

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

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr(
  {
    useRecords: false,
    mapsAsObjects: true,
    int64AsType: "bigint",
    copyBuffers: true,
  } as ConstructorParameters<typeof Unpackr>[0],
);

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n;

// ---- encoding ----

/** Walks a value, moving bytes out into segments; copies only the containers on the way. */
class Prep {
  readonly segments: Uint8Array[] = [];
  bytes = 0;
  constructor(readonly maxDepth: number, readonly mode: ZeroCopyMode) {}

  seg(b: Uint8Array): number {
    this.bytes += b.byteLength;
    return this.segments.push(b) - 1;
  }

  /** Throw unless `levels` more levels of nesting fit below `depth`. */
  room(depth: number, levels: number): void {
    if (depth + levels > this.maxDepth) {
      throw new TypeError(`value nested deeper than maxDepth ${this.maxDepth} (or cyclic)`);
    }
  }

  walk(v: unknown, depth: number): unknown {
    if (typeof v !== "object" || v === null) {
      if (typeof v === "bigint" && (v < MIN_I64 || v >= MAX_U64)) {
        this.room(depth, 1);
        return new BigBox(v.toString());
      }
      return v;
    }
    // Depth is counted as the decoder's validator counts it: every container and every
    // extension wrapper is one level.
    this.room(depth, 1);
    const C = (v as { constructor?: unknown }).constructor;
    if (C === Object || C === undefined) {
      if (this.mode !== "off" && (v as Partial<ZeroCopyable>)[zerocopy] !== undefined) {
        return this.zc(v, depth) ?? this.object(v as Record<string, unknown>, depth);
      }
      return this.object(v as Record<string, unknown>, depth);
    }
    if (C === Array) return this.array(v as unknown[], depth);
    if (v instanceof Uint8Array) return new SegBox(this.seg(v));
    if (ArrayBuffer.isView(v)) {
      const kind = KIND_OF.get(C) ?? (v instanceof DataView ? 1 : undefined);
      if (kind === undefined) return new SegBox(this.seg(bytesOf(v)));
      this.room(depth, 2);
      return new TypedBox(this.seg(bytesOf(v)), kind);
    }
    if (v instanceof ArrayBuffer) {
      this.room(depth, 2);
      return new TypedBox(this.seg(new Uint8Array(v)), 0);
    }
    if (v instanceof Date) return v;
    if (v instanceof Map) {
      this.room(depth, 2);
      const flat: unknown[] = new Array(v.size * 2);
      let i = 0;
      for (const [k, x] of v) {
        flat[i++] = this.walk(k, depth + 2);
        flat[i++] = this.walk(x, depth + 2);
      }
      return new MapBox(flat);
    }
    if (v instanceof Set) {
      this.room(depth, 2);
      const items: unknown[] = [];
      for (const x of v) items.push(this.walk(x, depth + 2));
      return new SetBox(items);
    }
    const zc = this.zc(v, depth);
    if (zc !== undefined) return zc;
    if (Array.isArray(v)) return this.array(v, depth);
    return this.object(v as Record<string, unknown>, depth, true);
  }

  zc(v: unknown, depth: number): ZcBox | undefined {
    const d = toZeroCopy(v, this.mode === "off" ? "off" : "auto");
    if (d === undefined) return undefined;
    this.room(depth, 4);
    return this.descriptor(d);
  }

  descriptor(d: ZeroCopyDescriptor): ZcBox {
    const meta: Record<string, unknown> = {};
    if (d.dtype !== undefined) meta.dtype = d.dtype;
    if (d.shape !== undefined) meta.shape = d.shape;
    if (d.strides !== undefined) meta.strides = d.strides;
    if (d.transport !== undefined) meta.transport = d.transport;
    if (d.checksum !== undefined) meta.checksum = d.checksum;
    return new ZcBox([d.version, d.buffers.map((b) => this.seg(b)), meta]);
  }

  array(a: unknown[], depth: number): unknown[] {
    let out: unknown[] | undefined;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      const y = this.walk(x, depth + 1);
      if (out === undefined && y !== x) out = a.slice(0, i);
      if (out !== undefined) out.push(y);
    }
    return out ?? a;
  }

  object(o: Record<string, unknown>, depth: number, always = false): Record<string, unknown> {
    const keys = Object.keys(o);
    let out: Record<string, unknown> | undefined = always ? {} : undefined;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const x = o[k];
      if (typeof x === "function" || typeof x === "symbol") continue;
      const y = this.walk(x, depth + 1);
      if (out === undefined && y !== x) {
        out = {};
        for (let j = 0; j < i; j++) setKey(out, keys[j], o[keys[j]]);
      }
      if (out !== undefined) setKey(out, k, y);
    }
    return out ?? o;
  }
}

function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") {
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  } else o[k] = v;
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

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
  const prep = new Prep(options.maxDepth ?? DEFAULT_MAX_DEPTH, mode);
  const shaped = prep.walk(value, 0);
  const meta = packr.pack(shaped) as Uint8Array;
  return { meta, segments: prep.segments, byteLength: meta.byteLength + prep.bytes };
}

// ---- decoding ----

/**
 * Decode what {@linkcode encodeValue} produced.
 *
 * @param meta The msgpack part. It may be a view into a buffer that is reused after the call:
 *   nothing of it is kept (strings are decoded, inline binaries copied).
 * @param segments The segments, in order. Decoded byte values are these very views.
 * @param options The depth limit.
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
): unknown {
  validateMsgpack(meta, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  const saved = decoding;
  decoding = segments;
  try {
    return unpackr.unpack(meta);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(`malformed msgpack: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
  } finally {
    decoding = saved;
  }
}

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
