/**
 * A symmetric, multiplexed RPC connection over one {@linkcode Conn}: both sides issue
 * requests (ask, tell), answer them (a value, a typed error, or a stream of items with
 * credit-based flow control), and cancel them.
 *
 * Every message is `encodeValue([kind, id, ...])` (see `streams/codec.ts`) framed by
 * `streams/frame.ts`; bytes anywhere in a value travel as raw segments. Kinds:
 *
 * | kind | name   | fields               | direction                         |
 * |------|--------|----------------------|-----------------------------------|
 * | 1    | ASK    | id, head, body, credit | caller → responder              |
 * | 2    | TELL   | 0, head, body        | caller → responder                |
 * | 3    | RESULT | id, value            | responder → caller                |
 * | 4    | ERROR  | id, WireError        | responder → caller                |
 * | 5    | STREAM | id                   | responder → caller (reply is a stream) |
 * | 6    | ITEM   | id, value            | responder → caller                |
 * | 7    | END    | id                   | responder → caller                |
 * | 8    | SERROR | id, WireError        | responder → caller                |
 * | 9    | CANCEL | id                   | caller → responder                |
 * | 10   | CREDIT | id, n                | caller → responder                |
 * | 11   | ITEMS  | id, [value, ...]     | responder → caller (several items) |
 *
 * A producer batches the items it made while the previous write was in flight (or during one
 * turn) into one ITEMS message, never more than the credit the caller granted; a caller that
 * receives more items than it granted closes the connection (protocol error).
 *
 * Request ids are per direction: requests carry the caller's ids, replies echo them.
 *
 * @module
 */

import type { Conn } from "./transport/types.ts";
import {
  errorFromWire,
  errorToWire,
  PulsingError,
  PulsingRuntimeError,
  PulsingTimeoutError,
} from "../core/errors.ts";
import type { WireError } from "../core/errors.ts";
import { ActorStream } from "../core/actor_stream.ts";
import { toZeroCopy, zeroCopyConfig } from "../core/zerocopy.ts";
import type { ZeroCopyMode } from "../core/zerocopy.ts";
import { decodeValue, PreEncoded, ProtocolError, ValueEncoder } from "../streams/codec.ts";
import type { DecodeOptions } from "../streams/codec.ts";
import { DEFAULT_FRAME_LIMITS, FrameDecoder, FrameWriter } from "../streams/frame.ts";
import { BytePool } from "../streams/pool.ts";
import { IdTable } from "./id_table.ts";
import { afterMacrotask } from "../core/runtime.ts";
import type { FrameLimits } from "../streams/frame.ts";

const K_ASK = 1;
const K_TELL = 2;
const K_RESULT = 3;
const K_ERROR = 4;
const K_STREAM = 5;
const K_ITEM = 6;
const K_END = 7;
const K_SERROR = 8;
const K_CANCEL = 9;
const K_CREDIT = 10;
const K_ITEMS = 11;

/** Most stream items put into one ITEMS message. */
const MAX_BATCH_ITEMS = 256;

/** The request a handler is answering. */
export interface ServedRequest {
  /** Aborts when the caller cancels, times out, or the connection closes. */
  readonly signal: AbortSignal;
  /**
   * Lend this request's big byte segments (the `Uint8Array`s of 64 KiB or more in its body)
   * instead of giving them away: once the handler's result has settled and its reply has been
   * written, they go back to the receive pool ({@linkcode receivePool}) and are detached, so the
   * next big message reuses their memory instead of allocating fresh pages. Only for a handler
   * that does not keep them (nor views of them) past its result. A streamed reply keeps them
   * (they stay owned).
   */
  lendBytes(): void;
}

/**
 * The process-wide pool that big received byte segments are allocated from (and lent ones go
 * back to; see {@linkcode ServedRequest.lendBytes}). Holds at most 64 MiB of free buffers.
 *
 * @example
 * ```ts
 * import { receivePool } from "./rpc.ts";
 * console.log(receivePool.freeBytes); // 0 until a lent request completes
 * ```
 */
export const receivePool: BytePool = new BytePool();

/** What a connection calls for the requests its peer sends. */
export interface RpcHandler {
  /**
   * Answer an ask. Return (or resolve to) a value, or a {@linkcode StreamReply} (or an
   * `ActorStream`) to stream items; throw (or reject) to send a typed error.
   * `request.signal` aborts when the caller cancels, times out, or the connection closes (it
   * is created on first use, so a handler that never reads it costs nothing).
   */
  onAsk(head: unknown, body: unknown, request: ServedRequest): unknown;
  /** Handle a one-way message. Errors (thrown or rejected) are logged, never sent back. */
  onTell(head: unknown, body: unknown): void | Promise<void>;
}

/**
 * The limits every connection enforces on what its peer sends, with safe defaults (what
 * `pul.init({ limits })` takes). A limit hit either fails only the offending request (with a
 * `PulsingRuntimeError` sent back to the peer) or closes only the offending connection, and
 * logs one line saying which limit and which peer.
 *
 * | limit | default | when hit |
 * |---|---|---|
 * | `maxFrameSize` | 16 MiB | connection closed (checked on the length prefix, before allocating) |
 * | `maxMessageSize` | 256 MiB | connection closed (checked on the segment table, before allocating) |
 * | `maxHeaderSize` | 16 MiB | connection closed (the msgpack part of one message) |
 * | `maxDepth` | 64 | connection closed (nesting of a received value; sending deeper fails the call) |
 * | `maxSegments` | 65535 | connection closed |
 * | `maxPartialMessages` / `maxPartialBytes` | 64 / 512 MiB | connection closed (big messages in reassembly) |
 * | `maxInflight` | 1024 | the request is refused with an error reply |
 * | `maxStreams` | 256 | the stream request is refused with an error reply |
 * | `handshakeTimeoutMs` | 5 s | a connection whose peer sent no complete message (and to which this side sent nothing) within it is closed: silent peers, slowloris |
 * | `frameTimeoutMs` | 30 s | a frame that is still incomplete after it is closed (a trickle after the first message) |
 * | `idleTimeoutMs` | 5 min | a connection with no traffic either way and nothing pending is closed (0 = never) |
 *
 * Big messages are allocated at their exact claimed size only after the claim passed these
 * limits, and the pages are only touched (resident) as the bytes actually arrive.
 */
