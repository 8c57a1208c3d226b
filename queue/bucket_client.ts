/**
 * The client side of the queue's buckets: finds (or creates) the bucket actors, caches their
 * references per system, checks that a bucket found in the cluster has the configuration this
 * handle expects, and when the bucket's node or actor is gone, locates it again (on the new
 * owner, once the membership has declared the node dead) and retries the call.
 *
 * A client notices when the bucket it talks to is another actor than before (its node died
 * and the bucket was re-created elsewhere): {@linkcode BucketClient.relocations} grows, and
 * with the memory backend a warning says that the records stored there are lost.
 *
 * @module
 */

import type { ActorRef } from "../core/actor_ref.ts";
import { PulsingRuntimeError } from "../core/errors.ts";
import type { ActorSystem } from "../core/system.ts";
import { type BucketConfig, type BucketInfo, QueueBucketActor } from "./bucket_actor.ts";
import { bucketActorName, findOrSpawn, permanent, PlacedActor } from "./placement.ts";

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
  #actor: string | undefined;
  #relocations = 0;

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
    let info: BucketInfo;
    try {
      info = await ref.call("info", []) as BucketInfo;
    } catch (e) {
      this.invalidate(ref); // gone already: locate it again on the next try
      throw e;
    }
    const have = info.config;
    const c = this.config;
    const mismatch = configMismatch(have, c);
    if (mismatch) throw permanent(mismatch);
    const actor = ref.actorId.value;
    if (this.#actor !== undefined && this.#actor !== actor) {
      this.#relocations++;
      const durable = c.backend !== "memory";
      this.system.log(
        durable ? "info" : "warn",
        `queue "${c.topic}" bucket ${c.bucketId} is now actor ${actor} on node ` +
          `${ref.nodeId.value} (the previous one is gone)` +
          (durable
            ? `; backend "${c.backend}" reopened ${have.storagePath ?? "its storage"} there`
            : "; memory backend: the records stored in the previous bucket are lost"),
      );
    }
    this.#actor = actor;
    this.#verified = ref;
    return ref;
  }

  /**
   * How many times this client found its bucket replaced by another actor (its node died and
   * the bucket was re-created on the new owner). A reader uses it to restart the bucket from
   * offset 0 with the memory backend, whose records were lost.
   */
  get relocations(): number {
    return this.#relocations;
  }

  /** With the memory backend, say that the bucket's records go with its node. */
  protected override lossNote(): string {
    return this.config.backend === "memory"
      ? `; memory backend: the records of queue "${this.config.topic}" bucket ` +
        `${this.config.bucketId} are lost if its node died`
      : "";
  }
}

/**
 * The error for a bucket found with another number of buckets or another backend than a
 * handle uses (it names both), or `undefined` when they agree.
 *
 * @param have The configuration of the existing bucket.
 * @param want The handle's number of buckets and backend.
 * @returns A `PulsingRuntimeError`, or `undefined`.
 *
 * @example
 * ```ts
 * import { configMismatch } from "./bucket_client.ts";
 * const have = { topic: "q", bucketId: 0, numBuckets: 8, backend: "memory" };
 * console.log(configMismatch(have, { numBuckets: 8, backend: "memory" })); // undefined
 * console.log(configMismatch(have, { numBuckets: 4, backend: "memory" })?.message);
 * // 'Queue "q" bucket 0 exists with numBuckets=8 and backend "memory", but this handle uses numBuckets=4 ...'
 * ```
 */
export function configMismatch(
  have: BucketConfig,
  want: Pick<BucketConfig, "numBuckets" | "backend">,
): PulsingRuntimeError | undefined {
  if (have.numBuckets === want.numBuckets && have.backend === want.backend) return undefined;
  return new PulsingRuntimeError(
    `Queue "${have.topic}" bucket ${have.bucketId} exists with numBuckets=${have.numBuckets} ` +
      `and backend "${have.backend}", but this handle uses numBuckets=${want.numBuckets} and ` +
      `backend "${want.backend}": open the queue with the same options everywhere, or leave ` +
      "numBuckets and backend out to use the queue's",
  );
}
