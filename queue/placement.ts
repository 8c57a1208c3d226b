/**
 * Where the queue's bucket actors and the topics' broker actors live, and how a client finds
 * or creates one.
 *
 * Each such actor has a well-known name (`queues/<topic>/bucket_<n>`,
 * `topics/<topic>/broker`) and a rendezvous key (`[topic, n]`, `["topic", topic]`). Its home
 * is the owner of that key among the live members ({@linkcode ownerOf}), so every node agrees
 * on it without talking, and only about 1/N of the actors move when a node joins or leaves.
 *
 * {@linkcode findOrSpawn} looks for the name on the owner, then anywhere in the cluster (an
 * actor created under an older membership keeps serving, with its data), and only then spawns
 * it on the owner. Any node can host these actors: the classes are registered (`pul.remote`)
 * when `queue/mod.ts` and `topic/mod.ts` are imported, which `mod.ts` does. Two clients racing
 * to create the same actor both land on the same owner, which refuses the second
 * ("Actor already exists"); the loser resolves the winner's actor.
 *
 * @module
 */

import type { ActorRef, CallOptions } from "../core/actor_ref.ts";
import { PulsingRuntimeError } from "../core/errors.ts";
import { normalizeName } from "../core/names.ts";
import { type ActorClass, refOf } from "../core/remote.ts";
import type { ActorSystem } from "../core/system.ts";
import type { HashableKey } from "./bucket_hash.ts";
import { ownerOf } from "./rendezvous.ts";

const SEGMENT = /^[\p{L}\p{N}_-]+$/u;

/**
 * Check a queue or topic name: one name segment (letters, digits, `_`, `-`; no `/`), short
 * enough for the actor names built from it.
 *
 * @param topic The queue topic or pub/sub topic.
 * @param what `"queue"` or `"topic"`, for the message.
 * @returns The topic, unchanged.
 * @throws {TypeError} If it is not a valid name segment.
 *
 * @example
 * ```ts
 * import { validateTopic } from "./placement.ts";
 * validateTopic("events-2024", "topic"); // ok
 * try { validateTopic("a/b", "queue"); } catch (e) { console.log((e as Error).name); } // "TypeError"
 * ```
 */
export function validateTopic(topic: string, what: "queue" | "topic"): string {
  if (typeof topic !== "string" || !SEGMENT.test(topic)) {
    throw new TypeError(
      `Invalid ${what} name ${JSON.stringify(topic)}: use letters, digits, '_' and '-' only ` +
        "(it becomes part of actor names)",
    );
  }
  if (topic.length > 56) {
    throw new TypeError(
      `Invalid ${what} name ${JSON.stringify(topic)}: at most 56 characters`,
    );
  }
  return topic;
}

/**
 * The actor name of a queue bucket: `queues/<topic>/bucket_<n>`.
 *
 * @example
 * ```ts
 * import { bucketActorName } from "./placement.ts";
 * console.log(bucketActorName("orders", 3)); // "queues/orders/bucket_3"
 * ```
 */
export function bucketActorName(topic: string, bucketId: number): string {
  return normalizeName(`queues/${validateTopic(topic, "queue")}/bucket_${bucketId}`);
}

/**
 * The actor name of a topic's broker: `topics/<topic>/broker`.
 *
 * @example
 * ```ts
 * import { brokerActorName } from "./placement.ts";
 * console.log(brokerActorName("events")); // "topics/events/broker"
 * ```
 */
export function brokerActorName(topic: string): string {
  return normalizeName(`topics/${validateTopic(topic, "topic")}/broker`);
}

/**
 * The ids of the live members (status `"alive"`); all members if none is alive; this node if
 * the member list is empty.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { liveNodeIds } from "./placement.ts";
 * const system = new ActorSystem();
 * console.log(await liveNodeIds(system)); // [system.nodeId.value]
 * await system.shutdown();
 * ```
 */
export async function liveNodeIds(system: ActorSystem): Promise<string[]> {
  const members = await system.members();
  const alive = members.filter((m) => m.status === "alive").map((m) => m.nodeId);
  if (alive.length > 0) return alive;
  if (members.length > 0) return members.map((m) => m.nodeId);
  return [system.nodeId.value];
}

/** Options of {@linkcode findOrSpawn}. */
export interface FindOrSpawnOptions<A extends unknown[]> {
  /** The actor name. */
  name: string;
  /** The rendezvous key that picks its home node. */
  key: HashableKey;
  /** Constructor arguments, when it has to be created (must survive encoding). */
  args: A;
  /** How long to wait for the winner's name after losing a creation race (ms, default 5000). */
  resolveTimeout?: number;
}

