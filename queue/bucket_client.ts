/**
 * The client side of the queue's buckets: finds (or creates) the bucket actors, caches their
 * references per system, checks that a bucket found in the cluster has the configuration this
 * handle expects, and retries a call once the bucket is re-resolved when its node or actor is
 * gone.
 *
 * @module
 */

import type { ActorRef } from "../core/actor_ref.ts";
import { PulsingRuntimeError } from "../core/errors.ts";
import type { ActorSystem } from "../core/system.ts";
import { type BucketConfig, type BucketInfo, QueueBucketActor } from "./bucket_actor.ts";
import { bucketActorName, findOrSpawn, PlacedActor } from "./placement.ts";

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
export class BucketClient extends PlacedActor {
  /** The configuration the bucket is created with, and must have when found. */
  readonly config: BucketConfig;
  #verified: ActorRef | undefined;

  /** A client of bucket `config.bucketId` of queue `config.topic`. */
  constructor(system: ActorSystem, config: BucketConfig) {
    const name = bucketActorName(config.topic, config.bucketId);
    super(system, name, () =>
      findOrSpawn(system, QueueBucketActor, {
        name,
        key: [config.topic, config.bucketId],
        args: [config],
      }));
    this.config = config;
  }

  /**
   * The bucket's reference, checked once per client: a bucket created with another number of
   * buckets or another backend is refused.
   *
   * @throws {PulsingRuntimeError} On a configuration mismatch.
   */
  override async ref(): Promise<ActorRef> {
    const ref = await super.ref();
    if (ref === this.#verified) return ref;
    const have = (await ref.call("info", []) as BucketInfo).config;
    const c = this.config;
    if (have.numBuckets !== c.numBuckets || have.backend !== c.backend) {
      throw new PulsingRuntimeError(
        `Queue "${c.topic}" bucket ${c.bucketId} exists with numBuckets=${have.numBuckets} ` +
          `and backend "${have.backend}", but this handle uses numBuckets=${c.numBuckets} and ` +
          `backend "${c.backend}": open the queue with the same options everywhere`,
      );
    }
    this.#verified = ref;
    return ref;
  }
}
