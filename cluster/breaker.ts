/**
 * A circuit breaker per remote node: after repeated connection-level failures, calls to that
 * node fail at once with a clear error instead of each paying for a refused (or hanging)
 * connection attempt; after a delay one trial call goes through (half-open); its success
 * closes the circuit, its failure opens it again for longer.
 *
 * - **closed**: calls pass. A connection-level failure is counted; `failureThreshold`
 *   failures within `windowMs` (with no success in between) open the circuit.
 * - **open**: calls fail fast with `PulsingRuntimeError` ("circuit open for node
 *   127.0.0.1:7001 after 5 failures; retrying in 1.6 s") until the delay is over.
 * - **half-open**: the first call after the delay is the trial; the others keep failing fast
 *   until it settles. Success (any answer from the node, even an actor's error) closes the
 *   circuit and resets the delay; a connection-level failure or a timeout opens it again with
 *   the delay multiplied by `multiplier`, up to `maxDelayMs`.
 *
 * Only the caller knows what counts as a failure: it reports `"success"`, `"failure"` or
 * `"neutral"` (a timeout or an error that says nothing about the node) with
 * {@linkcode CircuitBreaker.record}. Membership can force the state: a member declared dead
 * opens its circuit at once ({@linkcode CircuitBreaker.trip}); one seen alive again resets it
 * ({@linkcode CircuitBreaker.reset}).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "./breaker.ts";
 * let now = 0;
 * const b = new CircuitBreaker("127.0.0.1:7001", { failureThreshold: 2, now: () => now });
 * b.record("failure");
 * b.record("failure");
 * console.log(b.state); // "open"
 * try { b.acquire(); } catch (e) { console.log((e as Error).message); }
 * // circuit open for node 127.0.0.1:7001 after 2 failures; retrying in 1.0 s
 * now += 1000;
 * b.acquire(); // the trial call
 * b.record("success");
 * console.log(b.state); // "closed"
 * ```
 *
 * @module
 */

import { PulsingRuntimeError } from "../core/errors.ts";

/**
 * Settings of a {@linkcode CircuitBreaker}; every field has a default in
 * {@linkcode DEFAULT_BREAKER_OPTIONS}.
 *
 * @example
 * ```ts
 * import type { BreakerOptions } from "./breaker.ts";
 * const o: BreakerOptions = { failureThreshold: 3, baseDelayMs: 500 };
 * console.log(o.failureThreshold); // 3
 * ```
 */
export interface BreakerOptions {
  /** Connection-level failures (within `windowMs`, no success between) that open it. */
  failureThreshold?: number;
  /** Failures older than this no longer count, in ms. */
  windowMs?: number;
  /** How long it stays open the first time, in ms. */
  baseDelayMs?: number;
  /** Each failed trial multiplies the delay by this. */
  multiplier?: number;
  /** Cap of the delay, in ms. */
  maxDelayMs?: number;
  /** Clock in ms, for tests (default `performance.now`). */
  now?: () => number;
}

/**
 * The defaults: 5 failures within 10 s open the circuit for 1 s, then 2 s, 4 s … up to 30 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_BREAKER_OPTIONS } from "./breaker.ts";
 * console.log(DEFAULT_BREAKER_OPTIONS.failureThreshold); // 5
 * ```
 */
export const DEFAULT_BREAKER_OPTIONS: Readonly<Required<Omit<BreakerOptions, "now">>> = Object
  .freeze({
    failureThreshold: 5,
    windowMs: 10_000,
    baseDelayMs: 1_000,
    multiplier: 2,
    maxDelayMs: 30_000,
  });

/**
 * State of a circuit.
 *
 * @example
 * ```ts
 * import type { BreakerState } from "./breaker.ts";
 * const s: BreakerState = "half-open";
 * console.log(s); // "half-open"
 * ```
 */
export type BreakerState = "closed" | "open" | "half-open";

/**
 * How a call went, as far as the node's reachability is concerned: `"success"` (the node
 * answered, even with an error), `"failure"` (connection-level: refused, reset, closed),
 * `"neutral"` (says nothing, e.g. a timeout of a slow actor).
 *
 * @example
 * ```ts
 * import type { CallOutcome } from "./breaker.ts";
 * const o: CallOutcome = "failure";
 * console.log(o); // "failure"
 * ```
 */
export type CallOutcome = "success" | "failure" | "neutral";

/**
 * The error of a call refused by an open circuit. A `PulsingRuntimeError`, so callers that
 * catch those need nothing new; the request never left this node.
 *
 * @example
 * ```ts
 * import { CircuitOpenError } from "./breaker.ts";
 * const e = new CircuitOpenError("127.0.0.1:7001", 5, 1600);
 * console.log(e.message); // circuit open for node 127.0.0.1:7001 after 5 failures; retrying in 1.6 s
 * ```
 */