/**
 * Find the actor called `name`, or create it on the owner of `key` among the live members.
 *
 * @param system The system to work on.
 * @param cls The actor class (registered with `pul.remote` on every node).
 * @param options Name, rendezvous key and constructor arguments.
 * @returns A reference to the actor.
 * @throws {PulsingRuntimeError} If it can be neither found nor created.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { remote } from "../core/remote.ts";
 * import { findOrSpawn } from "./placement.ts";
 * const Box = remote(class Box { v = 1; get() { return this.v; } }, { name: "DocBox" });
 * const system = new ActorSystem();
 * const a = await findOrSpawn(system, Box, { name: "docs/box", key: "box", args: [] });
 * const b = await findOrSpawn(system, Box, { name: "docs/box", key: "box", args: [] });
 * console.log(a.actorId.equals(b.actorId)); // true
 * await system.shutdown();
 * ```
 */
export async function findOrSpawn<A extends unknown[]>(
  system: ActorSystem,
  // deno-lint-ignore no-explicit-any
  cls: ActorClass<any, A>,
  options: FindOrSpawnOptions<A>,
): Promise<ActorRef> {
  const { name, key, args } = options;
  const owner = ownerOf(key, await liveNodeIds(system));
  const onOwner = await tryResolve(system, name, owner);
  if (onOwner) return onOwner;
  const anywhere = await tryResolve(system, name, undefined);
  if (anywhere) return anywhere;
  const placement = owner === system.nodeId.value ? "local" : owner;
  try {
    return refOf(await cls.spawn({ system, name, args, placement }));
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
    return await system.resolve(name, { timeout: options.resolveTimeout ?? 5_000 });
  }
}

async function tryResolve(
  system: ActorSystem,
  name: string,
  nodeId: string | undefined,
): Promise<ActorRef | undefined> {
  try {
    return await system.resolve(name, nodeId === undefined ? {} : { nodeId });
  } catch (e) {
    if (e instanceof PulsingRuntimeError && /not found/i.test(e.message)) return undefined;
    throw e;
  }
}

/**
 * Whether an error is the "Actor already exists" refusal of a spawn.
 *
 * @example
 * ```ts
 * import { PulsingRuntimeError } from "../core/errors.ts";
 * import { isAlreadyExists } from "./placement.ts";
 * console.log(isAlreadyExists(new PulsingRuntimeError("Actor already exists: a/b"))); // true
 * ```
 */
export function isAlreadyExists(e: unknown): boolean {
  return e instanceof Error && /already exists/i.test(e.message);
}

const permanentErrors = new WeakSet<object>();

/**
 * Mark an error as final for {@linkcode PlacedActor.call}: it is not retried even though it is
 * a `PulsingRuntimeError` (e.g. a bucket found with another configuration).
 *
 * @param e The error.
 * @returns The same error.
 *
 * @example
 * ```ts
 * import { PulsingRuntimeError } from "../core/errors.ts";
 * import { isRetryable, permanent } from "./placement.ts";
 * console.log(isRetryable(permanent(new PulsingRuntimeError("wrong config")))); // false
 * ```
 */
export function permanent<E extends object>(e: E): E {
  permanentErrors.add(e);
  return e;
}

/**
 * Whether an error was marked {@linkcode permanent}.
 *
 * @param e The error.
 * @returns True for a marked error.
 *
 * @example
 * ```ts
 * import { PulsingRuntimeError } from "../core/errors.ts";
 * import { isPermanent, permanent } from "./placement.ts";
 * console.log(isPermanent(permanent(new PulsingRuntimeError("wrong config")))); // true
 * ```
 */
export function isPermanent(e: unknown): boolean {
  return typeof e === "object" && e !== null && permanentErrors.has(e);
}

/**
 * Whether a failed call may succeed against a freshly resolved actor: a framework error (the
 * actor or its node is gone, a connection dropped), not an error raised by the actor's code,
 * nor one marked {@linkcode permanent}.
 *
 * @example
 * ```ts
 * import { PulsingActorError, PulsingRuntimeError } from "../core/errors.ts";
 * import { isRetryable } from "./placement.ts";
 * console.log(isRetryable(new PulsingRuntimeError("Actor not found: x"))); // true
 * console.log(isRetryable(new PulsingActorError("bad record"))); // false
 * ```
 */
export function isRetryable(e: unknown): boolean {
  return e instanceof PulsingRuntimeError && !permanentErrors.has(e) &&
    !/shut down/i.test(e.message);
}