export interface WireLimits extends FrameLimits {
  /** Maximum nesting depth of decoded and encoded values (64). */
  maxDepth?: number;
  /** Most asks this side waits for at once, and most asks of the peer served at once (1024). */
  maxInflight?: number;
  /** Most streams the peer may have open from this side at once (256). */
  maxStreams?: number;
  /**
   * Time for a new connection's first complete message, in ms (5,000). Applies while this side
   * has sent nothing on the connection (an accepted one), so a dialler is never cut off.
   */
  handshakeTimeoutMs?: number;
  /** Time for a frame that has started to arrive to complete, in ms (30,000). */
  frameTimeoutMs?: number;
  /** Close a connection without traffic and with nothing pending after this, in ms (300,000; 0 = never). */
  idleTimeoutMs?: number;
  /**
   * Most inbound connections accepted from one remote host at once (256); more are closed at
   * once with one log line per host and minute. Enforced by the node's listener.
   */
  maxConnectionsPerHost?: number;
}

/** The defaults of {@linkcode WireLimits}. */
export const DEFAULT_WIRE_LIMITS: Readonly<Required<WireLimits>> = Object.freeze({
  ...DEFAULT_FRAME_LIMITS,
  maxDepth: 64,
  maxInflight: 1024,
  maxStreams: 256,
  handshakeTimeoutMs: 5_000,
  frameTimeoutMs: 30_000,
  idleTimeoutMs: 300_000,
  maxConnectionsPerHost: 256,
});

/** Options of {@linkcode RpcConnection}; every limit has a safe default. */
export interface RpcOptions extends WireLimits {
  /** Default timeout of an ask until its reply (or its stream) starts, in ms (30,000). */
  requestTimeoutMs?: number;
  /** Items a caller lets a producer run ahead (the initial credit, default 256). */
  streamCredit?: number;
  /** Messages larger than this are chunked (65536 bytes). */
  chunkThreshold?: number;
  /** Data bytes per chunk (1 MiB). */
  chunkSize?: number;
  /** Zero-copy mode for bodies, results and items (default: the environment's). */
  zeroCopy?: ZeroCopyMode;
  /** Where the one-line reasons for closing, and handler failures, go (console.error). */
  logger?: (line: string) => void;
  /** How a head is named in timeout errors (default: a short JSON form). */
  describe?: (head: unknown) => string;
}

/** Options of {@linkcode RpcConnection.ask}. */
export interface AskOptions {
  /** Timeout until the reply (or the stream) starts, in ms (default: the connection's). */
  timeoutMs?: number;
  /** Abort the ask (or, once it resolved to a stream, cancel the stream). */
  signal?: AbortSignal;
  /** The initial credit if the reply is a stream (default: the connection's). */
  credit?: number;
  /**
   * Ordering lane (a string). Messages on the same lane are never reordered around a big
   * (chunked) message; without a lane a small request may overtake a big one.
   */
  lane?: string;
  /** Maps the outcome before the returned promise settles (see {@linkcode AskSettle}). */
  settle?: AskSettle;
}

/**
 * Post-processing of an ask's outcome, run when the reply (or the failure) arrives, before the
 * promise `ask` returned settles: what a `.then` on that promise would do, without the extra
 * promise and turn.
 */
export interface AskSettle {
  /** Map the reply (a {@linkcode RpcStream} for a streamed one); throw to reject instead. */
  ok(value: unknown): unknown;
  /** Map the error the ask fails with (the returned value is the rejection reason). */
  fail(error: unknown): unknown;
}

/** Options of {@linkcode RpcConnection.tell}. */
export interface TellOptions {
  /** Ordering lane, as in {@linkcode AskOptions.lane}. */
  lane?: string;
}

/**
 * Returned by an ask handler to answer with a stream of items instead of one value. The source
 * is pulled only as far as the caller's credit allows, and `return()` is called on its
 * iterator when the caller cancels (so a generator's `finally` runs).
 *
 * @example
 * ```ts
 * import { StreamReply } from "./rpc.ts";
 * async function* count(n: number) {
 *   for (let i = 0; i < n; i++) yield i;
 * }
 * const reply = new StreamReply(count(3));
 * console.log(reply.source !== undefined); // true
 * ```
 */
export class StreamReply<T = unknown> {
  /** The items. */
  readonly source: AsyncIterable<T> | Iterable<T>;
  /**
   * Wrap the items to stream.
   *
   * @param source An async iterable or an iterable (e.g. a generator).
   */
  constructor(source: AsyncIterable<T> | Iterable<T>) {
    this.source = source;
  }
}

const DONE: IteratorResult<never> = Object.freeze({
  value: undefined,
  done: true,
}) as IteratorResult<
  never
>;

const S_OPEN = 0;
const S_ENDED = 1;
const S_FAILED = 2;
const S_CANCELLED = 3;

/**
 * The caller's side of a streamed reply: async-iterable (once), cancellable. Items are pulled
 * with credit: the producer never runs more than `credit` items ahead of the consumer.
 * Breaking out of `for await`, `return()` or {@linkcode RpcStream.cancel} cancels the producer.
 * A producer error, or the connection breaking, is thrown after the items received before it.
 *
 * @example
 * ```ts ignore
 * const stream = await rpc.ask({ method: "tail" }, null) as RpcStream<string>;
 * for await (const line of stream) {
 *   if (line === "stop") break; // cancels the producer
 * }
 * ```
 */
export class RpcStream<T = unknown> implements AsyncIterableIterator<T> {
  readonly #id: number;
  readonly #owner: RpcConnection;
  readonly #credit: number;
  readonly #grantAt: number;
  #buf: T[] = [];
  #head = 0;
  #unacked = 0;
  #granted: number;
  #state = S_OPEN;
  #error: unknown;
  #waiter: Deferred<IteratorResult<T>> | undefined;
  #onDone: (() => void) | undefined;

