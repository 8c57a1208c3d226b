/**
 * Typed behaviours (Akka Typed style): an actor is a function from a message to the next
 * behaviour. Unlike the reference, a behaviour can reply with a value.
 *
 * @module
 */

import type { Actor, ActorContext } from "./actor.ts";
import { PulsingRuntimeError } from "./errors.ts";

const SAME = 0;
const NEXT = 1;
const BECOME = 2;
const STOP = 3;

/**
 * What a behaviour does after a message: keep going (`same`), keep going with a new state
 * (`next`, stateful behaviours), switch to another behaviour (`become`), or stop (`stop`).
 * Each can carry the reply sent back to an `ask`.
 *
 * @example
 * ```ts
 * import { BehaviorAction, stateful } from "@pulsing/pulsing/core";
 * const counter = stateful(0, (count, n: number) => BehaviorAction.next(count + n, count + n));
 * ```
 */
export class BehaviorAction<S = unknown> {
  /** @internal */
  readonly kind: number;
  /** The reply to the sender. */
  readonly reply: unknown;
  /** The new state (`next`). */
  readonly state: S | undefined;
  /** The new behaviour (`become`). */
  readonly behavior: Behavior<unknown> | undefined;
  /** Why it stopped (`stop`). */
  readonly reason: string | undefined;
  private constructor(
    kind: number,
    reply: unknown,
    state?: S,
    behavior?: Behavior<unknown>,
    reason?: string,
  ) {
    this.kind = kind;
    this.reply = reply;
    this.state = state;
    this.behavior = behavior;
    this.reason = reason;
  }
  /** Keep the behaviour and its state; optionally reply. */
  static same<S = never>(reply?: unknown): BehaviorAction<S> {
    return new BehaviorAction<S>(SAME, reply);
  }
  /** Keep the handler with a new state; optionally reply. */
  static next<S>(state: S, reply?: unknown): BehaviorAction<S> {
    return new BehaviorAction<S>(NEXT, reply, state);
  }
  /** Switch to another behaviour; optionally reply. */
  // deno-lint-ignore no-explicit-any
  static become<S = never>(behavior: Behavior<any>, reply?: unknown): BehaviorAction<S> {
    return new BehaviorAction<S>(BECOME, reply, undefined, behavior as Behavior<unknown>);
  }
  /** Stop the actor after replying. */
  static stop<S = never>(reason?: string, reply?: unknown): BehaviorAction<S> {
    return new BehaviorAction<S>(STOP, reply, undefined, undefined, reason);
  }
  /** True for a stop. */
  isStop(): boolean {
    return this.kind === STOP;
  }
}

/**
 * A behaviour handling messages of type `M`; spawn it like any actor.
 *
 * @example
 * ```ts
 * import { ActorSystem, BehaviorAction, stateless } from "@pulsing/pulsing/core";
 * const system = new ActorSystem();
 * const ref = await system.spawn(stateless((m: string) => BehaviorAction.same(m.toUpperCase())));
 * console.log(await ref.ask("hi")); // "HI"
 * await system.shutdown();
 * ```
 */
export class Behavior<M> implements Actor {
  /** This behaviour's own handler: never changes, so the behaviour can be `become` again. */
  readonly #initial: (
    msg: M,
    ctx: ActorContext,
  ) => BehaviorAction<unknown> | Promise<BehaviorAction<unknown>>;
  /** The handler in effect for the actor running this behaviour (changed by `become`). */
  #handle: (
    msg: M,
    ctx: ActorContext,
  ) => BehaviorAction<unknown> | Promise<BehaviorAction<unknown>>;
  #stopped: string | undefined;
  /** Wrap a handler (use {@linkcode stateful} or {@linkcode stateless}). */
  constructor(
    handle: (
      msg: M,
      ctx: ActorContext,
    ) => BehaviorAction<unknown> | Promise<BehaviorAction<unknown>>,
  ) {
    this.#initial = handle;
    this.#handle = handle;
  }
  /** Run the current handler on one message. */
  receive(msg: unknown, ctx: ActorContext): unknown {
    if (this.#stopped !== undefined) {
      throw new PulsingRuntimeError(`Actor already stopped: ${this.#stopped}`);
    }
    const r = this.#handle(msg as M, ctx);
    if (r instanceof Promise) return r.then((a) => this.#apply(a, ctx));
    return this.#apply(r, ctx);
  }
  #apply(a: BehaviorAction<unknown>, ctx: ActorContext): unknown {
    if (!(a instanceof BehaviorAction)) {
      throw new TypeError("A behaviour handler must return a BehaviorAction");
    }
    if (a.kind === BECOME) this.#handle = a.behavior!.#initial;
    else if (a.kind === STOP) {
      this.#stopped = a.reason ?? "stopped";
      ctx.stop();
    }
    return a.reply;
  }
  /** @internal swap state for stateful behaviours. */
  static stateful<S, M>(
    init: S,
    handler: (
      state: S,
      msg: M,
      ctx: ActorContext,
    ) => BehaviorAction<S> | Promise<BehaviorAction<S>>,
  ): Behavior<M> {
    let state = init;
    const apply = (a: BehaviorAction<S>): BehaviorAction<unknown> => {
      if (a instanceof BehaviorAction && a.kind === NEXT) state = a.state as S;
      return a as BehaviorAction<unknown>;
    };
    return new Behavior<M>((msg, ctx) => {
      const r = handler(state, msg, ctx);
      return r instanceof Promise ? r.then(apply) : apply(r);
    });
  }
}

/**
 * A behaviour with state: `handler(state, msg, ctx)` returns the next action; use
 * `BehaviorAction.next(newState, reply)` to change the state.
 *
 * @example
 * ```ts
 * import { ActorSystem, BehaviorAction, stateful } from "@pulsing/pulsing/core";
 * const system = new ActorSystem();
 * const ref = await system.spawn(
 *   stateful(0, (count, n: number) => BehaviorAction.next(count + n, count + n)),
 * );
 * await ref.ask(2);
 * console.log(await ref.ask(3)); // 5
 * await system.shutdown();
 * ```
 */
export function stateful<S, M>(
  init: S,
  handler: (state: S, msg: M, ctx: ActorContext) => BehaviorAction<S> | Promise<BehaviorAction<S>>,
): Behavior<M> {
  return Behavior.stateful(init, handler);
}

/**
 * A behaviour without state.
 *
 * @example
 * ```ts
 * import { BehaviorAction, stateless } from "@pulsing/pulsing/core";
 * const echo = stateless((m: unknown) => BehaviorAction.same(m));
 * ```
 */
export function stateless<M>(
  handler: (
    msg: M,
    ctx: ActorContext,
  ) => BehaviorAction<unknown> | Promise<BehaviorAction<unknown>>,
): Behavior<M> {
  return new Behavior<M>(handler);
}
