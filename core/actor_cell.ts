/**
 * The actor cell: one actor's mailbox, run loop, lifecycle and supervision. Internal.
 *
 * Hot path: when the actor is idle and its mailbox empty, a message is handled at once in the
 * caller's turn (no queue, no envelope, no extra microtask) — which keeps arrival order, since
 * nothing is waiting ahead of it. Otherwise it is queued (bounded; a full mailbox makes the
 * sender wait) and drained in order.
 *
 * @module
 */

import type { Actor, ActorContext } from "./actor.ts";
import { CALL_METHOD, Detached, MethodCall, type MethodDispatcher } from "./actor.ts";
import { ActorRef, type CallOptions } from "./actor_ref.ts";
import { ActorStream, isStreamLike } from "./actor_stream.ts";
import { PulsingRuntimeError, PulsingTimeoutError, toPulsingError } from "./errors.ts";
import type { ActorId, NodeId } from "./ids.ts";
import type { SupervisionSpec } from "./supervision.ts";

// Lifecycle state: the low 3 bits of `#f`; two more bits are the busy and drain-scheduled flags
// (one small integer instead of three fields: an idle actor's cell stays small).
const STARTING = 0;
const RUNNING = 1;
const RESTARTING = 2;
const STOPPING = 3;
const STOPPED = 4;
const STATE = 7;
const BUSY = 8;
const DRAIN = 16;

const ASK = 0;
const TELL = 1;
const CALL = 2;

interface Envelope {
  kind: number;
  msg: unknown;
  args: unknown[] | undefined;
  resolve: ((v: unknown) => void) | undefined;
  reject: ((e: unknown) => void) | undefined;
}

/**
 * A caller waiting on a running async handler: a node of the cell's intrusive in-flight list
 * (O(1) link and unlink, no Set entry). `resolve` is cleared once the caller is answered, by the
 * handler settling or by `terminate` failing it, whichever comes first.
 */
class Pending {
  resolve: ((v: unknown) => void) | undefined;
  reject: ((e: unknown) => void) | undefined;
  prev: Pending | undefined = undefined;
  next: Pending | undefined = undefined;
  constructor(resolve: (v: unknown) => void, reject: (e: unknown) => void) {
    this.resolve = resolve;
    this.reject = reject;
  }
}