  /** @internal Built by {@linkcode RpcConnection}. */
  constructor(id: number, owner: RpcConnection, credit: number) {
    this.#id = id;
    this.#owner = owner;
    this.#credit = credit;
    this.#granted = credit;
    this.#grantAt = Math.max(1, credit >> 1);
  }

  /** Whether the stream is finished (ended, failed or cancelled). */
  get closed(): boolean {
    return this.#state !== S_OPEN;
  }

  /** Items received and not yet consumed. */
  get buffered(): number {
    return this.#buf.length - this.#head;
  }

  /** The credit this stream was opened with. */
  get credit(): number {
    return this.#credit;
  }

  /** @internal Items received; a producer beyond its credit is a protocol error. */
  _take(n: number): void {
    if ((this.#granted -= n) < 0) {
      throw new ProtocolError(
        `stream ${this.#id} received ${-this.#granted} items beyond the credit it granted`,
      );
    }
  }

  /** @internal */
  _pushMany(items: T[]): void {
    if (this.#state !== S_OPEN) return;
    let i = 0;
    const w = this.#waiter;
    if (w !== undefined && items.length > 0) {
      this.#waiter = undefined;
      this.#consumed();
      w.resolve({ value: items[0], done: false });
      i = 1;
    }
    for (; i < items.length; i++) this.#buf.push(items[i]);
  }

  /** @internal */
  _push(v: T): void {
    if (this.#state !== S_OPEN) return;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#consumed();
      w.resolve({ value: v, done: false });
    } else this.#buf.push(v);
  }

  /** @internal */
  _end(): void {
    if (this.#state !== S_OPEN) return;
    this.#state = S_ENDED;
    this.#finish();
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve(DONE);
  }

  /** @internal */
  _fail(e: unknown): void {
    if (this.#state !== S_OPEN) return;
    this.#state = S_FAILED;
    this.#error = e;
    this.#finish();
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#error = undefined;
      w.reject(e);
    }
  }

  /** @internal Called once when the stream stops needing its connection. */
  _onDone(cb: () => void): void {
    this.#onDone = cb;
  }

  #finish(): void {
    const cb = this.#onDone;
    this.#onDone = undefined;
    cb?.();
  }

  #consumed(): void {
    if (this.#state !== S_OPEN) return;
    if (++this.#unacked >= this.#grantAt) {
      this.#owner._grant(this.#id, this.#unacked);
      this.#granted += this.#unacked;
      this.#unacked = 0;
    }
  }

  /** The next item. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#buf.length) {
      const v = this.#buf[this.#head];
      this.#buf[this.#head++] = undefined as T;
      if (this.#head === this.#buf.length) {
        this.#buf.length = 0;
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#buf.length) {
        this.#buf = this.#buf.slice(this.#head);
        this.#head = 0;
      }
      this.#consumed();
      return Promise.resolve({ value: v, done: false });
    }
    if (this.#state === S_OPEN) {
      if (this.#waiter !== undefined) return this.#waiter.promise; // concurrent next(): same item
      this.#waiter = deferred<IteratorResult<T>>();
      return this.#waiter.promise;
    }
    if (this.#state === S_FAILED && this.#error !== undefined) {
      const e = this.#error;
      this.#error = undefined; // throw once, then report done
      return Promise.reject(e);
    }
    return Promise.resolve(DONE);
  }

  /** Cancel (what `break` in `for await` calls). */
  return(): Promise<IteratorResult<T>> {
    this.cancel();
    return Promise.resolve(DONE);
  }

  /**
   * Stop the stream: the producer is told to stop (its iterator's `return()` runs), buffered
   * items are dropped, and a pending `next()` resolves as done.
   *
   * @param _reason Why (kept for symmetry with `ReadableStream.cancel`).
   */
  cancel(_reason?: unknown): void {
    if (this.#state !== S_OPEN) {
      this.#buf.length = 0;
      this.#head = 0;
      return;
    }
    this.#state = S_CANCELLED;
    this.#buf.length = 0;
    this.#head = 0;
    this.#finish();
    this.#owner._cancelStream(this.#id);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve(DONE);
  }

  /** This stream is its own iterator (it can be consumed once). */
  [Symbol.asyncIterator](): RpcStream<T> {
    return this;
  }
}

/** An ask waiting for its reply (a class: one shape for every ask). */
class PendingAsk {
  resolve: (v: unknown) => void = noop;
  reject: (e: unknown) => void = noop;
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly head: unknown;
  readonly lane: unknown;
  readonly credit: number;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  readonly settle: AskSettle | undefined;

  constructor(
    deadline: number,
    timeoutMs: number,
    head: unknown,
    lane: unknown,
    credit: number,
    settle: AskSettle | undefined,
  ) {
    this.deadline = deadline;
    this.timeoutMs = timeoutMs;
    this.head = head;
    this.lane = lane;
    this.credit = credit;
    this.settle = settle;
  }

  /** Resolve with the reply (mapped by `settle`). */
  done(v: unknown): void {
    const st = this.settle;
    if (st === undefined) return this.resolve(v);
    let r: unknown;
    try {
      r = st.ok(v);
    } catch (e) {
      return this.reject(e);
    }
    this.resolve(r);
  }

  /** Reject (the reason mapped by `settle`). */
  fail(e: unknown): void {
    const st = this.settle;
    this.reject(st === undefined ? e : st.fail(e));
  }
}

function noop(): void {}

function rejectAsk(settle: AskSettle | undefined, e: unknown): Promise<never> {
  return Promise.reject(settle === undefined ? e : settle.fail(e));
}

/** A request of the peer being served (a class: one shape, the getter on the prototype). */
class Served implements ServedRequest {
  ac: AbortController | undefined = undefined;
  abortReason: unknown = undefined;
  credit: number;
  /** Items made and not yet sent (emitted right before the next write). */
  batch: unknown[] | undefined = undefined;
  /** Encoding an ITEMS message failed: the error went instead, the pump stops. */
  failed = false;
  /** A macrotask that emits the batch is pending. */
  tickArmed = false;
  /** The first item went out (it goes alone, at once: time to first item). */
  firstOut = false;
  cancelled = false;
  streaming = false;
  wake: (() => void) | undefined = undefined;
  iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined = undefined;
  /** The request's raw segments, when it had any. */
  segments: Uint8Array[] | undefined = undefined;
  lent = false;

  constructor(credit: number) {
    this.credit = credit;
  }

  lendBytes(): void {
    this.lent = true;
  }

  /** Give lent segments back to the pool (once). */
  release(): void {
    const segs = this.segments;
    if (segs === undefined || !this.lent) return;
    this.segments = undefined;
    for (let i = 0; i < segs.length; i++) receivePool.give(segs[i]);
  }

  /** What to run once the reply is written: the release, for a lent request. */
  get releaser(): (() => void) | undefined {
    return this.lent && this.segments !== undefined ? () => this.release() : undefined;
  }

  /** Created on first use, so a handler that never reads it costs nothing. */
  get signal(): AbortSignal {
    if (this.ac === undefined) {
      this.ac = new AbortController();
      if (this.cancelled) this.ac.abort(this.abortReason);
    }
    return this.ac.signal;
  }
}

/**
 * One multiplexed RPC connection. See the module documentation for the protocol.
 *
 * @example
 * ```ts
 * import { DenoTcpTransport } from "./transport/deno_tcp.ts";
 * import { RpcConnection } from "./rpc.ts";
 * const t = new DenoTcpTransport();
 * const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
 * listener.onConnection((conn) => {
 *   new RpcConnection(conn, {
 *     onAsk: (head, body) => ({ echo: body, method: (head as { method: string }).method }),
 *     onTell: () => {},
 *   });
 * });
 * const client = new RpcConnection(
 *   await t.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
 *   { onAsk: () => null, onTell: () => {} },
 * );
 * console.log(await client.ask({ method: "ping" }, [1, 2])); // { echo: [1, 2], method: "ping" }
 * client.close();
 * listener.close();
 * ```
 */
export class RpcConnection {
  /** `host:port` of the peer. */
  readonly remoteAddr: string;
  readonly #conn: Conn;
  readonly #handler: RpcHandler;
  readonly #writer: FrameWriter;
  readonly #decoder: FrameDecoder;
  readonly #timeoutMs: number;
  readonly #maxInflight: number;
  readonly #maxStreams: number;
  readonly #credit: number;
  readonly #maxDepth: number;
  readonly #zeroCopy: ZeroCopyMode | undefined;
  readonly #log: (line: string) => void;
  readonly #describe: (head: unknown) => string;
  readonly #enc = new ValueEncoder(1024);
  readonly #decodeOptions: DecodeOptions;
  #nextId = 1;
  // IdTables, not Maps: see id_table.ts (a Map with this churn keeps garbage alive)
  #pending = new IdTable<PendingAsk>();
  #streams = new IdTable<RpcStream<unknown>>();
  #served = new IdTable<Served>();
  #producing = 0;
  #closed = false;
  #closeError: PulsingRuntimeError | undefined;
  #byPeer = false;
  #closeCbs: ((err: PulsingRuntimeError) => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  // hostile-peer watchdog
  readonly #handshakeMs: number;
  readonly #frameMs: number;
  readonly #idleMs: number;
  readonly #openedAt = Date.now();
  #lastActivity = Date.now();
  #lastFrames = 0;
  #lastFrameAt = Date.now();
  #gotMessage = false;
  #sentAny = false;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #refusalsLogged: Set<string> | undefined;

  /**
   * Wrap a connection and start reading from it.
   *
   * @param conn The byte connection (not yet started).
   * @param handler Answers the peer's requests.
   * @param options Limits and defaults.
   */
  constructor(conn: Conn, handler: RpcHandler, options: RpcOptions = {}) {
    this.#conn = conn;
    this.remoteAddr = conn.remoteAddr;
    this.#handler = handler;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxInflight = options.maxInflight ?? DEFAULT_WIRE_LIMITS.maxInflight;
    this.#maxStreams = options.maxStreams ?? DEFAULT_WIRE_LIMITS.maxStreams;
    this.#credit = Math.max(1, options.streamCredit ?? 256);
    this.#maxDepth = options.maxDepth ?? DEFAULT_WIRE_LIMITS.maxDepth;
    this.#handshakeMs = options.handshakeTimeoutMs ?? DEFAULT_WIRE_LIMITS.handshakeTimeoutMs;
    this.#frameMs = options.frameTimeoutMs ?? DEFAULT_WIRE_LIMITS.frameTimeoutMs;
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_WIRE_LIMITS.idleTimeoutMs;
    this.#decodeOptions = { maxDepth: this.#maxDepth + 1 };
    this.#zeroCopy = options.zeroCopy;
    this.#log = options.logger ?? ((line) => console.error(line));
    this.#describe = options.describe ?? describeHead;
    this.#writer = new FrameWriter((chunks) => {
      this.#sentAny = true;
      this.#lastActivity = Date.now();
      return conn.write(chunks);
    }, { ...options, onFatal: (e) => this.close(e) });
    this.#decoder = new FrameDecoder(this.#onMessage, options, receivePool);
    conn.start(this.#onData, this.#onConnClose, {
      target: () => this.#closed ? undefined : this.#decoder.readTarget(),
      placed: (n) => {
        if (this.#closed) return;
        this.#lastActivity = Date.now();
        try {
          this.#decoder.placed(n);
        } catch (e) {
          this.#protocolFailure(e);
        }
        this.#trackFrame();
      },
    });
    this.#armWatchdog();
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the connection ended from the other side (or the network), not by `close()` here. */
  get closedByPeer(): boolean {
    return this.#byPeer;
  }

  /** Asks waiting for their reply. */
  get pendingAsks(): number {
    return this.#pending.size;
  }

  /** Streams this side is consuming. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Requests of the peer being served (asks and streams). */
  get serving(): number {
    return this.#served.size;
  }

  /**
   * Send a request and wait for its reply.
   *
   * @param head Routing information (a small msgpack-able value: target, method, ...).
   * @param body The payload (anything the codec carries; bytes go as raw segments).
   * @param options Timeout, abort signal, stream credit, ordering lane.
   * @returns The reply value, or an {@linkcode RpcStream} when the handler answered with a
   *   {@linkcode StreamReply}.
   * @throws The handler's error, rebuilt with its class (`errorFromWire`);
   *   `PulsingTimeoutError` on timeout; `PulsingRuntimeError` when the connection is or gets
   *   closed, or a limit is exceeded; the signal's reason when aborted.
   */
  ask(head: unknown, body: unknown, options?: AskOptions): Promise<unknown> {
    const settle = options?.settle;
    if (this.#closed) return rejectAsk(settle, this.#closedError());
    if (this.#pending.size >= this.#maxInflight) {
      return rejectAsk(
        settle,
        new PulsingRuntimeError(
          `too many in-flight asks to ${this.remoteAddr} (maxInflight ${this.#maxInflight})`,
        ),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return rejectAsk(settle, signal.reason);
    const id = this.#allocId();
    const credit = options?.credit === undefined ? this.#credit : Math.max(1, options.credit);
    const lane = options?.lane ?? id + 1;
    try {
      this.#checkForce(body);
      this.#send([K_ASK, id, head, body, credit], lane);
    } catch (e) {
      return rejectAsk(settle, asRuntimeError(e, `ask to ${this.remoteAddr} not sent`));
    }
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    const p = new PendingAsk(
      timeoutMs > 0 && timeoutMs < Infinity ? Date.now() + timeoutMs : Infinity,
      timeoutMs,
      head,
      lane,
      credit,
      settle,
    );
    const promise = new Promise<unknown>((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    if (signal !== undefined) {
      p.signal = signal;
      p.onAbort = () => this.#abortAsk(id, signal.reason);
      signal.addEventListener("abort", p.onAbort, { once: true });
    }
    this.#pending.set(id, p);
    if (p.deadline < this.#timerAt) this.#arm(p.deadline);
    return promise;
  }

  /**
   * Send a one-way message.
   *
   * @param head Routing information.
   * @param body The payload.
   * @param options Ordering lane.
   * @returns Resolves once the message is handed to the transport.
   * @throws `PulsingRuntimeError` when the connection is closed or the message breaks a limit.
   */
  tell(head: unknown, body: unknown, options: TellOptions = {}): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const { promise, resolve, reject } = deferred<void>();
    try {
      this.#checkForce(body);
      this.#send([K_TELL, 0, head, body], options.lane, (err) => {
        if (err) reject(this.#closeError ?? asRuntimeError(err, `tell to ${this.remoteAddr}`));
        else resolve();
      });
    } catch (e) {
      return Promise.reject(asRuntimeError(e, `tell to ${this.remoteAddr} not sent`));
    }
    return promise;
  }

  /** Resolves when everything queued so far has been handed to the transport. */
  flushed(): Promise<void> {
    return this.#writer.flushed();
  }

  /**
   * Register a callback for when the connection closes (called once, with the error that
   * pending requests failed with). Called at once if already closed.
   *
   * @param cb The callback.
   */
  onClose(cb: (err: PulsingRuntimeError) => void): void {
    if (this.#closed) {
      queueMicrotask(() => cb(this.#closeError!));
      return;
    }
    this.#closeCbs.push(cb);
  }

  /**
   * Close the connection now: every pending ask and open stream fails with a
   * `PulsingRuntimeError` naming the peer, every request being served is cancelled.
   * Use {@linkcode RpcConnection.flushed} first for a graceful close.
   *
   * @param reason Why (goes into the error message).
   */
  close(reason?: string | Error): void {
    if (this.#closed) return;
    this.#closed = true;
    const why = reason === undefined
      ? ""
      : `: ${reason instanceof Error ? reason.message : reason}`;
    const err = new PulsingRuntimeError(`connection to ${this.remoteAddr} closed${why}`, {
      cause: reason instanceof Error ? reason : undefined,
    });
    this.#closeError = err;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    this.#writer.close(err);
    this.#conn.close();
    const pending = this.#pending.values();
    this.#pending.clear();
    for (const p of pending) {
      this.#unlisten(p);
      p.fail(err);
    }
    const streams = this.#streams.values();
    this.#streams.clear();
    for (const s of streams) s._fail(err);
    const served = this.#served.values();
    this.#served.clear();
    for (const s of served) this.#stopServed(s, err);
    const cbs = this.#closeCbs;
    this.#closeCbs = [];
    for (const cb of cbs) {
      try {
        cb(err);
      } catch (e) {
        this.#log(`rpc ${this.remoteAddr}: onClose callback threw: ${errText(e)}`);
      }
    }
  }

  // ---- internals used by RpcStream ----

  /** @internal */
  _grant(id: number, n: number): void {
    if (this.#closed) return;
    this.#send([K_CREDIT, id, n], id + 1);
  }

  /** @internal */
  _cancelStream(id: number): void {
    if (this.#streams.delete(id) && !this.#closed) this.#send([K_CANCEL, id], id + 1);
  }

  // ---- sending ----

  #allocId(): number {
    let id = this.#nextId;
    while (this.#pending.has(id) || this.#streams.has(id)) id = id >= 0xfffffffe ? 1 : id + 1;
    this.#nextId = id >= 0xfffffffe ? 1 : id + 1;
    return id;
  }

  #checkForce(body: unknown): void {
    if ((this.#zeroCopy ?? zeroCopyConfig().mode) === "force") toZeroCopy(body, "force");
  }

  #send(msg: unknown[], lane?: unknown, done?: (err?: Error) => void): void {
    // one encoder per connection, reused for every message (a fresh one if a user getter or
    // [zerocopy]() method sends while we are encoding)
    const enc = this.#enc.busy ? new ValueEncoder(256) : this.#enc;
    enc.encode(msg, this.#maxDepth + 1, this.#zcNested());
    this.#writer.sendEncoded(enc, lane, done);
  }

  /** The mode for values inside the envelope (force is checked on bodies separately). */
  #zcNested(): ZeroCopyMode {
    return (this.#zeroCopy ?? zeroCopyConfig().mode) === "off" ? "off" : "auto";
  }

  /**
   * Send a reply; if it cannot be encoded or framed, send that error instead.
   * @returns Whether the value itself was sent.
   */
  #sendReply(
    kind: number,
    id: number,
    value: unknown,
    lane?: unknown,
    done?: () => void,
  ): boolean {
    try {
      this.#checkForce(value);
      // `done` runs once the reply is written (or failed): the value may hold views of the
      // request's lent bytes until then
      this.#send([kind, id, value], lane, done);
      return true;
    } catch (e) {
      if (!this.#closed) {
        const k = kind === K_ITEM || kind === K_ITEMS ? K_SERROR : K_ERROR;
        try {
          this.#send([k, id, errorToWire(e)], lane, done);
          return false;
        } catch { /* fall through */ }
      }
      done?.();
      return false;
    }
  }

  // ---- timeouts: one timer per connection, armed for the earliest deadline ----

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#sweep, Math.max(0, at - Date.now()));
  }

  #sweep = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#closed) return;
    const now = Date.now() + 1;
    let next = Infinity;
    let expired: number[] | undefined;
    for (const [id, p] of this.#pending) {
      if (p.deadline <= now) (expired ??= []).push(id);
      else if (p.deadline < next) next = p.deadline;
    }
    if (expired !== undefined) {
      for (const id of expired) {
        const p = this.#pending.get(id)!;
        this.#pending.delete(id);
        this.#unlisten(p);
        this.#send([K_CANCEL, id], p.lane);
        p.fail(
          new PulsingTimeoutError(
            `ask ${
              this.#describe(p.head instanceof PreEncoded ? p.head.value : p.head)
            } to ${this.remoteAddr}`,
            p.timeoutMs,
          ),
        );
      }
    }
    if (next < Infinity) this.#arm(next);
  };

  #abortAsk(id: number, reason: unknown): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (!this.#closed) this.#send([K_CANCEL, id], p.lane);
    p.fail(reason);
  }

  #unlisten(p: PendingAsk): void {
    if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
  }

  #closedError(): PulsingRuntimeError {
    return this.#closeError ?? new PulsingRuntimeError(`connection to ${this.remoteAddr} closed`);
  }

  // ---- receiving ----

  #onData = (chunk: Uint8Array): void => {
    if (this.#closed) return;
    this.#lastActivity = Date.now();
    try {
      this.#decoder.push(chunk);
    } catch (e) {
      this.#protocolFailure(e);
    }
    this.#trackFrame();
  };

  /** Remember when the last frame completed (for the frame timeout). */
  #trackFrame(): void {
    const f = this.#decoder.frames;
    if (f !== this.#lastFrames) {
      this.#lastFrames = f;
      this.#lastFrameAt = this.#lastActivity;
    }
  }

  // ---- the watchdog: handshake, stalled frame, idle ----

  #armWatchdog(): void {
    const periods = [this.#handshakeMs, this.#frameMs, this.#idleMs].filter((x) => x > 0);
    if (periods.length === 0 || this.#closed) return;
    const every = Math.max(25, Math.min(1_000, Math.min(...periods) / 4));
    this.#watchdog = setTimeout(this.#watch, every);
    // never keep a process alive just for this
    (this.#watchdog as { unref?: () => void }).unref?.();
    if (typeof this.#watchdog === "number") {
      (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno?.unrefTimer?.(
        this.#watchdog,
      );
    }
  }

  #watch = (): void => {
    this.#watchdog = undefined;
    if (this.#closed) return;
    const now = Date.now();
    if (
      !this.#gotMessage && !this.#sentAny && this.#handshakeMs > 0 &&
      now - this.#openedAt >= this.#handshakeMs
    ) {
      return this.#refuse(
        `no complete message within the handshake timeout (${this.#handshakeMs} ms)`,
      );
    }
    if (
      this.#frameMs > 0 && !this.#decoder.atBoundary && now - this.#lastFrameAt >= this.#frameMs
    ) {
      return this.#refuse(`no frame completed for ${this.#frameMs} ms mid-frame (frameTimeoutMs)`);
    }
    if (
      this.#idleMs > 0 && now - this.#lastActivity >= this.#idleMs && this.#pending.size === 0 &&
      this.#streams.size === 0 && this.#served.size === 0
    ) {
      return this.#refuse(`idle for ${this.#idleMs} ms (idleTimeoutMs)`, "info");
    }
    this.#armWatchdog();
  };

  /** Close this connection for a limit, with one logged line. */
  #refuse(reason: string, _level: "warn" | "info" = "warn"): void {
    if (this.#closed) return;
    this.#log(`rpc ${this.remoteAddr}: ${reason}; closing the connection`);
    this.close(reason);
  }

  /** Log the first refusal of each kind on this connection (a flood logs one line). */
  #logRefusal(kind: string, line: string): void {
    const seen = this.#refusalsLogged ??= new Set();
    if (seen.has(kind)) return;
    seen.add(kind);
    this.#log(`rpc ${this.remoteAddr}: ${line} (further refusals of this kind are not logged)`);
  }

  #onConnClose = (err?: Error): void => {
    if (this.#closed) return;
    this.#byPeer = true;
    this.close(err ?? "closed by peer");
  };

  #protocolFailure(e: unknown): void {
    if (this.#closed) return;
    const what = e instanceof ProtocolError ? "protocol error" : "internal error";
    this.#log(`rpc ${this.remoteAddr}: ${what}: ${errText(e)}; closing the connection`);
    this.close(`${what}: ${errText(e)}`);
  }

  #onMessage = (buf: Uint8Array, segments: Uint8Array[], start: number, end: number): void => {
    if (this.#closed) return;
    this.#gotMessage = true;
    const m = decodeValue(buf, segments, this.#decodeOptions, start, end);
    if (!Array.isArray(m) || m.length < 2 || typeof m[0] !== "number" || typeof m[1] !== "number") {
      throw new ProtocolError("message is not an [kind, id, ...] envelope");
    }
    const id = m[1];
    switch (m[0]) {
      case K_ASK:
        return this.#onAsk(id, m[2], m[3], m[4], segments);
      case K_TELL:
        return this.#onTell(m[2], m[3]);
      case K_RESULT: {
        const p = this.#pending.get(id);
        if (p === undefined) return; // cancelled or timed out meanwhile
        this.#pending.delete(id);
        this.#unlisten(p);
        p.done(m[2]);
        return;
      }
      case K_ERROR: {
        const p = this.#pending.get(id);
        if (p === undefined) return;
        this.#pending.delete(id);
        this.#unlisten(p);
        p.fail(fromWire(m[2]));
        return;
      }
      case K_STREAM:
        return this.#onStreamStart(id);
      case K_ITEM: {
        const s = this.#streams.get(id);
        if (s !== undefined) {
          s._take(1);
          s._push(m[2]);
        }
        return;
      }
      case K_ITEMS: {
        const items = m[2];
        if (!Array.isArray(items)) throw new ProtocolError("ITEMS without an array of items");
        const s = this.#streams.get(id);
        if (s !== undefined) {
          s._take(items.length);
          s._pushMany(items);
        }
        return;
      }
      case K_END: {
        const s = this.#streams.get(id);
        if (s !== undefined) {
          this.#streams.delete(id);
          s._end();
        }
        return;
      }
      case K_SERROR: {
        const s = this.#streams.get(id);
        if (s !== undefined) {
          this.#streams.delete(id);
          s._fail(fromWire(m[2]));
        }
        return;
      }
      case K_CANCEL: {
        const s = this.#served.get(id);
        if (s !== undefined) {
          this.#served.delete(id);
          this.#stopServed(s, new PulsingRuntimeError("cancelled by the caller"));
        }
        return;
      }
      case K_CREDIT: {
        const s = this.#served.get(id);
        const n = m[2];
        if (typeof n !== "number" || !(n > 0) || n > 0x7fffffff) {
          throw new ProtocolError(`bad credit ${String(n)}`);
        }
        if (s !== undefined) {
          s.credit += n;
          const w = s.wake;
          s.wake = undefined;
          w?.();
        }
        return;
      }
      default:
        throw new ProtocolError(`unknown message kind ${String(m[0])}`);
    }
  };

  #onStreamStart(id: number): void {
    const p = this.#pending.get(id);
    if (p === undefined) {
      // the ask was cancelled or timed out: tell the producer to stop
      this.#send([K_CANCEL, id], id + 1);
      return;
    }
    this.#pending.delete(id);
    const s = new RpcStream<unknown>(id, this, p.credit);
    this.#streams.set(id, s);
    if (p.signal !== undefined) {
      // the ask's signal now cancels the stream
      p.signal.removeEventListener("abort", p.onAbort!);
      const signal = p.signal;
      const onAbort = (): void => s.cancel(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      s._onDone(() => signal.removeEventListener("abort", onAbort));
    }
    p.done(s);
  }

  #onTell(head: unknown, body: unknown): void {
    try {
      const r = this.#handler.onTell(head, body);
      if (isThenable(r)) {
        r.then(
          undefined,
          (e: unknown) => this.#log(`rpc ${this.remoteAddr}: tell handler failed: ${errText(e)}`),
        );
      }
    } catch (e) {
      this.#log(`rpc ${this.remoteAddr}: tell handler failed: ${errText(e)}`);
    }
  }

  #onAsk(
    id: number,
    head: unknown,
    body: unknown,
    credit: unknown,
    segments: Uint8Array[],
  ): void {
    if (this.#served.has(id)) throw new ProtocolError(`duplicate request id ${id}`);
    if (typeof credit !== "number" || !(credit >= 1)) {
      throw new ProtocolError(`bad initial credit ${String(credit)}`);
    }
    if (this.#served.size >= this.#maxInflight) {
      this.#logRefusal(
        "inflight",
        `refused a request: maxInflight ${this.#maxInflight} requests already in progress`,
      );
      this.#send([
        K_ERROR,
        id,
        errorToWire(
          new PulsingRuntimeError(
            `too many in-flight requests from ${this.remoteAddr} (maxInflight ${this.#maxInflight})`,
          ),
        ),
      ]);
      return;
    }
    const s = new Served(credit);
    if (segments.length > 0) s.segments = segments;
    this.#served.set(id, s);
    let r: unknown;
    try {
      r = this.#handler.onAsk(head, body, s);
    } catch (e) {
      this.#replyError(id, s, e);
      return;
    }
    if (isThenable(r)) {
      r.then((v) => this.#reply(id, s, v), (e) => this.#replyError(id, s, e));
    } else this.#reply(id, s, r);
  }

  #reply(id: number, s: Served, v: unknown): void {
    if (v instanceof ActorStream) v = new StreamReply(v);
    // a stream may go on using the request's bytes: they stay owned
    if (v instanceof StreamReply) s.lent = false;
    if (s.cancelled || this.#served.get(id) !== s) {
      if (v instanceof StreamReply) closeSource(v.source, this.#log);
      else s.release();
      return;
    }
    if (v instanceof StreamReply) {
      if (this.#producing >= this.#maxStreams) {
        this.#logRefusal(
          "streams",
          `refused a stream: maxStreams ${this.#maxStreams} streams already open`,
        );
        this.#served.delete(id);
        closeSource(v.source, this.#log);
        this.#send([
          K_ERROR,
          id,
          errorToWire(
            new PulsingRuntimeError(
              `too many open streams from ${this.remoteAddr} (maxStreams ${this.#maxStreams})`,
            ),
          ),
        ]);
        return;
      }
      this.#pump(id, s, v.source);
      return;
    }
    this.#served.delete(id);
    this.#sendReply(K_RESULT, id, v, undefined, s.releaser);
  }

  #replyError(id: number, s: Served, e: unknown): void {
    if (s.cancelled || this.#served.get(id) !== s) {
      s.release();
      return;
    }
    this.#served.delete(id);
    try {
      this.#send([K_ERROR, id, errorToWire(e)], undefined, s.releaser);
    } catch {
      s.release();
    }
  }

