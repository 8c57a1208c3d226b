/**
 * The low-level {@linkcode Actor} interface and the {@linkcode ActorContext} handed to it.
 *
 * @module
 */

import type { ActorId, NodeId } from "./ids.ts";
import type { ActorRef } from "./actor_ref.ts";

/**
 * An actor of the low-level API: anything with a `receive` method. `receive` may be sync or
 * async (auto-detected); the next message is taken only once it has returned or its promise
 * has settled, so an actor handles one message at a time. Returning a generator, an async
 * iterable or a {@linkcode StreamMessage} answers with a stream.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * import type { Actor, ActorContext } from "@pulsing/pulsing/core";
 *
 * class Echo implements Actor {
 *   receive(msg: unknown, _ctx: ActorContext): unknown {
 *     return msg;
 *   }
 * }
 * const system = await pul.actorSystem();
 * const ref = await system.spawn(new Echo(), { name: "echo" });
 * console.log(await ref.ask("hi")); // "hi"
 * await system.shutdown();
 * ```
 */
export interface Actor {
  /** Handle one message; the returned value (or promise) is the reply to an `ask`. */
  receive(msg: unknown, ctx: ActorContext): unknown;
  /** Runs before the first message. Throwing here is a failure (see supervision). */
  onStart?(actorId: ActorId, ctx: ActorContext): void | Promise<void>;
  /** Runs when the actor stops (explicit stop, self stop, or system shutdown). */
  onStop?(ctx: ActorContext): void | Promise<void>;
  /** Diagnostic key/values shown in listings. */
  metadata?(): Record<string, string>;
}

/**
 * What an actor knows about itself and can do to itself.
 *
 * @example
 * ```ts
 * import type { Actor, ActorContext } from "@pulsing/pulsing/core";
 * class Ticker implements Actor {
 *   ticks = 0;
 *   receive(msg: unknown, ctx: ActorContext): unknown {
 *     if (msg === "start") ctx.scheduleSelf("tick", 10);
 *     if (msg === "tick") this.ticks++;
 *     return this.ticks;
 *   }
 * }
 * ```
 */
export interface ActorContext {
  /** This actor's id. */
  readonly actorId: ActorId;
  /** The node this actor runs on. */
  readonly nodeId: NodeId;
  /** This actor's name (path), when named. */
  readonly name: string | undefined;
  /** Aborted when the actor stops: pass it to long work so that it ends with the actor. */
  readonly signal: AbortSignal;
  /** A reference to this actor. */
  self(): ActorRef;
  /** Send a message to this actor after `delayMs`; returns a function that cancels it. */
  scheduleSelf(msg: unknown, delayMs: number): () => void;
  /** Stop this actor once the current message is handled (restarts under policy "always"). */
  stop(): void;
  /** Report a crash this actor cannot handle: supervision decides whether to restart it. */
  fail(error: unknown): void;
}

/**
 * Symbol under which an actor may expose a method dispatcher, used by proxies of
 * `pul.remote` classes and `pul.mount`ed objects instead of `receive`.
 *
 * @example
 * ```ts
 * import { CALL_METHOD } from "@pulsing/pulsing/core";
 * console.log(typeof CALL_METHOD); // "symbol"
 * ```
 */
export const CALL_METHOD: unique symbol = Symbol.for("pulsing.callMethod");

/** The shape of a method dispatcher (see {@linkcode CALL_METHOD}). */
export interface MethodDispatcher {
  /** Run `method(...args)`; return a {@linkcode Detached} for calls that must not block the mailbox. */
  [CALL_METHOD](method: string, args: unknown[], ctx: ActorContext): unknown;
}

/**
 * Wraps the promise of an async method call that runs independently of the mailbox: the
 * actor takes its next message at once (async methods interleave at their awaits).
 *
 * @example
 * ```ts
 * import { Detached } from "@pulsing/pulsing/core";
 * const d = new Detached(Promise.resolve(1));
 * console.log(await d.promise); // 1
 * ```
 */
export class Detached {
  /** The running call. */
  readonly promise: Promise<unknown>;
  /** Wrap a running call. */
  constructor(promise: Promise<unknown>) {
    this.promise = promise;
  }
}

/**
 * A method call addressed to an actor without a method dispatcher: what a raw `receive` sees
 * when it is called through a proxy.
 *
 * @example
 * ```ts
 * import { MethodCall } from "@pulsing/pulsing/core";
 * const c = new MethodCall("add", [1, 2]);
 * console.log(c.method, c.args); // "add" [1, 2]
 * ```
 */
export class MethodCall {
  /** The method name. */
  readonly method: string;
  /** The arguments. */
  readonly args: unknown[];
  /** Build a call. */
  constructor(method: string, args: unknown[]) {
    this.method = method;
    this.args = args;
  }
}
