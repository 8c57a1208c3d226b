/**
 * The bucket actor: one per `(queue topic, bucket)`, named `queues/<topic>/bucket_<n>`,
 * holding the bucket's storage backend. Writers append to it, readers read from it at their
 * own offsets; reads never remove anything.
 *
 * It is registered with `pul.remote` under the key `pulsing.QueueBucket` when this module is
 * imported, so every node that imports `@pulsing/pulsing` can host buckets, whether or not it
 * used the queue itself.
 *
 * The backend is opened on the first call. If that fails (unknown backend, storage in use),
 * the call fails with the backend's error and the actor stops, freeing the name for a
 * correctly configured writer. When the actor stops (explicit stop or system shutdown) the
 * backend is closed: the sqlite backend flushes and releases its storage path.
 *
 * @module
 */

import type { ActorContext } from "../core/actor.ts";
import type { ActorId } from "../core/ids.ts";
import { type ActorClass, remote } from "../core/remote.ts";
import {
  type BackendStats,
  createBackend,
  type QueueBackend,
  type QueueRecord,
  waitForData,
} from "./backend.ts";

/** How a bucket is configured (fixed when it is created). */
export interface BucketConfig {
  /** The queue topic. */
  topic: string;
  /** This bucket's id, in `[0, numBuckets)`. */
  bucketId: number;
  /** The queue's number of buckets. */
  numBuckets: number;
  /** The backend name (`"memory"`, `"sqlite"`, or a registered one). */
  backend: string;
  /** This bucket's storage directory (durable backends). */
  storagePath?: string;
  /** Backend-specific options. */
  backendOptions?: Record<string, unknown>;
  /** The writer's batch size hint. */
  batchSize?: number;
}

/** What {@linkcode QueueBucket.info} reports. */
export interface BucketInfo {
  /** The bucket's configuration. */
  config: BucketConfig;
  /** Records stored so far (the next offset), or -1 before the backend is open. */
  totalCount: number;
}

/**
 * The state and methods of a bucket actor (spawn it through {@linkcode QueueBucketActor}).
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { QueueBucketActor } from "./bucket_actor.ts";
 * const system = new ActorSystem();
 * const bucket = await QueueBucketActor.spawn({
 *   system,
 *   name: "queues/demo/bucket_0",
 *   args: [{ topic: "demo", bucketId: 0, numBuckets: 1, backend: "memory" }],
 * });
 * await bucket.putBatch([{ id: 1 }, { id: 2 }]);
 * console.log(await bucket.get(0, 10)); // [{ id: 1 }, { id: 2 }]
 * await system.shutdown();
 * ```
 */
export class QueueBucket {
  #config: BucketConfig;
  #backend: QueueBackend | undefined;
  #opening: Promise<QueueBackend> | undefined;
  #ctx: ActorContext | undefined;
  #waits = new Map<string, AbortController>();
  #closed = false;

  /** Configure the bucket (the backend opens on the first call). */
  constructor(config: BucketConfig) {
    this.#config = { ...config };
  }

  /** Keep the context (to stop on a broken backend, and its abort signal). */
  onStart(_id: ActorId, ctx: ActorContext): void {
    this.#ctx = ctx;
  }

  /** Close the backend and end every pending wait. */
  async onStop(): Promise<void> {
    this.#closed = true;
    for (const ac of this.#waits.values()) ac.abort();
    this.#waits.clear();
    const b = this.#backend ?? await this.#opening?.catch(() => undefined);
    await b?.close?.();
  }

  /** The configuration and record count. */
  info(): BucketInfo {
    return { config: this.#config, totalCount: this.#backend?.totalCount() ?? -1 };
  }

  /**
   * Append one record.
   * @returns Its offset.
   */
  async put(record: QueueRecord): Promise<number> {
    const b = this.#backend ?? await this.#open();
    return await b.put(record);
  }

  /**
   * Append records in order, all or nothing.
   * @returns The offset of the first.
   */
  async putBatch(records: QueueRecord[]): Promise<number> {
    const b = this.#backend ?? await this.#open();
    return await b.putBatch(records);
  }

  /**
   * Up to `limit` records from `offset`. With `waitMs > 0` and nothing at `offset`, wait up to
   * that long for a record (ended early by {@linkcode QueueBucket.cancelWait} with the same
   * `waitId`), then return what is there.
   */
  async get(
    offset: number,
    limit: number,
    waitMs = 0,
    waitId?: string,
  ): Promise<QueueRecord[]> {
    // register before the first await, so that a cancel sent right after this call finds it
    const ac = waitMs > 0 ? new AbortController() : undefined;
    if (ac && waitId !== undefined) this.#waits.set(waitId, ac);
    try {
      const b = this.#backend ?? await this.#open();
      const now = await b.get(offset, limit);
      if (now.length > 0 || !ac || ac.signal.aborted || this.#closed) return now;
      const signal = this.#ctx ? AbortSignal.any([ac.signal, this.#ctx.signal]) : ac.signal;
      let ready = false;
      try {
        ready = await waitForData(b, offset, { timeout: waitMs, signal });
      } catch (e) {
        if (!signal.aborted) throw e;
      }
      return ready && !this.#closed ? await b.get(offset, limit) : [];
    } finally {
      if (waitId !== undefined && this.#waits.get(waitId) === ac) this.#waits.delete(waitId);
    }
  }

  /** End the wait of a pending `get` (its caller gets what is there, usually nothing). */
  cancelWait(waitId: string): boolean {
    const ac = this.#waits.get(waitId);
    if (!ac) return false;
    this.#waits.delete(waitId);
    ac.abort();
    return true;
  }

  /** Make the stored records durable (sqlite); a no-op for memory. */
  async flush(): Promise<void> {
    const b = this.#backend ?? await this.#open();
    await b.flush();
  }

  /** The backend's counters. */
  async stats(): Promise<BackendStats> {
    const b = this.#backend ?? await this.#open();
    return await b.stats();
  }

  /** Records stored (the next offset). */
  async totalCount(): Promise<number> {
    const b = this.#backend ?? await this.#open();
    return b.totalCount();
  }

  #open(): Promise<QueueBackend> {
    this.#opening ??= (async () => {
      const c = this.#config;
      try {
        const b = await createBackend(c.backend, {
          ...c.backendOptions,
          bucketId: c.bucketId,
          storagePath: c.storagePath,
          batchSize: c.batchSize,
        });
        if (this.#closed) {
          await b.close?.();
          throw new Error(`bucket ${c.bucketId} of queue ${c.topic} is stopping`);
        }
        this.#backend = b;
        return b;
      } catch (e) {
        // a bucket that cannot open its storage frees its name for a correct configuration
        this.#ctx?.stop();
        throw e;
      }
    })();
    return this.#opening;
  }
}

/**
 * The actor class of buckets, registered as `pulsing.QueueBucket`.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { QueueBucketActor } from "./bucket_actor.ts";
 * const system = new ActorSystem();
 * const b = await QueueBucketActor.spawn({
 *   system,
 *   args: [{ topic: "t", bucketId: 0, numBuckets: 1, backend: "memory" }],
 * });
 * console.log(await b.put({ id: "x" })); // 0
 * await system.shutdown();
 * ```
 */
export const QueueBucketActor: ActorClass<QueueBucket, [BucketConfig]> = remote(QueueBucket, {
  name: "pulsing.QueueBucket",
  module: import.meta.url,
});