  /**
   * Add an item to the stream's batch. The first item goes out at once; then the batch goes out
   * when it is full, when the credit is used up, when the source ends, or at the next macrotask
   * (`setImmediate`): a source that makes items synchronously or in microtasks fills whole
   * batches, a slow one sends each item as soon as the event loop turns.
   */
  #queueItem(id: number, s: Served, value: unknown, lane: unknown): void {
    try {
      this.#checkForce(value);
    } catch (e) {
      this.#emitBatch(id, s, lane);
      s.failed = true;
      if (!this.#closed) this.#send([K_SERROR, id, errorToWire(e)], lane);
      return;
    }
    let b = s.batch;
    if (b === undefined) {
      b = s.batch = [];
      if (!s.tickArmed) {
        s.tickArmed = true;
        afterMacrotask(() => {
          s.tickArmed = false;
          if (this.#served.get(id) === s && !s.cancelled) this.#emitBatch(id, s, lane);
        });
      }
    }
    b.push(value);
    if (b.length >= MAX_BATCH_ITEMS || s.credit <= 0 || !s.firstOut) {
      // the first item does not wait for a batch: a consumer (a chat UI, a token stream) sees
      // it one round trip after asking, whatever the producer's pace
      s.firstOut = true;
      this.#emitBatch(id, s, lane);
    }
  }

  #emitBatch(id: number, s: Served, lane: unknown): void {
    const b = s.batch;
    if (b === undefined || b.length === 0 || s.failed) return;
    s.batch = undefined; // the next item starts a new batch (with its own hook)
    if (this.#closed) return;
    if (!this.#sendReply(b.length === 1 ? K_ITEM : K_ITEMS, id, b.length === 1 ? b[0] : b, lane)) {
      s.failed = true;
    }
  }

  #stopServed(s: Served, reason: unknown): void {
    if (s.cancelled) return;
    s.cancelled = true;
    s.abortReason = reason;
    s.ac?.abort(reason);
    const w = s.wake;
    s.wake = undefined;
    w?.();
  }

