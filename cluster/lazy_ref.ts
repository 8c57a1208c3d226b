/**
 * {@linkcode LazyActorRef}: a reference to a *name* rather than to one actor. It resolves on
 * first use, keeps the chosen instance, and resolves again when that instance goes away (its
 * node dies or leaves, the name moves), when a call fails to reach it, and every `ttlMs`.
 *
 * Retry rule: a call whose request never left this node (no connection, or the connection
 * was already closed) is retried once on another instance; a call that may have reached its
 * target is never repeated — its error goes to the caller, and only the next call moves.
 *
 * @module
 */

import { ActorRef, type CallOptions } from "../core/actor_ref.ts";
import { PulsingTimeoutError } from "../core/errors.ts";
import { ActorId, NodeId } from "../core/ids.ts";

/** What went wrong with a call, as far as re-resolving is concerned. */
export type FailureKind = "unsent" | "connection" | "other";

/**
 * What a lazy reference needs from the node.
 *
 * @example
 * ```ts
 * import type { LazyHost } from "./lazy_ref.ts";
 * const classify: LazyHost["classify"] = () => "other";
 * console.log(classify(new Error("x"))); // "other"
 * ```
 */
export interface LazyHost {
  /** Pick an instance now (waiting for the name as the options say); never excluded nodes. */
  resolve(exclude: ReadonlySet<string>): Promise<ActorRef>;
  /** Is this previously resolved target still the live holder of the name? (cheap) */
  isCurrent(ref: ActorRef): boolean;
  /** Classify a call's failure. */
  classify(error: unknown): FailureKind;
}

/** Options of {@linkcode LazyActorRef}. */
export interface LazyOptions {
  /** Resolve again after this long even if nothing failed, in ms (default 5000; 0 = never). */
  ttlMs?: number;
  /** Clock, for tests (default `Date.now`). */
  now?: () => number;
}

const NO_ID = "0".repeat(32);

/**
 * A reference that resolves its name on use and moves to another instance when its target
 * goes away. Obtain one with `system.resolving().lazy(name)`.
 *
 * @example
 * ```ts
 * import { LazyActorRef } from "./lazy_ref.ts";
 * import { ActorSystem } from "../core/system.ts";
 * const system = new ActorSystem();
 * const lazy = new LazyActorRef("actors/x", {
 *   resolve: () => system.resolve("x", { timeout: 1000 }),
 *   isCurrent: () => true,
 *   classify: () => "other",
 * });
 * await system.spawn({ receive: (n: number) => n + 1 }, { name: "x" });
 * console.log(await lazy.ask(1)); // 2
 * await system.shutdown();
 * ```
 */
export class LazyActorRef extends ActorRef {
  readonly #path: string;
  readonly #host: LazyHost;
  readonly #ttl: number;
  readonly #now: () => number;
  #target: ActorRef | undefined;
  #resolvedAt = 0;
  #resolving: Promise<ActorRef> | undefined;
  #resolves = 0;

  /**
   * A lazy reference (use `system.resolving().lazy(name)` instead).
   * @param path The normalized name.
   * @param host The node's side.
   * @param options TTL and clock.
   */
  constructor(path: string, host: LazyHost, options: LazyOptions = {}) {
    super();
    this.#path = path;
    this.#host = host;
    this.#ttl = options.ttlMs ?? 5_000;
    this.#now = options.now ?? Date.now;
  }

  /** The current target's id (all zeros before the first resolve). */
  get actorId(): ActorId {
    return this.#target?.actorId ?? new ActorId(NO_ID);
  }
  /** The current target's node (all zeros before the first resolve). */
  get nodeId(): NodeId {
    return this.#target?.nodeId ?? new NodeId(NO_ID);
  }
  /** The name. */
  get name(): string {
    return this.#path;
  }
  /** Whether the current target is in this process. */
  isLocal(): boolean {
    return this.#target?.isLocal() ?? false;
  }
  /** The instance in use now, if resolved (for diagnostics and tests). */
  get current(): ActorRef | undefined {
    return this.#target;
  }
  /** How many times it resolved (for diagnostics and tests). */
  get resolveCount(): number {
    return this.#resolves;
  }

  /** Forget the current target: the next call resolves again. */
  invalidate(): void {
    this.#target = undefined;
  }

  /** Ask the current instance (resolving first if needed). */
  ask<R = unknown>(msg: unknown, options?: CallOptions): Promise<R> {
    return this.#run((t) => t.ask<R>(msg, options));
  }
  /** Tell the current instance (resolving first if needed). */
  tell(msg: unknown): Promise<void> {
    return this.#run((t) => t.tell(msg));
  }
  /** Call a method of the current instance (resolving first if needed). */
  call(method: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    return this.#run((t) => t.call(method, args, options));
  }
  /** A readable form. */
  override toString(): string {
    return `LazyActorRef(${this.#path}${this.#target ? ` -> ${this.#target.nodeId}` : ""})`;
  }

  async #run<T>(op: (t: ActorRef) => Promise<T>): Promise<T> {
    const t = await this.#get(undefined);
    try {
      return await op(t);
    } catch (e) {
      const kind = e instanceof PulsingTimeoutError ? "connection" : this.#host.classify(e);
      if (kind === "other") throw e;
      if (this.#target === t) this.#target = undefined;
      if (kind !== "unsent") throw e; // it may have run: never twice
      let t2: ActorRef;
      try {
        t2 = await this.#get(new Set([t.nodeId.value]));
      } catch {
        throw e; // no other instance: the original failure says more
      }
      return await op(t2);
    }
  }

  #get(exclude: ReadonlySet<string> | undefined): Promise<ActorRef> {
    const t = this.#target;
    if (
      exclude === undefined && t !== undefined && this.#host.isCurrent(t) &&
      (this.#ttl <= 0 || this.#now() - this.#resolvedAt < this.#ttl)
    ) {
      return Promise.resolve(t);
    }
    if (exclude !== undefined) return this.#resolve(exclude);
    // Concurrent callers share one resolve.
    this.#resolving ??= this.#resolve(new Set()).finally(() => {
      this.#resolving = undefined;
    });
    return this.#resolving;
  }

  async #resolve(exclude: ReadonlySet<string>): Promise<ActorRef> {
    const r = await this.#host.resolve(exclude);
    this.#resolves++;
    this.#target = r;
    this.#resolvedAt = this.#now();
    return r;
  }
}
