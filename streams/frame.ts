/**
 * Framing over a byte stream: each message is a msgpack part (`meta`) plus optional raw
 * segments, sent as one frame when small, or as a `BEGIN` frame followed by `CHUNK` frames when
 * larger than the chunk threshold (64 KiB), so that one big message does not hold up the other
 * requests on the connection: the {@linkcode FrameWriter} interleaves the chunks of different
 * big messages with the small ones.
 *
 * Wire layout (integers big-endian):
 *
 * ```
 * u32 len        bytes that follow this field (the type byte included)
 * u8  type       1 = MSG, 2 = BEGIN, 3 = CHUNK
 * MSG    u16 nseg | u32 metaLen | u32 segLen × nseg | meta | seg 0 | ... | seg nseg-1
 * BEGIN  u32 mid  | u16 nseg    | u32 metaLen | u32 segLen × nseg
 * CHUNK  u32 mid  | data        (the next bytes of meta ++ seg 0 ++ ... of message `mid`)
 * ```
 *
 * The {@linkcode FrameDecoder} is push-based (the chunk handed to `push` is only valid during
 * the call), checks every length against its limits *before* allocating, allocates the exact
 * size of a big message's parts once when its `BEGIN` arrives and copies each byte at most once
 * from the read buffer into place.
 *
 * @module
 */

import type { BytePool } from "./pool.ts";
import { microtask } from "../core/runtime.ts";
import { ProtocolError } from "./codec.ts";

export { ProtocolError };

const T_MSG = 1;
const T_BEGIN = 2;
const T_CHUNK = 3;

/** Limits the decoder enforces (and the writer checks before sending). */
export interface FrameLimits {
  /** Largest single frame, in bytes (default 16 MiB). Checked before allocating. */
  maxFrameSize?: number;
  /** Largest reassembled message (meta plus segments), in bytes (default 256 MiB). */
  maxMessageSize?: number;
  /** Largest msgpack part of a message, in bytes (default 16 MiB). */
  maxHeaderSize?: number;
  /** Most segments in one message (default and hard maximum 65535). */
  maxSegments?: number;
  /** Most big messages being reassembled at once (default 64). */
  maxPartialMessages?: number;
  /** Most bytes allocated for big messages being reassembled at once (default 512 MiB). */
  maxPartialBytes?: number;
}

/** The defaults of {@linkcode FrameLimits}. */
export const DEFAULT_FRAME_LIMITS: Readonly<Required<FrameLimits>> = Object.freeze({
  maxFrameSize: 16 * 1024 * 1024,
  maxMessageSize: 256 * 1024 * 1024,
  maxHeaderSize: 16 * 1024 * 1024,
  maxSegments: 65535,
  maxPartialMessages: 64,
  maxPartialBytes: 512 * 1024 * 1024,
});

function limitsOf(l: FrameLimits | undefined): Required<FrameLimits> {
  const r = { ...DEFAULT_FRAME_LIMITS, ...l };
  r.maxSegments = Math.min(r.maxSegments, 65535);
  return r;
}

/**
 * Called for each complete message: its msgpack part is `buf[start, end)` — `buf` may be the
 * read buffer itself, valid only during the call (a handler that keeps the bytes copies them);
 * `segments` are owned by the callee (they are never reused). Passing a range rather than a
 * view saves one object per message on the hot path.
 */
export type MessageHandler = (
  buf: Uint8Array,
  segments: Uint8Array[],
  start: number,
  end: number,
) => void;

interface Partial {
  parts: Uint8Array[]; // meta, then the segments, each allocated at its exact size
  total: number;
  filled: number;
  part: number; // index of the part being filled
  offset: number; // offset inside that part
}

const S_PREFIX = 0;
const S_BODY = 1; // filling `body` (MSG or BEGIN frame)
const S_CHUNK_ID = 2;
const S_CHUNK_DATA = 3;
const S_FAILED = 4;

/**
 * Reassembles messages from a byte stream fed in arbitrary pieces.
 *
 * @example
 * ```ts
 * import { FrameDecoder, frameMessage } from "./frame.ts";
 * const got: Uint8Array[][] = [];
 * const dec = new FrameDecoder((buf, segs, start, end) => got.push([buf.slice(start, end), ...segs]));
 * const out = frameMessage(new Uint8Array([0xc0]), [new Uint8Array([1, 2, 3])]);
 * for (const part of out.parts!) for (const byte of part) dec.push(new Uint8Array([byte]));
 * console.log(got.length, got[0][1]); // 1 Uint8Array(3) [ 1, 2, 3 ]
 * ```
 */
export class FrameDecoder {
  readonly #onMessage: MessageHandler;
  readonly #limits: Required<FrameLimits>;
  #state = S_PREFIX;
  readonly #pre = new Uint8Array(5);
  #preN = 0;
  #type = 0;
  #body: Uint8Array = new Uint8Array(0);
  #bodyN = 0;
  #chunkLeft = 0; // CHUNK data bytes still to read
  #chunkMid = 0; // the message the current CHUNK belongs to
  #chunk: Partial | undefined;
  #partials = new Map<number, Partial>();
  #partialBytes = 0;
  #error: ProtocolError | undefined;
  #frames = 0;
  readonly #pool: BytePool | undefined;

