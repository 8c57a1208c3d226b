/**
 * {@linkcode ActorRef}: a handle to one actor, local or remote.
 *
 * @module
 */

import type { ActorId, NodeId } from "./ids.ts";

/** Options of a single call. */
export interface CallOptions {
  /** Fail with `PulsingTimeoutError` after this many ms (remote default 30 000; local: none). */
  timeout?: number;
  /** Abandon the call. */
  signal?: AbortSignal;
}

/**
 * A handle to one actor. It stays valid across supervised restarts; once the actor is gone
 * every call on it fails with `PulsingRuntimeError`.
 *
 * `ask` answers with the actor's reply — or, when the actor answered with a stream, with an
 * `ActorStream`. `tell` sends without waiting for handling. `call` invokes a method of a
 * `pul.remote` class or a mounted object (what proxies use).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const system = await pul.actorSystem();
 * const ref = await system.spawn({ receive: (m: unknown) => `got ${m}` });
 * console.log(await ref.ask("x")); // "got x"
 * await ref.tell("y");
 * await system.shutdown();
 * ```
 */
export abstract class ActorRef {
  /** The actor's id. */
  abstract get actorId(): ActorId;
  /** The node it runs on. */
  abstract get nodeId(): NodeId;
  /** Its name (path), when it has one. */
  abstract get name(): string | undefined;
  /** True when the actor lives in this process. */
  abstract isLocal(): boolean;
  /** Send a message and wait for the reply. */
  abstract ask<R = unknown>(msg: unknown, options?: CallOptions): Promise<R>;
  /** Send a message without waiting for it to be handled (waits only for mailbox space). */
  abstract tell(msg: unknown): Promise<void>;
  /** Call a method by name (proxies use this). */
  abstract call(method: string, args: unknown[], options?: CallOptions): Promise<unknown>;
  /** A readable form for logs. */
  toString(): string {
    return `ActorRef(${this.name ?? this.actorId.toString()}, ${
      this.isLocal() ? "local" : "remote"
    })`;
  }
}