/**
 * How long (ms) {@linkcode PlacedActor.call} keeps locating an unreachable actor again before
 * it gives up: long enough for the membership to declare a killed node dead (about 1.5 s) and
 * for the actor to be found, or created, on the new owner.
 */
export const FAILOVER_WINDOW_MS = 6_000;

/** First and largest pause between two tries of an unreachable actor (ms). */
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 400;

type Entry = { promise: Promise<ActorRef>; ref?: ActorRef };

function directory(system: ActorSystem): Map<string, Entry> {
  return system.extension("pulsing.placed", () => new Map<string, Entry>());
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * A client of one well-known actor (a bucket, a broker) wherever it lives: locates it once per
 * system (the reference is shared by every handle of that system), and when a call fails
 * because the actor or its node is gone (a framework error, see {@linkcode isRetryable}),
 * locates it again and retries with a growing pause (50 ms to 400 ms) for up to
 * {@linkcode FAILOVER_WINDOW_MS}. While a killed node is only suspected, the name still points
 * at it and the tries fail fast; once the membership declares it dead (about 1.5 s), its names
 * are dropped and the locate finds, or creates, the actor on the new owner (rendezvous over
 * the remaining alive members). After the window the call fails with a
 * `PulsingRuntimeError` that says the actor is unreachable.
 *
 * A retried call whose first try did reach the actor before the connection dropped runs
 * twice: calls through this client are at-least-once under node failure.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { remote } from "../core/remote.ts";
 * import { findOrSpawn, PlacedActor } from "./placement.ts";
 * const Box = remote(class Box { get() { return 7; } }, { name: "DocBox2" });
 * const system = new ActorSystem();
 * const box = new PlacedActor(system, "docs/box2", () =>
 *   findOrSpawn(system, Box, { name: "docs/box2", key: "box2", args: [] }));
 * console.log(await box.call("get", [])); // 7
 * await system.shutdown();
 * ```
 */
export class PlacedActor {
  /** The system calls go through. */
  readonly system: ActorSystem;
  /** The actor's name. */
  readonly name: string;
  readonly #locate: () => Promise<ActorRef>;

  /** A client of actor `name`, found (or created) by `locate`. */
  constructor(system: ActorSystem, name: string, locate: () => Promise<ActorRef>) {
    this.system = system;
    this.name = name;
    this.#locate = locate;
  }

  /** The actor's reference (located on first use, then cached per system). */
  ref(): Promise<ActorRef> {
    const refs = directory(this.system);
    const found = refs.get(this.name);
    if (found) return found.promise;
    const entry: Entry = { promise: this.#locate() };
    refs.set(this.name, entry);
    entry.promise.then((r) => {
      entry.ref = r;
    }, () => {
      if (refs.get(this.name) === entry) refs.delete(this.name);
    });
    return entry.promise;
  }

  /** Forget a reference that failed, so that the next call locates the actor again. */
  invalidate(ref?: ActorRef): void {
    const refs = directory(this.system);
    const e = refs.get(this.name);
    if (e && (ref === undefined || e.ref === ref)) refs.delete(this.name);
  }

  /**
   * What to add to the "unreachable" error (subclasses: what was lost with the actor).
   *
   * @returns Text appended to the message, or `""`.
   */
  protected lossNote(): string {
    return "";
  }

  /**
   * Call a method, locating the actor again and retrying while it is unreachable (see the
   * class documentation).
   *
   * @throws {PulsingRuntimeError} When the actor stays unreachable for the failover window.
   */
  async call<T = unknown>(method: string, args: unknown[], options?: CallOptions): Promise<T> {
    let deadline: number | undefined;
    let delay = BACKOFF_MIN_MS;
    for (let attempt = 1;; attempt++) {
      let ref: ActorRef | undefined;
      try {
        ref = await this.ref();
        return await ref.call(method, args, options) as T;
      } catch (e) {
        if (!isRetryable(e) || options?.signal?.aborted || this.system.isShutdown) throw e;
        if (ref) this.invalidate(ref);
        deadline ??= Date.now() + FAILOVER_WINDOW_MS;
        if (Date.now() + delay > deadline) {
          throw new PulsingRuntimeError(
            `${this.name} is unreachable: ${attempt} tries over ${FAILOVER_WINDOW_MS} ms ` +
              `found no live home for it (last error: ${(e as Error)?.message ?? e})` +
              this.lossNote(),
            { cause: e },
          );
        }
        await pause(delay, options?.signal);
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      }
    }
  }
}