  /**
   * Create a decoder.
   *
   * @param onMessage Called synchronously, from inside {@linkcode FrameDecoder.push}, for every
   *   complete message.
   * @param limits Size limits (see {@linkcode FrameLimits}).
   * @param pool Where the segments of big (chunked) messages are allocated: each one is then a
   *   buffer of the pool's, which the receiver may {@linkcode BytePool.give} back when done.
   */
  constructor(onMessage: MessageHandler, limits?: FrameLimits, pool?: BytePool) {
    this.#onMessage = onMessage;
    this.#limits = limitsOf(limits);
    this.#pool = pool;
  }

  /** Bytes currently allocated for big messages being reassembled. */
  get partialBytes(): number {
    return this.#partialBytes;
  }

  /** Frames completely received so far (a measure of progress). */
  get frames(): number {
    return this.#frames;
  }

  /** Whether the stream is between frames with no big message in reassembly. */
  get atBoundary(): boolean {
    return this.#state === S_PREFIX && this.#preN === 0 && this.#partials.size === 0;
  }

  /**
   * Feed bytes. Complete messages are delivered before this returns. The chunk is not kept.
   *
   * @param chunk The next bytes of the stream (only valid during the call).
   * @throws {ProtocolError} On malformed input or an exceeded limit; the decoder then stays
   *   failed and throws the same error on every later call.
   */
  push(chunk: Uint8Array): void {
    if (this.#state === S_FAILED) throw this.#error!;
    try {
      this.#push(chunk);
    } catch (e) {
      if (e instanceof ProtocolError) this.#fail(e);
      throw e;
    }
  }

  #fail(e: ProtocolError): void {
    this.#state = S_FAILED;
    this.#error = e;
    this.#partials.clear();
    this.#partialBytes = 0;
    this.#chunk = undefined;
    this.#body = new Uint8Array(0);
  }

  #push(c: Uint8Array): void {
    const n = c.length;
    let p = 0;
    while (p < n) {
      switch (this.#state) {
        case S_PREFIX: {
          if (this.#preN === 0 && n - p >= 5) {
            // fast path: the whole prefix is here
            const len = readU32(c, p);
            const type = c[p + 4];
            p += 5;
            p = this.#afterPrefix(len, type, c, p);
          } else {
            const k = Math.min(5 - this.#preN, n - p);
            this.#pre.set(c.subarray(p, p + k), this.#preN);
            this.#preN += k;
            p += k;
            if (this.#preN === 5) {
              this.#preN = 0;
              p = this.#afterPrefix(readU32(this.#pre, 0), this.#pre[4], c, p);
            }
          }
          break;
        }
        case S_BODY: {
          const k = Math.min(this.#body.length - this.#bodyN, n - p);
          this.#body.set(c.subarray(p, p + k), this.#bodyN);
          this.#bodyN += k;
          p += k;
          if (this.#bodyN === this.#body.length) {
            const body = this.#body;
            this.#body = EMPTY;
            this.#state = S_PREFIX;
            if (this.#type === T_MSG) this.#msg(body, 0, body.length, true);
            else this.#begin(body);
          }
          break;
        }
        case S_CHUNK_ID: {
          const k = Math.min(4 - this.#preN, n - p);
          this.#pre.set(c.subarray(p, p + k), this.#preN);
          this.#preN += k;
          p += k;
          if (this.#preN === 4) {
            this.#preN = 0;
            this.#startChunk(readU32(this.#pre, 0));
          }
          break;
        }
        case S_CHUNK_DATA: {
          p = this.#fillChunk(c, p);
          break;
        }
        default:
          throw this.#error!;
      }
    }
  }

  /** Handle a frame prefix; returns the new read position. */
  #afterPrefix(len: number, type: number, c: Uint8Array, p: number): number {
    const L = this.#limits;
    if (len < 1) throw new ProtocolError("empty frame");
    if (len - 1 > L.maxFrameSize) {
      throw new ProtocolError(`frame of ${len - 1} bytes exceeds maxFrameSize ${L.maxFrameSize}`);
    }
    const bodyLen = len - 1;
    this.#type = type;
    if (type === T_MSG) {
      if (bodyLen < 6) throw new ProtocolError(`MSG frame too short (${bodyLen} bytes)`);
      if (c.length - p >= bodyLen) {
        // the whole frame is in this chunk: parse it in place
        this.#msg(c, p, p + bodyLen, false);
        return p + bodyLen;
      }
    } else if (type === T_BEGIN) {
      if (bodyLen < 10 || bodyLen > 10 + 4 * L.maxSegments) {
        throw new ProtocolError(`BEGIN frame of bad size ${bodyLen}`);
      }
      if (c.length - p >= bodyLen) {
        this.#begin(c.subarray(p, p + bodyLen));
        return p + bodyLen;
      }
    } else if (type === T_CHUNK) {
      if (bodyLen < 5) throw new ProtocolError(`CHUNK frame too short (${bodyLen} bytes)`);
      this.#chunkLeft = bodyLen - 4;
      if (c.length - p >= 4) {
        this.#startChunk(readU32(c, p));
        return p + 4;
      }
      this.#state = S_CHUNK_ID;
      this.#preN = 0;
      return p;
    } else {
      throw new ProtocolError(`unknown frame type ${type}`);
    }
    // the frame continues in later chunks: allocate its exact size (bounded above), fill it
    this.#body = new Uint8Array(bodyLen);
    this.#bodyN = 0;
    this.#state = S_BODY;
    return p;
  }

  /** Check the msgpack length of a MSG frame without segments against the limits and the frame. */
  #checkMetaLen(metaLen: number, frameLen: number): void {
    if (metaLen > this.#limits.maxHeaderSize) {
      throw new ProtocolError(
        `header of ${metaLen} bytes exceeds maxHeaderSize ${this.#limits.maxHeaderSize}`,
      );
    }
    if (metaLen > this.#limits.maxMessageSize) {
      throw new ProtocolError(
        `message of ${metaLen} bytes exceeds maxMessageSize ${this.#limits.maxMessageSize}`,
      );
    }
    if (6 + metaLen !== frameLen) {
      throw new ProtocolError(`MSG frame of ${frameLen} bytes does not match its table`);
    }
  }

  /** Parse the segment table shared by MSG and BEGIN; returns [metaLen, segLens, headerEnd]. */
  #table(f: Uint8Array, at: number): [number, number[], number, number] {
    const L = this.#limits;
    const nseg = (f[at] << 8) | f[at + 1];
    const metaLen = readU32(f, at + 2);
    const end = at + 6 + 4 * nseg;
    if (nseg > L.maxSegments) {
      throw new ProtocolError(`${nseg} segments exceed maxSegments ${L.maxSegments}`);
    }
    if (end > f.length) throw new ProtocolError("segment table truncated");
    if (metaLen > L.maxHeaderSize) {
      throw new ProtocolError(
        `header of ${metaLen} bytes exceeds maxHeaderSize ${L.maxHeaderSize}`,
      );
    }
    const lens: number[] = new Array(nseg);
    let total = metaLen;
    for (let i = 0; i < nseg; i++) {
      const s = readU32(f, at + 6 + 4 * i);
      lens[i] = s;
      total += s;
    }
    if (total > L.maxMessageSize) {
      throw new ProtocolError(
        `message of ${total} bytes exceeds maxMessageSize ${L.maxMessageSize}`,
      );
    }
    return [metaLen, lens, end, total];
  }