// The resolvers of the promise `new Promise(capture)` just made: one shared executor instead of
// a closure per call (the executor runs synchronously inside the constructor, so no call can
// interleave between the constructor and the read of these two). Fields of one object, not
// module-level `let`s, whose writes cost more in V8 (~7 ns per call in isolation, ~1.5 ns of a
// local proxy call on Deno 2.9).
const captured: {
  resolve: ((v: unknown) => void) | undefined;
  reject: ((e: unknown) => void) | undefined;
} = { resolve: undefined, reject: undefined };
function capture(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/**
 * The async handler that runs alone (no other one in flight): its caller's resolvers, and the
 * two handlers that answer it, made once per cell instead of once per call. While it runs,
 * another async handler takes the general path (a `Pending` node and closures of its own), so
 * the shared handlers always know whom they answer.
 */
interface Solo {
  resolve: ((v: unknown) => void) | undefined;
  reject: ((e: unknown) => void) | undefined;
  serial: boolean;
  readonly ok: (v: unknown) => void;
  readonly err: (e: unknown) => void;
}

/**
 * The fast method-call protocol of the core's own dispatcher (`ServiceActor`): like
 * `CALL_METHOD`, but it returns the method's result as is and a thenable result always runs
 * detached (no `Detached` wrapper per call). Internal.
 */
export const CALL_DIRECT: unique symbol = Symbol("pulsing.callDirect");

/** What `CALL_DIRECT` names. */
export interface DirectDispatcher {
  /** Run `method(...args)` and return what it returned (a thenable runs detached). */
  [CALL_DIRECT](method: string, args: unknown[], ctx: ActorContext): unknown;
}

/**
 * The rarely used part of a cell, created on first need (a restartable actor's factory, senders
 * waiting on a full mailbox, timers, the abort controller, stop and failure state, counters of
 * errors and restarts). An idle actor that never failed has none.
 */
interface Extras {
  factory: (() => Actor | Promise<Actor>) | undefined;
  waiting: Envelope[] | undefined;
  idle: (() => void) | undefined;
  abort: AbortController | undefined;
  timers: Set<ReturnType<typeof setTimeout>> | undefined;
  stopped: Promise<void> | undefined;
  failure: string | undefined;
  restarts: number;
  errors: number;
}

function newExtras(): Extras {
  return {
    factory: undefined,
    waiting: undefined,
    idle: undefined,
    abort: undefined,
    timers: undefined,
    stopped: undefined,
    failure: undefined,
    restarts: 0,
    errors: 0,
  };
}

/**
 * Settings that many cells share (one object per distinct host, supervision spec, mailbox
 * capacity and metadata, so that each cell holds one reference instead of four).
 */
export interface CellConfig {
  /** The system hosting the cell. */
  readonly host: CellHost;
  /** Supervision. */
  readonly spec: SupervisionSpec;
  /** Mailbox capacity. */
  readonly cap: number;
  /** Metadata recorded at spawn. */
  readonly metadata: Record<string, string>;
  /** Big byte arguments from other nodes are lent for the call (see `SpawnOptions.lendBytes`). */
  readonly lendBytes?: boolean;
}

/** What a cell needs from its system. */
export interface CellHost {
  /** The node id of the host. */
  readonly nodeId: NodeId;
  /** Called once when the cell has stopped for good. */
  cellTerminated(cell: ActorCell): void;
  /** Log a line. */
  log(level: "debug" | "info" | "warn" | "error", msg: string): void;
}

/** One actor. */
export class ActorCell implements ActorContext {
  readonly actorId: ActorId;
  readonly name: string | undefined;
  /** The reference to this actor. */
  readonly ref: LocalActorRef;
  /** Messages handled so far. */
  handled = 0;
  readonly #cfg: CellConfig;
  #actor: Actor | undefined;
  #q: Envelope[] | undefined;
  #qHead = 0;
  /** State (low bits) | BUSY | DRAIN. */
  #f = STARTING;
  /** Callers waiting on running async handlers (list head; kept apart from the extras). */
  #inflight: Pending | undefined;
  /** How many async handlers are running (the list above plus the solo one). */
  #inflightN = 0;
  /** The solo async handler's state (made on the first async handler). */
  #solo: Solo | undefined;
  #x: Extras | undefined;

  /** Create a cell (internal: use `ActorSystem.spawn`). */
  constructor(
    config: CellConfig,
    actorId: ActorId,
    name: string | undefined,
    actor: Actor,
    factory: (() => Actor | Promise<Actor>) | undefined,
  ) {
    this.#cfg = config;
    this.actorId = actorId;
    this.name = name;
    this.#actor = actor;
    if (factory !== undefined) (this.#x = newExtras()).factory = factory;
    this.ref = new LocalActorRef(this);
  }

  /** Metadata recorded at spawn. */
  get metadata(): Record<string, string> {
    return this.#cfg.metadata;
  }
  /** Restarts so far. */
  get restarts(): number {
    return this.#x?.restarts ?? 0;
  }
  /** Messages whose handling threw or rejected. */
  get errors(): number {
    return this.#x?.errors ?? 0;
  }

  #extras(): Extras {
    return this.#x ??= newExtras();
  }

  #setState(s: number): void {
    this.#f = (this.#f & ~STATE) | s;
  }

  #countError(): void {
    this.#extras().errors++;
  }

  // ---- ActorContext ----
  get nodeId(): NodeId {
    return this.#cfg.host.nodeId;
  }
  get signal(): AbortSignal {
    const x = this.#extras();
    x.abort ??= new AbortController();
    return x.abort.signal;
  }
  self(): ActorRef {
    return this.ref;
  }
  scheduleSelf(msg: unknown, delayMs: number): () => void {
    const x = this.#extras();
    const timers = (x.timers ??= new Set());
    const t = setTimeout(() => {
      timers.delete(t);
      this.send(TELL, msg, undefined).catch(() => {});
    }, Math.max(0, delayMs));
    timers.add(t);
    return () => {
      clearTimeout(t);
      timers.delete(t);
    };
  }
  stop(): void {
    queueMicrotask(() => {
      if ((this.#f & STATE) >= STOPPING) return;
      if (this.#cfg.spec.shouldRestart(false)) this.#restartOrDie(undefined);
      else void this.terminate(30_000);
    });
  }
  fail(error: unknown): void {
    queueMicrotask(() => this.#restartOrDie(toPulsingError(error, this.label)));
  }

  /** Name or id, for messages. */
  get label(): string {
    return this.name ?? this.actorId.value;
  }
  /** Whether big byte arguments from other nodes are lent to this actor for the call only. */
  get lendsBytes(): boolean {
    return this.#cfg.lendBytes === true;
  }
  /** True while the actor can take messages (running, starting or restarting). */
  get alive(): boolean {
    return (this.#f & STATE) < STOPPING;
  }
  /** Queued messages. */
  get mailboxDepth(): number {
    return this.#q ? this.#q.length - this.#qHead : 0;
  }
  /** The current instance (undefined while restarting). */
  get instance(): Actor | undefined {
    return this.#actor;
  }

  /** Run `onStart`, then take messages. Called once after spawn. */
  start(): void {
    this.#startInstance();
  }

  /** Build a fresh instance from the factory, then start it (a restart). */
  async #reboot(): Promise<void> {
    if ((this.#f & STATE) >= STOPPING) return;
    try {
      this.#actor = await this.#x!.factory!();
    } catch (e) {
      this.#restartOrDie(toPulsingError(e, this.label));
      return;
    }
    this.#startInstance();
  }

  /**
   * Run `onStart` of the current instance, then take messages. A synchronous (or absent)
   * `onStart` makes the actor running at once — no promise, no extra turn, which keeps spawning
   * cheap; an async one is awaited and messages wait meanwhile.
   */
  #startInstance(): void {
    if ((this.#f & STATE) >= STOPPING) return;
    const a = this.#actor!;
    if (typeof a.onStart === "function") {
      let r: unknown;
      try {
        r = a.onStart(this.actorId, this);
      } catch (e) {
        this.#restartOrDie(toPulsingError(e, this.label));
        return;
      }
      if (r !== null && typeof r === "object" && typeof (r as Promise<void>).then === "function") {
        (r as Promise<void>).then(
          () => this.#running(),
          (e) => this.#restartOrDie(toPulsingError(e, this.label)),
        );
        return;
      }
    }
    this.#running();
  }

  #running(): void {
    if ((this.#f & STATE) >= STOPPING) return;
    this.#setState(RUNNING);
    this.#scheduleDrain();
  }

  #restartOrDie(error: Error | undefined): void {
    if ((this.#f & STATE) >= STOPPING) return;
    const spec = this.#cfg.spec;
    const k = this.restarts + 1;
    const failure = error !== undefined;
    if (!spec.shouldRestart(failure) || k > spec.maxRestarts || !this.#x?.factory) {
      if (error) {
        this.#extras().failure = error.message;
        this.#cfg.host.log("warn", `actor ${this.label} failed and stops: ${error.message}`);
      }
      void this.terminate(0);
      return;
    }
    const x = this.#x;
    x.restarts = k;
    this.#setState(RESTARTING);
    const old = this.#actor;
    this.#actor = undefined;
    if (!failure && old && typeof old.onStop === "function") {
      try {
        const r = old.onStop(this);
        if (r && typeof (r as Promise<void>).then === "function") {
          (r as Promise<void>).catch(() => {});
        }
      } catch { /* a failing onStop of a self-stopped instance does not block its restart */ }
    }
    const delay = spec.backoffFor(k);
    this.#cfg.host.log(
      "info",
      `actor ${this.label} ${
        failure ? `failed (${error!.message})` : "stopped"
      }; restart ${k}/${spec.maxRestarts} in ${Math.round(delay)} ms`,
    );
    const timers = (x.timers ??= new Set());
    const t = setTimeout(() => {
      timers.delete(t);
      void this.#reboot();
    }, delay);
    timers.add(t);
  }

  // ---- message delivery ----

  /** Deliver a message: kind ASK/CALL resolve with the reply, TELL with undefined. */
  send(kind: number, msg: unknown, args: unknown[] | undefined): Promise<unknown> {
    // Running and not busy (the drain flag is only ever set with a non-empty mailbox).
    if (
      (this.#f & (STATE | BUSY)) === RUNNING &&
      (this.#q === undefined || this.#qHead === this.#q.length)
    ) {
      return this.#runNow(kind, msg, args);
    }
    if ((this.#f & STATE) >= STOPPING) return Promise.reject(this.#stoppedError());
    if (this.mailboxDepth >= this.#cfg.cap) {
      // Full: wait in line holding the message; #admit moves it into the mailbox when a slot
      // frees, so waiting senders keep their order and nobody overtakes them. A tell resolves
      // when admitted, an ask/call with its reply.
      const x = this.#extras();
      return new Promise((resolve, reject) => {
        (x.waiting ??= []).push({ kind, msg, args, resolve, reject });
      });
    }
    if (kind === TELL) {
      // A tell completes once it is in the mailbox, not once it is handled.
      (this.#q ??= []).push({ kind, msg, args, resolve: undefined, reject: undefined });
      this.#scheduleDrain();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      (this.#q ??= []).push({ kind, msg, args, resolve, reject });
      this.#scheduleDrain();
    });
  }

  /**
   * A method call (what proxies and `LocalActorRef.call` use): `send(CALL, ...)` with a shortcut
   * for the common case, an idle actor whose dispatcher is the core's own (`CALL_DIRECT`).
   */
  call(method: string, args: unknown[]): Promise<unknown> {
    const a = this.#actor;
    if (
      (this.#f & (STATE | BUSY)) !== RUNNING ||
      (this.#q !== undefined && this.#qHead !== this.#q.length)
    ) return this.send(CALL, method, args);
    const direct = (a as Partial<DirectDispatcher>)[CALL_DIRECT];
    if (direct === undefined) return this.#runNow(CALL, method, args);
    return this.#callDirect(a!, direct, method, args);
  }

  /** Run a method call through the core's own dispatcher (`CALL_DIRECT`), now. */
  #callDirect(
    a: Actor,
    direct: DirectDispatcher[typeof CALL_DIRECT],
    method: string,
    args: unknown[],
  ): Promise<unknown> {
    this.#f |= BUSY;
    this.handled++;
    let r: unknown;
    try {
      r = direct.call(a, method, args, this);
    } catch (e) {
      this.#f &= ~BUSY;
      this.#countError();
      this.#afterRun();
      return Promise.reject(toPulsingError(e, this.label));
    }
    this.#f &= ~BUSY;
    this.#afterRun();
    if (r instanceof Promise) {
      if (this.#inflightN !== 0) return this.#track(r, false);
      // The common case, an async method with nothing else in flight: `#track`'s first branch,
      // inlined (~2.5 ns less per local call on Deno 2.9).
      const q = new Promise(capture);
      const s = this.#solo ??= this.#newSolo();
      s.resolve = captured.resolve;
      s.reject = captured.reject;
      captured.resolve = captured.reject = undefined;
      s.serial = false;
      this.#inflightN = 1;
      r.then(s.ok, s.err);
      return q;
    }
    return this.#settleValue(CALL, r, false);
  }

  /**
   * The outcome of a handler that returned `r` (not a native promise): follow it if it is a
   * thenable, else answer with it; reading a `then` that throws fails the call. `serial`: the
   * actor is still marked busy, until a thenable settles or else now.
   */
  #settleValue(kind: number, r: unknown, serial: boolean): Promise<unknown> {
    let thenable: boolean;
    try {
      thenable = r !== null && typeof r === "object" &&
        typeof (r as PromiseLike<unknown>).then === "function";
    } catch (e) {
      if (serial) {
        this.#f &= ~BUSY;
        this.#afterRun();
      }
      this.#countError();
      return kind === TELL ? Promise.resolve() : Promise.reject(toPulsingError(e, this.label));
    }
    if (thenable) return this.#settle(kind, this.#track(r as PromiseLike<unknown>, serial));
    if (serial) {
      this.#f &= ~BUSY;
      this.#afterRun();
    }
    return kind === TELL ? Promise.resolve() : Promise.resolve(wrapReply(r, this));
  }

  #runNow(kind: number, msg: unknown, args: unknown[] | undefined): Promise<unknown> {
    const a = this.#actor!;
    if (kind === CALL) {
      const direct = (a as Partial<DirectDispatcher>)[CALL_DIRECT];
      if (direct !== undefined) return this.#callDirect(a, direct, msg as string, args!);
    }
    this.#f |= BUSY;
    this.handled++;
    let r: unknown;
    try {
      if (kind === CALL) {
        const d = (a as Partial<MethodDispatcher>)[CALL_METHOD];
        r = typeof d === "function"
          ? d.call(a, msg as string, args!, this)
          : a.receive(new MethodCall(msg as string, args!), this);
        if (r instanceof Detached) {
          this.#f &= ~BUSY;
          this.#afterRun();
          return this.#settle(kind, this.#track(r.promise, false));
        }
      } else {
        r = a.receive(msg, this);
      }
    } catch (e) {
      this.#f &= ~BUSY;
      this.#countError();
      this.#afterRun();
      return kind === TELL ? Promise.resolve() : Promise.reject(toPulsingError(e, this.label));
    }
    if (r instanceof Promise) return this.#settle(kind, this.#track(r, true));
    return this.#settleValue(kind, r, true);
  }

  /** A tell does not wait for an async handler (and does not see its failure). */
  #settle(kind: number, p: Promise<unknown>): Promise<unknown> {
    if (kind !== TELL) return p;
    p.catch(() => {});
    return Promise.resolve();
  }

  /**
   * Follow a running async handler; `serial` keeps the actor busy until it settles. The caller
   * gets a promise of its own, linked into the in-flight list, so that `terminate` can fail it
   * even if the handler never settles.
   */
  #track(p: PromiseLike<unknown>, serial: boolean): Promise<unknown> {
    const q = new Promise(capture);
    // Nothing else in flight and a native promise (settles once): the shared handlers.
    if (this.#inflightN === 0 && p instanceof Promise) {
      const s = this.#solo ??= this.#newSolo();
      s.resolve = captured.resolve;
      s.reject = captured.reject;
      captured.resolve = captured.reject = undefined;
      s.serial = serial;
      this.#inflightN = 1;
      p.then(s.ok, s.err);
      return q;
    }
    const d = new Pending(captured.resolve!, captured.reject!);
    captured.resolve = captured.reject = undefined;
    const head = this.#inflight;
    if (head !== undefined) {
      head.prev = d;
      d.next = head;
    }
    this.#inflight = d;
    this.#inflightN++;
    p.then(
      (v) => this.#done(d, serial, v, false),
      (e) => this.#done(d, serial, e, true),
    );
    return q;
  }

  #newSolo(): Solo {
    return {
      resolve: undefined,
      reject: undefined,
      serial: false,
      ok: (v) => this.#soloDone(v, false),
      err: (e) => this.#soloDone(e, true),
    };
  }

  /** The solo async handler settled: answer its caller unless `terminate` already failed it. */
  #soloDone(v: unknown, failed: boolean): void {
    const s = this.#solo!;
    if (s.serial) this.#serialDone();
    if (failed) this.#countError();
    const resolve = s.resolve;
    if (resolve === undefined) return;
    const reject = s.reject!;
    s.resolve = s.reject = undefined;
    this.#answer(resolve, reject, v, failed);
  }

  /** An async handler settled: answer its caller unless `terminate` already failed it. */
  #done(d: Pending, serial: boolean, v: unknown, failed: boolean): void {
    if (serial) this.#serialDone();
    if (failed) this.#countError();
    const resolve = d.resolve;
    if (resolve === undefined) return;
    const reject = d.reject!;
    d.resolve = d.reject = undefined;
    const prev = d.prev, next = d.next;
    if (prev !== undefined) prev.next = next;
    else this.#inflight = next;
    if (next !== undefined) next.prev = prev;
    d.prev = d.next = undefined;
    this.#answer(resolve, reject, v, failed);
  }

  /** One fewer handler in flight; answer its caller with the value or the error. */
  #answer(
    resolve: (v: unknown) => void,
    reject: (e: unknown) => void,
    v: unknown,
    failed: boolean,
  ): void {
    if (--this.#inflightN === 0) this.#x?.idle?.();
    if (failed) reject(toPulsingError(v, this.label));
    else resolve(wrapReply(v, this));
  }

  #serialDone(): void {
    this.#f &= ~BUSY;
    this.#afterRun();
  }

  #afterRun(): void {
    if (this.#q !== undefined && this.#qHead < this.#q.length) this.#scheduleDrain();
  }

  #scheduleDrain(): void {
    if ((this.#f & (STATE | DRAIN)) !== RUNNING) return;
    if (this.#q === undefined || this.#qHead === this.#q.length) return;
    this.#f |= DRAIN;
    queueMicrotask(() => {
      this.#f &= ~DRAIN;
      this.#drain();
    });
  }

  #drain(): void {
    const q = this.#q;
    if (q === undefined) return;
    while ((this.#f & (STATE | BUSY)) === RUNNING && this.#qHead < q.length) {
      const env = q[this.#qHead];
      q[this.#qHead++] = undefined as unknown as Envelope;
      if (this.#qHead > 1024 && this.#qHead * 2 > q.length) {
        q.splice(0, this.#qHead);
        this.#qHead = 0;
      }
      this.#admit();
      const p = this.#runNow(env.kind, env.msg, env.args);
      if (env.resolve !== undefined) p.then(env.resolve, env.reject);
    }
    if (this.#qHead === q.length) {
      q.length = 0;
      this.#qHead = 0;
    }
  }

  /** A mailbox slot freed: move the oldest waiting sender's message in. */
  #admit(): void {
    const w = this.#x?.waiting;
    if (w === undefined || w.length === 0) return;
    const env = w.shift()!;
    if (env.kind === TELL) {
      env.resolve!(undefined);
      env.resolve = env.reject = undefined;
    }
    this.#q!.push(env);
  }

  #stoppedError(): PulsingRuntimeError {
    const failure = this.#x?.failure;
    return new PulsingRuntimeError(
      failure === undefined
        ? `Actor stopped: ${this.label}`
        : `Actor stopped: ${this.label} failed: ${failure}`,
    );
  }

  /**
   * Stop for good: refuse new messages, fail queued ones, give running calls `graceMs` to
   * finish (then fail them), run `onStop`, unregister.
   */
  terminate(graceMs: number): Promise<void> {
    const x = this.#extras();
    if (x.stopped) return x.stopped;
    x.stopped = this.#terminate(graceMs, x);
    return x.stopped;
  }

  async #terminate(graceMs: number, x: Extras): Promise<void> {
    const wasRunning = (this.#f & STATE) === RUNNING;
    this.#setState(STOPPING);
    if (x.timers) {
      for (const t of x.timers) clearTimeout(t);
      x.timers.clear();
    }
    const err = this.#stoppedError();
    const q = this.#q;
    if (q) {
      for (let i = this.#qHead; i < q.length; i++) q[i].reject?.(err);
      this.#q = undefined;
      this.#qHead = 0;
    }
    const w = x.waiting;
    x.waiting = undefined;
    if (w) { for (const env of w) env.reject!(err); }
    // Tell running work at once (ctx.signal), so that it can end within the grace period.
    x.abort?.abort(err);
    if (this.#inflightN > 0) {
      if (graceMs > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          x.idle = resolve;
          timer = setTimeout(resolve, graceMs);
        });
        clearTimeout(timer);
      }
      // Whatever is still running now fails its caller (its late result is dropped).
      const s = this.#solo;
      if (s !== undefined && s.reject !== undefined) {
        const reject = s.reject;
        s.resolve = s.reject = undefined;
        reject(err);
      }
      let d = this.#inflight;
      this.#inflight = undefined;
      this.#inflightN = 0;
      while (d !== undefined) {
        const reject = d.reject!;
        const next = d.next;
        d.resolve = d.reject = undefined;
        d.prev = d.next = undefined;
        reject(err);
        d = next;
      }
    }
    const a = this.#actor;
    if (a && wasRunning && typeof a.onStop === "function") {
      try {
        await a.onStop(this);
      } catch (e) {
        this.#cfg.host.log(
          "warn",
          `actor ${this.label}: onStop failed: ${(e as Error)?.message ?? e}`,
        );
      }
    }
    this.#setState(STOPPED);
    this.#cfg.host.cellTerminated(this);
  }
}

/**
 * A stream-like reply becomes an `ActorStream` whose errors reach the consumer as Pulsing
 * errors (a plain error thrown mid-stream arrives as `PulsingActorError`, as it would from a
 * remote actor).
 */
function wrapReply(v: unknown, cell: ActorCell): unknown {
  if (v !== null && typeof v === "object" && !(v instanceof ActorStream) && isStreamLike(v)) {
    return ActorStream.fromIterable(v, (e) => toPulsingError(e, cell.label));
  }
  return v;
}

/** The reference to a local actor. */
export class LocalActorRef extends ActorRef {
  readonly #cell: ActorCell;
  /** Wrap a cell (internal). */
  constructor(cell: ActorCell) {
    super();
    this.#cell = cell;
  }
  /** The actor's id. */
  get actorId(): ActorId {
    return this.#cell.actorId;
  }
  /** The node it runs on. */
  get nodeId(): NodeId {
    return this.#cell.nodeId;
  }
  /** Its name, when named. */
  get name(): string | undefined {
    return this.#cell.name;
  }
  /** The cell behind this reference (internal). */
  get cell(): ActorCell {
    return this.#cell;
  }
  /** Always true. */
  isLocal(): boolean {
    return true;
  }
  /** Send a message and wait for the reply. */
  ask<R = unknown>(msg: unknown, options?: CallOptions): Promise<R> {
    const p = this.#cell.send(ASK, msg, undefined) as Promise<R>;
    return options === undefined ? p : withCallOptions(p, options, `ask ${this.#cell.label}`);
  }
  /** Send without waiting for handling. */
  tell(msg: unknown): Promise<void> {
    return this.#cell.send(TELL, msg, undefined) as Promise<void>;
  }
  /** Call a method by name. */
  call(method: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    const p = this.#cell.call(method, args);
    return options === undefined
      ? p
      : withCallOptions(p, options, `call ${this.#cell.label}.${method}`);
  }
}

/** Apply a timeout and an abort signal to a pending call (timers only when asked for). */
export function withCallOptions<T>(p: Promise<T>, o: CallOptions, what: string): Promise<T> {
  if (o.timeout === undefined && o.signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(o.signal!.reason ?? new PulsingRuntimeError(`${what}: aborted`));
    };
    if (o.timeout !== undefined && o.timeout !== Infinity) {
      const ms = o.timeout;
      timer = setTimeout(() => {
        o.signal?.removeEventListener("abort", onAbort);
        reject(new PulsingTimeoutError(what, ms));
      }, Math.max(0, ms));
    }
    if (o.signal) {
      if (o.signal.aborted) return onAbort();
      o.signal.addEventListener("abort", onAbort, { once: true });
    }
    p.then((v) => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      if (o.signal && v instanceof ActorStream) v.abortOn(o.signal);
      resolve(v);
    }, (e) => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      reject(e);
    });
  });
}

/** Message kinds (internal). */
export const KIND = { ASK, TELL, CALL } as const;
