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
 * Called for each complete message. `meta` may be a view into the read buffer, valid only
 * during the call; `segments` are owned by the callee (they are never reused).
 */
export type MessageHandler = (meta: Uint8Array, segments: Uint8Array[]) => void;

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
 * const dec = new FrameDecoder((meta, segs) => got.push([meta.slice(), ...segs]));
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
  #chunk: Partial | undefined;
  #partials = new Map<number, Partial>();
  #partialBytes = 0;
  #error: ProtocolError | undefined;

  /**
   * Create a decoder.
   *
   * @param onMessage Called synchronously, from inside {@linkcode FrameDecoder.push}, for every
   *   complete message.
   * @param limits Size limits (see {@linkcode FrameLimits}).
   */
  constructor(onMessage: MessageHandler, limits?: FrameLimits) {
    this.#onMessage = onMessage;
    this.#limits = limitsOf(limits);
  }

  /** Bytes currently allocated for big messages being reassembled. */
  get partialBytes(): number {
    return this.#partialBytes;
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
            if (this.#type === T_MSG) this.#msg(body, true);
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
        this.#msg(c.subarray(p, p + bodyLen), false);
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

  #msg(f: Uint8Array, owned: boolean): void {
    const [metaLen, lens, start, total] = this.#table(f, 0);
    if (start + total !== f.length) {
      throw new ProtocolError(`MSG frame of ${f.length} bytes does not match its table`);
    }
    const meta = f.subarray(start, start + metaLen);
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
    this.#onMessage(meta, segs);
  }

  #begin(f: Uint8Array): void {
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
    for (const s of lens) parts.push(new Uint8Array(s));
    const pm: Partial = { parts, total, filled: 0, part: 0, offset: 0 };
    this.#partialBytes += total;
    if (total === 0) {
      this.#finish(mid, pm);
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
    this.#pre[0] = mid >>> 24; // remember the id for #finish
    this.#pre[1] = mid >>> 16;
    this.#pre[2] = mid >>> 8;
    this.#pre[3] = mid;
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
    if (this.#chunkLeft === 0) {
      this.#state = S_PREFIX;
      this.#chunk = undefined;
      if (pm.filled === pm.total) {
        const mid = readU32(this.#pre, 0);
        this.#partials.delete(mid);
        this.#finish(mid, pm);
      }
    }
    return p;
  }

  #finish(_mid: number, pm: Partial): void {
    this.#partialBytes -= pm.total;
    this.#onMessage(pm.parts[0], pm.parts.slice(1));
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
  /** Size of each chunk's data (default 262144 bytes; at least 4096). */
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
  readonly #mid: number;
  readonly #chunkSize: number;
  #i = 0;
  #off = 0;
  #left: number;
  #begun = false;

  /** @internal Use {@linkcode frameMessage}. */
  constructor(mid: number, meta: Uint8Array, segments: Uint8Array[], total: number, chunk: number) {
    this.#mid = mid;
    this.#chunkSize = chunk;
    this.#src = [meta, ...segments];
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
    const n = Math.min(this.#chunkSize, this.#left);
    if (n === 0) return 0;
    const h = new Uint8Array(9);
    writeU32(h, 0, n + 5);
    h[4] = T_CHUNK;
    writeU32(h, 5, this.#mid);
    out.push(h);
    let left = n;
    while (left > 0) {
      const s = this.#src[this.#i];
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
  const chunk = Math.max(4096, Math.min(options.chunkSize ?? 262144, L.maxFrameSize - 8));
  const mid = nextMid;
  nextMid = nextMid >= 0xffffffff ? 1 : nextMid + 1;
  return { chunked: new ChunkedMessage(mid, meta, segments, total, chunk), byteLength: total };
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
  /** Most chunk bytes put into one write, shared among the big messages (default 1 MiB). */
  maxBatchBytes?: number;
}

/**
 * Queues messages and writes them in batches: everything queued in one turn of the event loop
 * goes out in one `write` call, and while a write is in flight new messages accumulate for the
 * next one. Big messages are sent a chunk at a time, round-robin, interleaved with small ones.
 * Messages on the same `lane` keep their order (a small message never overtakes a big one on
 * its lane); messages on different lanes (or without a lane) may be reordered around big ones.
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
  readonly #budget: number;
  #small: Pending[] = [];
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
    this.#opts = options;
    this.#budget = options.maxBatchBytes ?? 1024 * 1024;
  }

  /** Messages (and big messages) not yet fully handed to `write`. */
  get queued(): number {
    return this.#small.length + this.#big.length;
  }

  /**
   * Queue a message.
   *
   * @param meta The msgpack part.
   * @param segments The raw segments.
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
    const framed = frameMessage(meta, segments, this.#opts);
    const p: Pending = { framed, lane, done };
    if (this.#error !== undefined) {
      done?.(this.#error);
      return;
    }
    this.#dispatch(p);
    this.#schedule();
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
    const all = [...this.#small, ...this.#big];
    this.#small = [];
    this.#big = [];
    this.#lanes.clear();
    const failAll = (ps: Pending[]): void => {
      for (const p of ps) {
        p.done?.(err);
        if (p.followers) failAll(p.followers);
      }
    };
    failAll(all);
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
    if (p.framed.parts !== undefined) {
      this.#small.push(p);
    } else {
      this.#big.push(p);
      if (p.lane !== undefined) this.#lanes.set(p.lane, p);
    }
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
  }

  #flush = (): void => {
    this.#scheduled = false;
    if (this.#error !== undefined || this.#inFlight) return;
    const out: Uint8Array[] = [];
    const dones: ((err?: Error) => void)[] = [];
    for (const p of this.#small) {
      const parts = p.framed.parts!;
      for (let i = 0; i < parts.length; i++) out.push(parts[i]);
      if (p.done) dones.push(p.done);
    }
    this.#small = [];
    let finished: Pending[] | undefined;
    if (this.#big.length > 0) {
      let budget = this.#budget;
      while (budget > 0 && this.#big.length > 0) {
        for (let i = 0; i < this.#big.length && budget > 0;) {
          const p = this.#big[i];
          const c = p.framed.chunked!;
          budget -= c.take(out);
          if (c.done) {
            this.#big.splice(i, 1);
            if (p.done) dones.push(p.done);
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
    if (out.length === 0) {
      this.#wakeIdle();
      return;
    }
    this.#inFlight = true;
    this.#write(out).then(
      () => {
        this.#inFlight = false;
        for (const d of dones) d();
        if (this.queued > 0) this.#schedule();
        else this.#wakeIdle();
      },
      (err: unknown) => {
        this.#inFlight = false;
        const e = err instanceof Error ? err : new Error(String(err));
        for (const d of dones) d(e);
        this.close(e);
      },
    );
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