export class CircuitOpenError extends PulsingRuntimeError {
  /** The node (its address). */
  readonly node: string;
  /** Milliseconds until a trial call is let through (0: a trial is in progress). */
  readonly retryInMs: number;
  /**
   * The error for a call refused by the circuit of `node`.
   *
   * @param node The node's address.
   * @param failures Consecutive failures that opened it (0: opened by membership).
   * @param retryInMs Time until the next trial call.
   * @param reason Why it opened, when not counted failures.
   */
  constructor(node: string, failures: number, retryInMs: number, reason?: string) {
    const why = reason ?? `after ${failures} failure${failures === 1 ? "" : "s"}`;
    const when = retryInMs > 0
      ? `retrying in ${(retryInMs / 1000).toFixed(1)} s`
      : "a trial call is in progress";
    super(`circuit open for node ${node} ${why}; ${when}`);
    this.name = "PulsingRuntimeError";
    this.node = node;
    this.retryInMs = retryInMs;
  }
}

/**
 * One node's circuit. Call {@linkcode CircuitBreaker.acquire} before a call (it throws
 * {@linkcode CircuitOpenError} to fail fast) and {@linkcode CircuitBreaker.record} with the
 * outcome after it.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "./breaker.ts";
 * const b = new CircuitBreaker("10.0.0.2:7000");
 * const trial = b.acquire();
 * b.record("success", trial);
 * console.log(b.state, b.failures); // "closed" 0
 * ```
 */
export class CircuitBreaker {
  /** The node this circuit guards (its address, used in messages). */
  readonly node: string;
  readonly #o: Readonly<Required<Omit<BreakerOptions, "now">>>;
  readonly #now: () => number;
  #state: BreakerState = "closed";
  #failures: number[] = [];
  #openedWith = 0;
  #reason: string | undefined;
  #delay: number;
  #openUntil = 0;
  #trial = false;

  /**
   * A closed circuit for `node`.
   *
   * @param node The node's address (appears in the error message).
   * @param options Thresholds, delays and clock.
   */
  constructor(node: string, options: BreakerOptions = {}) {
    this.node = node;
    const o = { ...DEFAULT_BREAKER_OPTIONS };
    for (const [k, v] of Object.entries(options)) {
      if (v !== undefined && k !== "now") (o as Record<string, number>)[k] = v as number;
    }
    this.#o = o;
    this.#now = options.now ?? (() => performance.now());
    this.#delay = o.baseDelayMs;
  }

  /** Current state (an open circuit whose delay is over reads as "half-open"). */
  get state(): BreakerState {
    if (this.#state === "open" && this.#now() >= this.#openUntil) return "half-open";
    return this.#state;
  }

  /** Failures counted toward opening (closed state). */
  get failures(): number {
    this.#prune();
    return this.#failures.length;
  }

  /** The delay the next opening will use, in ms. */
  get delayMs(): number {
    return this.#delay;
  }

  /**
   * Ask to make a call.
   *
   * @returns `true` when this call is the half-open trial (pass it back to `record`).
   * @throws {CircuitOpenError} when the circuit is open, or half-open with a trial running.
   */
  acquire(): boolean {
    if (this.#state === "closed") return false;
    const now = this.#now();
    if (this.#state === "open" && now >= this.#openUntil) {
      this.#state = "half-open";
      this.#trial = false;
    }
    if (this.#state === "half-open" && !this.#trial) {
      this.#trial = true;
      return true;
    }
    throw new CircuitOpenError(
      this.node,
      this.#openedWith,
      this.#state === "open" ? this.#openUntil - now : 0,
      this.#reason,
    );
  }

  /**
   * Report how a call went.
   *
   * @param outcome What the call says about the node.
   * @param trial What `acquire` returned for this call.
   */
  record(outcome: CallOutcome, trial = false): void {
    if (trial) {
      if (this.#state !== "half-open") return; // reset or tripped meanwhile
      this.#trial = false;
      if (outcome === "success") this.reset();
      else this.#open(this.#openedWith, this.#reason, true);
      return;
    }
    if (this.#state !== "closed") {
      // A call from before the opening: its failure is old news, but an answer proves the
      // node reachable.
      if (outcome === "success") this.reset();
      return;
    }
    if (outcome === "success") {
      if (this.#failures.length !== 0) this.#failures.length = 0; // no store on the hot path
    } else if (outcome === "failure") {
      this.#prune();
      this.#failures.push(this.#now());
      if (this.#failures.length >= this.#o.failureThreshold) {
        this.#open(this.#failures.length, undefined, false);
      }
    }
  }

  /**
   * Open the circuit now, whatever the count (e.g. membership declared the node dead).
   *
   * @param reason Replaces "after N failures" in the message.
   */
  trip(reason: string): void {
    if (this.#state !== "closed") {
      this.#reason = reason;
      return;
    }
    this.#open(0, reason, false);
  }

  /** Close the circuit and forget failures and backoff (e.g. the node is alive again). */
  reset(): void {
    this.#state = "closed";
    this.#failures.length = 0;
    this.#delay = this.#o.baseDelayMs;
    this.#trial = false;
    this.#reason = undefined;
    this.#openedWith = 0;
  }

  #open(failures: number, reason: string | undefined, again: boolean): void {
    if (again) this.#delay = Math.min(this.#delay * this.#o.multiplier, this.#o.maxDelayMs);
    this.#state = "open";
    this.#openedWith = failures;
    this.#reason = reason;
    this.#openUntil = this.#now() + this.#delay;
    this.#failures.length = 0;
  }

  #prune(): void {
    const cut = this.#now() - this.#o.windowMs;
    while (this.#failures.length > 0 && this.#failures[0] <= cut) this.#failures.shift();
  }
}
