/**
 * The distributed queue: records are routed to buckets by the hash of a column, each bucket
 * is an actor living on the node that owns it by rendezvous hashing over the live members,
 * and readers read buckets at their own offsets (reads are non-destructive).
 *
 * `pul.queue.write(topic, options)` and `pul.queue.read(topic, options)` work on the global
 * system (after `pul.init()`), or on `options.system`. Importing this module registers the
 * bucket actor class, so any node can host buckets.
 *
 * See `queue.ts` (writes, batching, visibility), `reader.ts` (assignment, offsets, waiting),
 * `backend.ts` (storage backends) and `bucket_hash.ts` (the stable bucket hash).
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import * as queue from "./mod.ts";
 * await pul.init();
 * const writer = await queue.write("q", { bucketColumn: "id", numBuckets: 4 });
 * await writer.put({ id: "u1", data: "hello" });
 * await writer.flush();
 * const reader = await queue.read("q", { rank: 0, worldSize: 1 });
 * console.log(await reader.get({ limit: 100 })); // [{ id: "u1", data: "hello" }]
 * await pul.shutdown();
 * ```
 *
 * @module
 */

import { getSystem } from "../core/global.ts";
import type { ActorSystem } from "../core/system.ts";
import { type Queue, writeQueue, type WriteQueueOptions } from "./queue.ts";
import { type QueueReader, readQueue, type ReadQueueOptions } from "./reader.ts";

export {
  discoverQueue,
  type PutResult,
  Queue,
  QueueErrorCode,
  type QueueStats,
  type QueueStorageOptions,
  writeQueue,
  type WriteQueueOptions,
} from "./queue.ts";
export {
  assignBuckets,
  type QueueBatchesOptions,
  type QueueGetOptions,
  QueueReader,
  readQueue,
  type ReadQueueOptions,
} from "./reader.ts";
export {
  type BackendClass,
  BackendErrorCode,
  type BackendFactory,
  type BackendOptions,
  type BackendStats,
  getBackend,
  listBackends,
  type QueueBackend,
  type QueueRecord,
  registerBackend,
  type RegisterBackendOptions,
  type StreamOptions,
  unregisterBackend,
  type WaitOptions,
} from "./backend.ts";
export { MemoryBackend } from "./memory_backend.ts";
export { SqliteBackend, type SqliteBackendOptions } from "./sqlite_backend.ts";
export { getBucketId, type HashableKey } from "./bucket_hash.ts";
export {
  type BucketConfig,
  type BucketInfo,
  QueueBucket,
  QueueBucketActor,
} from "./bucket_actor.ts";

/** Which system a `pul.queue` call works on. */
export interface SystemOption {
  /** The actor system (default: the global one, `pul.getSystem()`). */
  system?: ActorSystem;
}

/**
 * Open a write handle on a queue topic (`pul.queue.write`).
 *
 * @param topic The queue topic: letters, digits, `_`, `-`.
 * @param options Bucket column (`"id"`), batch size (100), number of buckets and backend
 * (those not given are the existing queue's; for a new queue 4 and `"memory"`), backend
 * options, storage path, and the system (default: the global one).
 * @returns The {@linkcode Queue}.
 * @throws {PulsingRuntimeError} If no system is given and Pulsing is not initialized, or a
 * given `numBuckets` or `backend` differs from the existing queue's.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import * as queue from "./mod.ts";
 * await pul.init();
 * const q = await queue.write("orders", { bucketColumn: "user", batchSize: 500 });
 * await q.put([{ user: "a" }, { user: "b" }]);
 * await pul.shutdown();
 * ```
 */
export function write(
  topic: string,
  options: WriteQueueOptions & SystemOption = {},
): Promise<Queue> {
  const { system, ...rest } = options;
  try {
    return writeQueue(system ?? getSystem(), topic, rest);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Open a reader on some buckets of a queue topic (`pul.queue.read`).
 *
 * @param topic The queue topic.
 * @param options `rank`/`worldSize`, `bucketId` or `bucketIds`; storage options matching the
 * writers' (those not given are taken from the existing queue); the system (default: the
 * global one).
 * @returns The {@linkcode QueueReader}.
 * @throws {PulsingRuntimeError} If no system is given and Pulsing is not initialized.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import * as queue from "./mod.ts";
 * await pul.init();
 * const reader = await queue.read("orders", { rank: 0, worldSize: 2 });
 * console.log(reader.bucketIds); // [0, 2]
 * await pul.shutdown();
 * ```
 */
export function read(
  topic: string,
  options: ReadQueueOptions & SystemOption = {},
): Promise<QueueReader> {
  const { system, ...rest } = options;
  try {
    return readQueue(system ?? getSystem(), topic, rest);
  } catch (e) {
    return Promise.reject(e);
  }
}
