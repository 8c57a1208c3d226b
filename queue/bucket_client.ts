/**
 * The client side of the queue's buckets: finds (or creates) the bucket actors, caches their
 * references per system, checks that a bucket found in the cluster has the configuration this
 * handle expects, and retries a call once the bucket is re-resolved when its node or actor is
 * gone.
 *
 * @module
 */

import type { ActorRef, CallOptions } from "../core/actor_ref.ts";
import { PulsingRuntimeError } from "../core/errors.ts";
import type { ActorSystem } from "../core/system.ts";
import { type BucketConfig, type BucketInfo, QueueBucketActor } from "./bucket_actor.ts";
import { bucketActorName, findOrSpawn, isRetryable } from "./placement.ts";

/** How many times a call is tried when the bucket is unreachable (the first try included). */
const ATTEMPTS = 3;

/** The per-system cache of bucket references. */
class BucketDirectory {
  readonly refs = new Map<string, { promise: Promise<ActorRef>; ref?: ActorRef }>();
}

function directory(system: ActorSystem): BucketDirectory {
  return system.extension("pulsing.queue.buckets", () => new BucketDirectory());
}

/**
 * Calls one bucket of a queue, wherever it lives.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { BucketClient } from "./bucket_client.ts";
 * const system = new ActorSystem();
 * const b = new BucketClient(system, { topic: "t", bucketId: 0, numBuckets: 1, backend: "memory" });
 * await b.call("putBatch", [[{ id: 1 }]]);
 * console.log(await b.call("get", [0, 10])); // [{ id: 1 }]
 * await system.shutdown();
 * ```
 */
export class BucketClient {
  /** The system calls go through. */
  readonly system: ActorSystem;
  /** The configuration the bucket is created with, and must have when found. */
  readonly config: BucketConfig;
  /** The bucket actor's name. */
  readonly name: string;

  /** A client of bucket `config.bucketId` of queue `config.topic`. */
  constructor(system: ActorSystem, config: BucketConfig) {
    this.system = system;
    this.config = config;
    this.name = bucketActorName(config.topic, config.bucketId);
  }

  /** The bucket's reference (found, or created on its rendezvous owner). */
  ref(): Promise<ActorRef> {
    const refs = directory(this.system).refs;
    const found = refs.get(this.name);
    if (found) return found.promise;
    const entry: { promise: Promise<ActorRef>; ref?: ActorRef } = { promise: this.#locate() };
    refs.set(this.name, entry);
    entry.promise.then((r) => {
      entry.ref = r;
    }, () => {
      if (refs.get(this.name) === entry) refs.delete(this.name);
    });
    return entry.promise;
  }

  async #locate(): Promise<ActorRef> {
    const c = this.config;
    const ref = await findOrSpawn(this.system, QueueBucketActor, {
      name: this.name,
      key: [c.topic, c.bucketId],
      args: [c],
    });
    const info = await ref.call("info", []) as BucketInfo;
    const have = info.config;
    if (have.numBuckets !== c.numBuckets || have.backend !== c.backend) {
      throw new PulsingRuntimeError(
        `Queue "${c.topic}" bucket ${c.bucketId} exists with numBuckets=${have.numBuckets} ` +
          `and backend "${have.backend}", but this handle uses numBuckets=${c.numBuckets} and ` +
          `backend "${c.backend}": open the queue with the same options everywhere`,
      );
    }
    return ref;
  }

  /** Forget a reference that failed, so that the next call locates the bucket again. */
  invalidate(ref: ActorRef): void {
    const refs = directory(this.system).refs;
    if (refs.get(this.name)?.ref === ref) refs.delete(this.name);
  }

  /**
   * Call a bucket method; when the bucket is unreachable (its node or actor is gone), locate
   * it again and retry, up to 3 tries in all.
   *
   * A retried `putBatch` whose first try did reach the bucket before the connection dropped
   * would be stored twice: puts are at-least-once under node failure.
   */
  async call<T = unknown>(method: string, args: unknown[], options?: CallOptions): Promise<T> {
    for (let attempt = 1;; attempt++) {
      const ref = await this.ref();
      try {
        return await ref.call(method, args, options) as T;
      } catch (e) {
        if (attempt >= ATTEMPTS || !isRetryable(e) || options?.signal?.aborted) throw e;
        this.invalidate(ref);
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }
}