  /** The MSG frame `buf[from, to)`; `owned`: `buf` is the frame's own copy (it may be kept). */
  #msg(buf: Uint8Array, from: number, to: number, owned: boolean): void {
    this.#frames++;
    if (buf[from] === 0 && buf[from + 1] === 0) {
      // no segments (most small messages): no table, no view object
      this.#checkMetaLen(readU32(buf, from + 2), to - from);
      this.#onMessage(buf, NO_SEGMENTS, from + 6, to);
      return;
    }
    const f = from === 0 && to === buf.length ? buf : buf.subarray(from, to);
    const [metaLen, lens, start, total] = this.#table(f, 0);
    if (start + total !== f.length) {
      throw new ProtocolError(`MSG frame of ${f.length} bytes does not match its table`);
    }
    let segs: Uint8Array[] = NO_SEGMENTS;
    if (lens.length > 0) {
      // segments must outlive the call: copy them once, together, unless the frame is ours
      let base = start + metaLen;
      const src = owned ? f : f.slice(base);
      if (!owned) base = 0;
      segs = new Array(lens.length);
      for (let i = 0; i < lens.length; i++) {
        segs[i] = src.subarray(base, base + lens[i]);
        base += lens[i];
      }
    }
    this.#onMessage(f, segs, start, start + metaLen);
  }

  #begin(f: Uint8Array): void {
    this.#frames++;
    const L = this.#limits;
    const mid = readU32(f, 0);
    const [metaLen, lens, end, total] = this.#table(f, 4);
    if (end !== f.length) throw new ProtocolError("BEGIN frame does not match its table");
    if (this.#partials.has(mid)) throw new ProtocolError(`duplicate BEGIN for message ${mid}`);
    if (this.#partials.size >= L.maxPartialMessages) {
      throw new ProtocolError(`more than ${L.maxPartialMessages} messages in reassembly`);
    }
    if (this.#partialBytes + total > L.maxPartialBytes) {
      throw new ProtocolError(
        `reassembly would hold ${
          this.#partialBytes + total
        } bytes, over maxPartialBytes ${L.maxPartialBytes}`,
      );
    }
    const parts: Uint8Array[] = [new Uint8Array(metaLen)];
    const pool = this.#pool;
    for (const s of lens) parts.push(pool === undefined ? new Uint8Array(s) : pool.take(s));
    const pm: Partial = { parts, total, filled: 0, part: 0, offset: 0 };
    this.#partialBytes += total;
    if (total === 0) {
      this.#finish(pm);
      return;
    }
    this.#partials.set(mid, pm);
  }

  #startChunk(mid: number): void {
    const pm = this.#partials.get(mid);
    if (pm === undefined) throw new ProtocolError(`CHUNK for unknown message ${mid}`);
    if (this.#chunkLeft > pm.total - pm.filled) {
      throw new ProtocolError(`CHUNK overruns message ${mid}`);
    }
    this.#chunk = pm;
    this.#state = S_CHUNK_DATA;
    this.#chunkMid = mid;
  }

  #fillChunk(c: Uint8Array, p: number): number {
    const pm = this.#chunk!;
    let left = Math.min(this.#chunkLeft, c.length - p);
    this.#chunkLeft -= left;
    pm.filled += left;
    while (left > 0) {
      const dst = pm.parts[pm.part];
      const k = Math.min(dst.length - pm.offset, left);
      dst.set(c.subarray(p, p + k), pm.offset);
      pm.offset += k;
      p += k;
      left -= k;
      if (pm.offset === dst.length) {
        pm.part++;
        pm.offset = 0;
      }
    }
    if (this.#chunkLeft === 0) this.#chunkEnd(pm);
    return p;
  }

  /** The current CHUNK frame is complete: back to frame prefixes; deliver a complete message. */
  #chunkEnd(pm: Partial): void {
    this.#frames++;
    this.#state = S_PREFIX;
    this.#chunk = undefined;
    if (pm.filled === pm.total) {
      this.#partials.delete(this.#chunkMid);
      this.#finish(pm);
    }
  }

  /**
   * Where the next bytes of the stream may be read directly, with no copy: a view into the
   * message being reassembled, when the current chunk has at least `min` bytes left for the
   * current part. A transport that can read into a given buffer reads there and then calls
   * {@linkcode FrameDecoder.placed}; otherwise it keeps calling `push`.
   *
   * @param min Smallest target worth a direct read (default 65536).
   * @returns The view, or `undefined` when the next bytes must go through `push`.
   */
  readTarget(min = 65536): Uint8Array | undefined {
    if (this.#state !== S_CHUNK_DATA) return undefined;
    const pm = this.#chunk!;
    const dst = pm.parts[pm.part];
    const k = Math.min(dst.length - pm.offset, this.#chunkLeft);
    if (k < min) return undefined;
    return dst.subarray(pm.offset, pm.offset + k);
  }

  /**
   * Account for `n` bytes a transport read into the view {@linkcode FrameDecoder.readTarget}
   * returned (completing the message when they were its last).
   *
   * @param n Bytes read (at most the view's length).
   * @throws {ProtocolError} When the decoder has failed, or `n` exceeds the view.
   */
  placed(n: number): void {
    if (this.#state === S_FAILED) throw this.#error!;
    if (this.#state !== S_CHUNK_DATA) throw new ProtocolError("placed() without a read target");
    const pm = this.#chunk!;
    const dst = pm.parts[pm.part];
    if (n > dst.length - pm.offset || n > this.#chunkLeft) {
      throw new ProtocolError("placed() beyond the read target");
    }
    this.#chunkLeft -= n;
    pm.filled += n;
    pm.offset += n;
    if (pm.offset === dst.length) {
      pm.part++;
      pm.offset = 0;
    }
    if (this.#chunkLeft === 0) this.#chunkEnd(pm);
  }

  #finish(pm: Partial): void {
    this.#partialBytes -= pm.total;
    const meta = pm.parts[0];
    this.#onMessage(meta, pm.parts.slice(1), 0, meta.length);
  }
}

const EMPTY = new Uint8Array(0);
const NO_SEGMENTS: Uint8Array[] = [];

function readU32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

// ---- sending ----

/** Options of {@linkcode frameMessage} and {@linkcode FrameWriter}. */
export interface FrameSendOptions extends FrameLimits {
  /** Messages larger than this are chunked (default 65536 bytes). */
  chunkThreshold?: number;
  /**
   * Size of each chunk's data (default 1 MiB; at least 4096). The last chunk of a message
   * takes a tail of up to a quarter chunk more rather than leaving it to a frame of its own.
   */
  chunkSize?: number;
}

/**
 * A message ready to go out: either `parts` (one frame) or a chunked sender.
 */
export interface FramedMessage {
  /** The whole frame, as views (segments are not copied). Set for small messages. */
  parts?: Uint8Array[];
  /** The chunked form, set for big messages. */
  chunked?: ChunkedMessage;
  /** Total payload bytes (meta plus segments). */
  byteLength: number;
}

/**
 * A big message cut into a BEGIN frame and CHUNK frames on demand, each chunk a list of views
 * into the original segments.
 *
 * @example
 * ```ts
 * import { frameMessage } from "./frame.ts";
 * const m = frameMessage(new Uint8Array([0xc0]), [new Uint8Array(200_000)], { chunkSize: 65536 });
 * const c = m.chunked!;
 * let frames = 1; // BEGIN
 * while (!c.done) { c.take([]); frames++; }
 * console.log(frames); // 5
 * ```
 */
export class ChunkedMessage {
  /** The BEGIN frame. */
  readonly begin: Uint8Array;
  readonly #src: Uint8Array[];
  readonly #lens: number[];
  readonly #mid: number;
  readonly #chunkSize: number;
  readonly #maxChunk: number;
  #i = 0;
  #off = 0;
  #left: number;
  #begun = false;

  /** @internal Use {@linkcode frameMessage}. */
  constructor(
    mid: number,
    meta: Uint8Array,
    segments: Uint8Array[],
    total: number,
    chunk: number,
    maxChunk: number = chunk,
  ) {
    this.#mid = mid;
    this.#chunkSize = chunk;
    this.#maxChunk = Math.max(chunk, maxChunk);
    this.#src = [meta, ...segments];
    this.#lens = this.#src.map((b) => b.length);
    this.#left = total;
    const b = new Uint8Array(4 + 1 + 4 + 6 + 4 * segments.length);
    writeU32(b, 0, b.length - 4);
    b[4] = T_BEGIN;
    writeU32(b, 5, mid);
    b[9] = segments.length >>> 8;
    b[10] = segments.length;
    writeU32(b, 11, meta.length);
    for (let i = 0; i < segments.length; i++) writeU32(b, 15 + 4 * i, segments[i].length);
    this.begin = b;
  }

  /** Whether every chunk has been taken. */
  get done(): boolean {
    return this.#begun && this.#left === 0;
  }

  /**
   * Append the next frame (BEGIN first, then one CHUNK) to `out`.
   *
   * @param out The list to append views to.
   * @returns The number of bytes appended.
   */
  take(out: Uint8Array[]): number {
    if (!this.#begun) {
      this.#begun = true;
      out.push(this.begin);
      if (this.#left === 0) return this.begin.length;
      return this.begin.length + this.take(out);
    }
    let n = Math.min(this.#chunkSize, this.#left);
    if (n === 0) return 0;
    // A short tail rides along in this chunk (up to a quarter chunk more, within the frame
    // limit) rather than as a frame of its own: the msgpack part shifts the segments by a few
    // bytes, and a tiny last chunk would cost the peer one more read before the message is
    // complete.
    if (this.#left - n <= this.#chunkSize >>> 2 && this.#left <= this.#maxChunk) n = this.#left;
    const h = new Uint8Array(9);
    writeU32(h, 0, n + 5);
    h[4] = T_CHUNK;
    writeU32(h, 5, this.#mid);
    out.push(h);
    let left = n;
    while (left > 0) {
      const s = this.#src[this.#i];
      if (s.length !== this.#lens[this.#i]) throw new Error(DETACHED); // lost its memory since
      const k = Math.min(s.length - this.#off, left);
      if (k > 0) {
        out.push(this.#off === 0 && k === s.length ? s : s.subarray(this.#off, this.#off + k));
      }
      this.#off += k;
      left -= k;
      if (this.#off === s.length) {
        this.#i++;
        this.#off = 0;
      }
    }
    this.#left -= n;
    return n + 9;
  }
}

let nextMid = 1;

/**
 * Frame one message. Small messages become one frame (`parts`); messages over the chunk
 * threshold become a {@linkcode ChunkedMessage}.
 *
 * @param meta The msgpack part.
 * @param segments The raw segments (kept as views, never copied).
 * @param options Chunking options and limits.
 * @returns The framed message.
 * @throws {RangeError} When the message breaks a limit (`maxHeaderSize`, `maxMessageSize`,
 *   `maxSegments`): nothing is sent.
 *
 * @example
 * ```ts
 * import { frameMessage } from "./frame.ts";
 * const seg = new Uint8Array(10);
 * const m = frameMessage(new Uint8Array([0x90]), [seg]);
 * console.log(m.parts!.includes(seg)); // true: the segment itself goes to the socket
 * ```
 */
export function frameMessage(
  meta: Uint8Array,
  segments: Uint8Array[],
  options: FrameSendOptions = {},
): FramedMessage {
  const L = limitsOf(options);
  const nseg = segments.length;
  if (nseg > L.maxSegments) {
    throw new RangeError(`message has ${nseg} segments, over maxSegments ${L.maxSegments}`);
  }
  if (meta.length > L.maxHeaderSize) {
    throw new RangeError(`header of ${meta.length} bytes exceeds maxHeaderSize ${L.maxHeaderSize}`);
  }
  let total = meta.length;
  for (let i = 0; i < nseg; i++) total += segments[i].length;
  if (total > L.maxMessageSize) {
    throw new RangeError(`message of ${total} bytes exceeds maxMessageSize ${L.maxMessageSize}`);
  }
  const threshold = Math.min(options.chunkThreshold ?? 65536, L.maxFrameSize - 64 - 4 * nseg);
  if (total <= threshold) {
    const h = new Uint8Array(11 + 4 * nseg);
    writeU32(h, 0, h.length - 4 + total);
    h[4] = T_MSG;
    h[5] = nseg >>> 8;
    h[6] = nseg;
    writeU32(h, 7, meta.length);
    for (let i = 0; i < nseg; i++) writeU32(h, 11 + 4 * i, segments[i].length);
    const parts = [h, meta];
    for (let i = 0; i < nseg; i++) if (segments[i].length > 0) parts.push(segments[i]);
    return { parts, byteLength: total };
  }
  const chunk = Math.max(4096, Math.min(options.chunkSize ?? 1048576, L.maxFrameSize - 8));
  const mid = nextMid;
  nextMid = nextMid >= 0xffffffff ? 1 : nextMid + 1;
  const maxChunk = Math.max(chunk, L.maxFrameSize - 8);
  return {
    chunked: new ChunkedMessage(mid, meta, segments, total, chunk, maxChunk),
    byteLength: total,
  };
}

// ---- the writer ----

interface Pending {
  framed: FramedMessage;
  lane: unknown;
  done?: (err?: Error) => void;
  followers?: Pending[];
}

/** Options of {@linkcode FrameWriter}. */
export interface FrameWriterOptions extends FrameSendOptions {
  /** Most chunk bytes put into one write, shared among the big messages (default 4 MiB). */
  maxBatchBytes?: number;
  /**
   * Write at once, without waiting for the end of the turn, when this many small messages are
   * queued and no write is in flight (default 16). Under load this lets the peer start on the
   * first messages while this side is still producing the rest.
   */
  eagerFlushMessages?: number;
  /**
   * Called once when the writer fails on its own (not because `write` failed): a queued byte
   * segment was detached before it could be written. Everything queued has failed with the same
   * error; the owner should close the connection.
   */
  onFatal?: (err: Error) => void;
}

/** Why a batch could not be written when a queued segment lost its memory. */
const DETACHED = "a byte segment was detached before it was written " +
  "(a Uint8Array lent to an actor method, used after the method's result settled?)";

/** Byte views shorter than this are copied into the batch buffer rather than written as views. */
const COPY_BELOW = 8192;

/** Something that holds an encoded message: `buf[0, pos)` is the msgpack part. */
export interface EncodedSource {
  /** Buffer holding the msgpack part at its start. */
  readonly buf: Uint8Array;
  /** Length of the msgpack part. */
  readonly pos: number;
  /** The segments (the writer keeps this array: the source must start a new one). */
  readonly segments: Uint8Array[];
  /** Total bytes of the segments. */
  readonly segmentBytes: number;
}

/**
 * Queues messages and writes them in batches: everything queued in one turn of the event loop
 * goes out in one `write` call, and while a write is in flight new messages accumulate for the
 * next one. Small messages are copied, header and msgpack part, straight into one reused batch
 * buffer (no allocation per message); byte segments of 8 KiB or more are handed to `write` as
 * the caller's own views. Big messages are sent a chunk at a time, round-robin, interleaved
 * with small ones. Messages on the same `lane` keep their order (a small message never
 * overtakes a big one on its lane); messages on different lanes (or without a lane) may be
 * reordered around big ones.
 *
 * The batch buffer handed to `write` is reused once the promise `write` returned has resolved:
 * `write` must have consumed (sent or copied) its buffers by then, as `Conn.write` does.
 *
 * @example
 * ```ts
 * import { FrameWriter } from "./frame.ts";
 * const writes: Uint8Array[][] = [];
 * const w = new FrameWriter((chunks) => Promise.resolve(void writes.push(chunks)));
 * w.send(new Uint8Array([0xc0]), []);
 * w.send(new Uint8Array([0xc3]), []);
 * await w.flushed();
 * console.log(writes.length); // 1: both messages in one write
 * ```
 */
export class FrameWriter {
  readonly #write: (chunks: Uint8Array[]) => Promise<void>;
  readonly #opts: FrameWriterOptions;
  readonly #limits: Required<FrameLimits>;
  readonly #budget: number;
  readonly #threshold: number;
  readonly #eager: number;
  // the batch being built: bytes in #buf[#mark, #len) not yet cut into #out
  #buf: Uint8Array = new Uint8Array(16384);
  #spare: Uint8Array | undefined = new Uint8Array(16384);
  #len = 0;
  #mark = 0;
  #out: Uint8Array[] = [];
  #small = 0;
  #dones: ((err?: Error) => void)[] = [];
  // The write in flight (one at a time): its batch buffer, views and callbacks. Its arrays are
  // emptied and reused for a later batch once it completes, so a flush allocates no arrays.
  #wBuf: Uint8Array | undefined;
  #wOut: Uint8Array[] | undefined;
  #wDones: ((err?: Error) => void)[] | undefined;
  #spareOut: Uint8Array[] | undefined = [];
  #spareDones: ((err?: Error) => void)[] | undefined = [];
  #big: Pending[] = [];
  #lanes = new Map<unknown, Pending>();
  #inFlight = false;
  #scheduled = false;
  #error: Error | undefined;
  #idle: (() => void)[] = [];

  /**
   * Create a writer.
   *
   * @param write Writes buffers in order (typically `conn.write`).
   * @param options Chunking options and limits.
   */
  constructor(write: (chunks: Uint8Array[]) => Promise<void>, options: FrameWriterOptions = {}) {
    this.#write = write;
    this.#opts = { ...options };
    this.#limits = limitsOf(options);
    this.#budget = options.maxBatchBytes ?? 4 * 1024 * 1024;
    this.#threshold = options.chunkThreshold ?? 65536;
    this.#eager = Math.max(1, options.eagerFlushMessages ?? 16);
  }

  /** Messages (and big messages) not yet fully handed to `write`. */
  get queued(): number {
    return this.#small + this.#big.length;
  }

  /**
   * Queue a message.
   *
   * @param meta The msgpack part (copied at once when small: the caller may reuse it).
   * @param segments The raw segments (kept as views until written).
   * @param lane Messages with the same lane (any value but `undefined`) keep their order.
   * @param done Called once the message's last byte is handed to `write` (no argument), or
   *   with the error when it cannot be sent.
   * @throws {RangeError} When the message breaks a limit (nothing is queued).
   */
  send(
    meta: Uint8Array,
    segments: Uint8Array[],
    lane?: unknown,
    done?: (err?: Error) => void,
  ): void {
    let segBytes = 0;
    for (let i = 0; i < segments.length; i++) segBytes += segments[i].length;
    this.#queue(meta, meta.length, segments, segBytes, lane, done);
  }

  /**
   * Queue the message an encoder holds (see `ValueEncoder` in `codec.ts`): its msgpack part is
   * copied into the batch (or, for a big message, into a buffer of its own) before this
   * returns, so the encoder can be reused at once.
   *
   * @param src The encoder.
   * @param lane Ordering lane, as in {@linkcode FrameWriter.send}.
   * @param done Completion callback, as in {@linkcode FrameWriter.send}.
   * @throws {RangeError} When the message breaks a limit (nothing is queued).
   */
  sendEncoded(src: EncodedSource, lane?: unknown, done?: (err?: Error) => void): void {
    this.#queue(src.buf, src.pos, src.segments, src.segmentBytes, lane, done);
  }

  #queue(
    metaBuf: Uint8Array,
    metaLen: number,
    segments: Uint8Array[],
    segBytes: number,
    lane: unknown,
    done: ((err?: Error) => void) | undefined,
  ): void {
    const L = this.#limits;
    const nseg = segments.length;
    if (nseg > L.maxSegments) {
      throw new RangeError(`message has ${nseg} segments, over maxSegments ${L.maxSegments}`);
    }
    if (metaLen > L.maxHeaderSize) {
      throw new RangeError(`header of ${metaLen} bytes exceeds maxHeaderSize ${L.maxHeaderSize}`);
    }
    const total = metaLen + segBytes;
    if (total > L.maxMessageSize) {
      throw new RangeError(`message of ${total} bytes exceeds maxMessageSize ${L.maxMessageSize}`);
    }
    if (this.#error !== undefined) {
      done?.(this.#error);
      return;
    }
    const held = lane !== undefined && this.#lanes.size > 0 ? this.#lanes.get(lane) : undefined;
    const small = total <= Math.min(this.#threshold, L.maxFrameSize - 64 - 4 * nseg);
    if (small && held === undefined) {
      this.#appendSmall(metaBuf, metaLen, segments, total);
      if (done !== undefined) this.#dones.push(done);
      if (
        ++this.#small >= this.#eager && !this.#inFlight && this.#error === undefined
      ) {
        // Enough for one write: send it now (the peer starts on it while we go on) instead of
        // at the end of the turn. What follows goes out when this write completes.
        this.#flush();
        return;
      }
    } else {
      const meta = metaBuf.slice(0, metaLen);
      const p: Pending = {
        framed: frameMessage(meta, nseg > 0 ? segments.slice() : segments, this.#opts),
        lane,
        done,
      };
      this.#dispatch(p);
    }
    this.#schedule();
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.#buf.subarray(this.#mark, this.#len), this.#mark);
    // bytes before #mark are already cut into #out as views of the old buffer
    this.#buf = nb;
  }

  /** Append a view: copied when short, else cut the batch and hand the view over as it is. */
  #appendView(v: Uint8Array): void {
    if (v.length < COPY_BELOW) {
      this.#reserve(v.length);
      this.#buf.set(v, this.#len);
      this.#len += v.length;
      return;
    }
    if (this.#len > this.#mark) this.#out.push(this.#buf.subarray(this.#mark, this.#len));
    this.#mark = this.#len;
    this.#out.push(v);
  }

  #appendSmall(metaBuf: Uint8Array, metaLen: number, segs: Uint8Array[], total: number): void {
    const nseg = segs.length;
    const hl = 11 + 4 * nseg;
    this.#reserve(hl + metaLen);
    const b = this.#buf;
    let o = this.#len;
    writeU32(b, o, hl - 4 + total);
    b[o + 4] = T_MSG;
    b[o + 5] = nseg >>> 8;
    b[o + 6] = nseg;
    writeU32(b, o + 7, metaLen);
    o += 11;
    for (let i = 0; i < nseg; i++, o += 4) writeU32(b, o, segs[i].length);
    if (metaLen < 64) {
      for (let i = 0; i < metaLen; i++) b[o + i] = metaBuf[i];
    } else b.set(metaBuf.subarray(0, metaLen), o);
    this.#len = o + metaLen;
    for (let i = 0; i < nseg; i++) if (segs[i].length > 0) this.#appendView(segs[i]);
  }

  /** Resolves when everything queued so far has been handed to `write`. */
  flushed(): Promise<void> {
    if (!this.#inFlight && !this.#scheduled && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Stop: fail every queued message with `err`; later sends fail at once.
   *
   * @param err The reason.
   */
  close(err: Error): void {
    if (this.#error !== undefined) return;
    this.#error = err;
    const dones = this.#dones;
    this.#dones = [];
    this.#small = 0;
    this.#out = [];
    this.#len = this.#mark = 0;
    const big = this.#big;
    this.#big = [];
    this.#lanes.clear();
    for (const d of dones) d(err);
    const failAll = (ps: Pending[]): void => {
      for (const p of ps) {
        p.done?.(err);
        if (p.followers) failAll(p.followers);
      }
    };
    failAll(big);
    this.#wakeIdle();
  }

  #dispatch(p: Pending): void {
    if (p.lane !== undefined) {
      const holder = this.#lanes.get(p.lane);
      if (holder !== undefined) {
        (holder.followers ??= []).push(p);
        return;
      }
    }
    const parts = p.framed.parts;
    if (parts !== undefined) {
      for (let i = 0; i < parts.length; i++) this.#appendView(parts[i]);
      if (p.done) this.#dones.push(p.done);
      this.#small++;
    } else {
      this.#big.push(p);
      if (p.lane !== undefined) this.#lanes.set(p.lane, p);
    }
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled) return;
    this.#scheduled = true;
    microtask(this.#flush);
  }

  #flush = (): void => {
    try {
      this.#flushNow();
    } catch (e) {
      // nothing of this batch was written: fail everything queued rather than throw from a
      // microtask (or send a frame shorter than its header says)
      const err = e instanceof TypeError && /detached/i.test(e.message)
        ? new Error(DETACHED, { cause: e })
        : e instanceof Error
        ? e
        : new Error(String(e));
      this.close(err);
      this.#opts.onFatal?.(err);
    }
  };

  #flushNow(): void {
    this.#scheduled = false;
    if (this.#error !== undefined || this.#inFlight) return;
    let finished: Pending[] | undefined;
    if (this.#big.length > 0) {
      let budget = this.#budget;
      const views: Uint8Array[] = [];
      while (budget > 0 && this.#big.length > 0) {
        for (let i = 0; i < this.#big.length && budget > 0;) {
          const p = this.#big[i];
          const c = p.framed.chunked!;
          views.length = 0;
          budget -= c.take(views);
          for (let k = 0; k < views.length; k++) this.#appendView(views[k]);
          if (c.done) {
            this.#big.splice(i, 1);
            if (p.done) this.#dones.push(p.done);
            (finished ??= []).push(p);
          } else i++;
        }
      }
    }
    if (finished !== undefined) {
      // release the lanes; their followers go out from the next write on, in order
      for (const p of finished) {
        if (p.lane !== undefined) this.#lanes.delete(p.lane);
        if (p.followers) { for (const f of p.followers) this.#dispatch(f); }
      }
    }
    if (this.#len > this.#mark) this.#out.push(this.#buf.subarray(this.#mark, this.#len));
    const out = this.#out;
    if (out.length === 0) {
      this.#wakeIdle();
      return;
    }
    // every view queued was non-empty: an empty one now lost its memory since (detached)
    for (let i = 0; i < out.length; i++) {
      if (out[i].byteLength === 0) throw new Error(DETACHED);
    }
    this.#wBuf = this.#buf;
    this.#wOut = out;
    this.#wDones = this.#dones;
    // the next batch goes into the spare buffer (and arrays) while this one is being written
    this.#buf = this.#spare ?? new Uint8Array(16384);
    this.#spare = undefined;
    this.#out = this.#spareOut ?? [];
    this.#spareOut = undefined;
    this.#dones = this.#spareDones ?? [];
    this.#spareDones = undefined;
    this.#len = this.#mark = 0;
    this.#small = 0;
    this.#inFlight = true;
    this.#write(out).then(this.#onWritten, this.#onWriteFailed);
  }

  /** The write in flight completed (made once: a flush allocates no closures). */
  readonly #onWritten = (): void => {
    const written = this.#wBuf!;
    const out = this.#wOut!;
    const dones = this.#wDones!;
    this.#wBuf = this.#wOut = this.#wDones = undefined;
    this.#inFlight = false;
    if (written.length <= 1 << 20) this.#spare = written;
    out.length = 0;
    this.#spareOut = out;
    // a callback may queue and even flush again (the in-flight fields are free by now)
    for (let i = 0; i < dones.length; i++) dones[i]();
    dones.length = 0;
    this.#spareDones = dones;
    if (this.queued > 0 || this.#len > 0 || this.#out.length > 0) this.#schedule();
    else this.#wakeIdle();
  };

  readonly #onWriteFailed = (err: unknown): void => {
    const dones = this.#wDones!;
    this.#wBuf = this.#wOut = this.#wDones = undefined;
    this.#inFlight = false;
    const e = err instanceof Error ? err : new Error(String(err));
    for (let i = 0; i < dones.length; i++) dones[i](e);
    this.close(e);
  };

  #wakeIdle(): void {
    if (this.#idle.length === 0 || this.#inFlight || this.#scheduled || this.queued > 0) {
      if (this.#error === undefined) return;
    }
    const idle = this.#idle;
    this.#idle = [];
    for (const r of idle) r();
  }
}