  async #pump(
    id: number,
    s: Served,
    source: AsyncIterable<unknown> | Iterable<unknown>,
  ): Promise<void> {
    const lane = -(id + 1);
    this.#producing++;
    s.streaming = true;
    let it: Iterator<unknown> | AsyncIterator<unknown>;
    try {
      it = Symbol.asyncIterator in source
        ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (source as Iterable<unknown>)[Symbol.iterator]();
    } catch (e) {
      this.#producing--;
      this.#replyError(id, s, e);
      return;
    }
    s.iterator = it;
    this.#send([K_STREAM, id], lane);
    let finished = false;
    try {
      while (true) {
        while (s.credit <= 0 && !s.cancelled) {
          await new Promise<void>((resolve) => (s.wake = resolve));
        }
        if (s.cancelled) break;
        const r = await it.next();
        if (r.done) {
          finished = true;
          if (!s.cancelled) {
            this.#emitBatch(id, s, lane);
            if (!s.failed && !this.#closed) this.#send([K_END, id], lane);
          }
          break;
        }
        if (s.cancelled || s.failed) break;
        s.credit--;
        this.#queueItem(id, s, r.value, lane);
        if (s.failed) break; // the error went instead
      }
    } catch (e) {
      finished = true; // a throwing iterator is done
      if (!s.cancelled && !this.#closed) {
        this.#emitBatch(id, s, lane);
        if (!s.failed) this.#send([K_SERROR, id, errorToWire(e)], lane);
      }
    } finally {
      s.batch = undefined;
      this.#producing--;
      if (this.#served.get(id) === s) this.#served.delete(id);
      if (!finished) {
        try {
          await it.return?.();
        } catch (e) {
          this.#log(`rpc ${this.remoteAddr}: stream source return() threw: ${errText(e)}`);
        }
      }
    }
  }
}

function closeSource(
  source: AsyncIterable<unknown> | Iterable<unknown>,
  log: (l: string) => void,
): void {
  try {
    const it = Symbol.asyncIterator in source
      ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (source as Iterable<unknown>)[Symbol.iterator]();
    const r = it.return?.();
    if (isThenable(r)) r.then(undefined, (e) => log(`stream source return() threw: ${errText(e)}`));
  } catch (e) {
    log(`stream source return() threw: ${errText(e)}`);
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

/** `Promise.withResolvers`, which Node 20 lacks. */
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function";
}

function fromWire(w: unknown): PulsingError {
  if (w === null || typeof w !== "object" || typeof (w as WireError).cls !== "string") {
    return new PulsingRuntimeError(`malformed error reply: ${errText(w)}`);
  }
  return errorFromWire(w as WireError);
}

function asRuntimeError(e: unknown, what: string): PulsingError {
  if (e instanceof PulsingError) return e;
  return new PulsingRuntimeError(`${what}: ${errText(e)}`, { cause: e });
}

function errText(e: unknown): string {
  if (e instanceof Error) return e.message;
  try {
    return String(e);
  } catch {
    return "?";
  }
}

function describeHead(head: unknown): string {
  if (typeof head === "string") return head;
  try {
    const s = JSON.stringify(head, (_k, v) => typeof v === "bigint" ? String(v) : v) ??
      String(head);
    return s.length > 120 ? s.slice(0, 117) + "..." : s;
  } catch {
    return String(head);
  }
}
