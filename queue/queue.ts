/**
 * The write side of the distributed queue: {@linkcode writeQueue} opens a {@linkcode Queue}
 * handle on a topic; `put` routes each record to a bucket by the hash of its bucket column.
 *
 * ## Semantics
 *
 * - **Bucket of a record**: `getBucketId(record[bucketColumn], numBuckets)` — a documented,
 *   stable hash (see `bucket_hash.ts`): every node, runtime and version agrees, and `1` and
 *   `"1"` are different keys.
 * - **One configuration per queue**: `numBuckets` and `backend` not given are taken from the
 *   existing queue (with them its `backendOptions` and `storagePath`); with no queue yet the
 *   defaults apply (4 buckets, memory). Opening a writer finds bucket 0 or creates it (empty;
 *   a durable backend opens its storage on first use): bucket 0 holds the queue's
 *   configuration, and every writer checks it before its handle is returned. So writers
 *   opening a new queue at once agree, and a value given explicitly that differs from the
 *   queue's fails `writeQueue` with a `PulsingRuntimeError` naming both — records are never
 *   hashed with a wrong number of buckets. This is done once, when the writer is opened.
 * - **Validation first**: every record of a `put` is checked (an object, with a bucket column
 *   that is not `undefined`, whose value can be hashed) before anything is sent. A missing
 *   column is a {@linkcode PulsingBusinessError} (code 400) and nothing of that `put` is
 *   written.
 * - **All or nothing per bucket**: the records of one `put` that go to the same bucket are
 *   appended in one backend batch. Records going to different buckets are independent: if one
 *   bucket's node is unreachable, the other buckets' records may be stored.
 * - **Order**: per bucket, records are stored in the order of the `put` calls of this handle
 *   (one batch in flight per bucket at a time). No order across buckets or across handles.
 * - **Batching and visibility**: a `put` is sent at once; puts made while a batch to the same
 *   bucket is in flight are coalesced into the next batch (at most `batchSize` records, except
 *   that one `put`'s records for one bucket are never split). A record is visible to every
 *   reader once its `put` has resolved. `flush()` waits for every pending put of this handle
 *   and makes durable backends durable (sqlite: fsync).
 * - **Failures**: when the node holding a bucket dies (even `kill -9`), the next call to that
 *   bucket finds its new owner — rendezvous over the remaining alive members — once the
 *   membership has declared the node dead (about 1.5 s); until then the call keeps retrying
 *   with a growing pause (`FAILOVER_WINDOW_MS`, 6 s, in `placement.ts`) and only then fails
 *   with a `PulsingRuntimeError` saying the bucket is unreachable.
 *   **With the memory backend the records of that bucket are lost**: the new owner creates an
 *   empty bucket (a warning is logged on the client that notices, and readers restart that
 *   bucket at offset 0). With sqlite, the records come back when the bucket is opened again
 *   on the same storage path: when the node returns (same address and storage path), or on
 *   the new owner if it sees the same file system. A put retried after a connection failure
 *   may be stored twice (at-least-once under failure).
 *
 * @module
 */

import { PulsingBusinessError } from "../core/errors.ts";
import type { ActorSystem } from "../core/system.ts";
import { type BackendStats, getBackend, type QueueRecord } from "./backend.ts";
import type { BucketConfig, BucketInfo } from "./bucket_actor.ts";
import { BucketClient, configMismatch } from "./bucket_client.ts";
import { assertNumBuckets, getBucketId, type HashableKey } from "./bucket_hash.ts";
import { bucketActorName, isPermanent, validateTopic } from "./placement.ts";

/** How long asking an existing bucket for its configuration may take (ms). */
const DISCOVER_TIMEOUT_MS = 5_000;

/** Error codes of the queue's {@linkcode PulsingBusinessError}s. */
export const QueueErrorCode = {
  /** A record lacks the bucket column. */
  missingColumn: 400,
} as const;

/** Options shared by {@linkcode writeQueue} and `readQueue`: how the buckets are stored. */
export interface QueueStorageOptions {
  /** Number of buckets. Not given: the existing queue's, or 4 for a new queue. Given: it must be the queue's. */
  numBuckets?: number;
  /** Backend name: `"memory"`, `"sqlite"`, or one registered on every node. Not given: the existing queue's, or `"memory"` for a new queue. Given: it must be the queue's. */
  backend?: string;
  /** Backend-specific options (e.g. `{ synchronous: "full" }` for sqlite). */
  backendOptions?: Record<string, unknown>;
  /** Storage directory of durable backends (default `./queue_storage/<topic>`); bucket `n` uses `<storagePath>/bucket_<n>` on the node that hosts it. */
  storagePath?: string;
}

/** Options of {@linkcode writeQueue}. */
export interface WriteQueueOptions extends QueueStorageOptions {
  /** The record field whose value picks the bucket (default `"id"`). */
  bucketColumn?: string;
  /** Most records per batch sent to one bucket (default 100). */
  batchSize?: number;
}

/** Where one record was stored. */
export interface PutResult {
  /** Its bucket. */
  bucketId: number;
  /** Its offset in the bucket. */
  offset: number;
}

/** What {@linkcode Queue.stats} reports. */
export interface QueueStats {
  /** The topic. */
  topic: string;
  /** The bucket column. */
  bucketColumn: string;
  /** The number of buckets. */
  numBuckets: number;
  /** Backend counters of each bucket this handle has written to. */
  buckets: Record<number, BackendStats>;
}

/** The resolved storage settings of a queue handle (internal). */
export interface ResolvedStorage {
  numBuckets: number;
  backend: string;
  backendOptions?: Record<string, unknown>;
  storagePath: string;
  batchSize: number;
}

/** Check and complete storage options (internal, shared with the reader). */
export function resolveStorage(
  topic: string,
  options: QueueStorageOptions & { batchSize?: number },
): ResolvedStorage {
  validateTopic(topic, "queue");
  const numBuckets = options.numBuckets ?? 4;
  assertNumBuckets(numBuckets);
  const batchSize = options.batchSize ?? 100;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  const backend = options.backend ?? "memory";
  getBackend(backend); // unknown here: fail before creating anything
  const storagePath = (options.storagePath ?? `./queue_storage/${topic}`).replace(/[\\/]+$/, "");
  return { numBuckets, backend, backendOptions: options.backendOptions, storagePath, batchSize };
}

/** A client per bucket, created on first use (internal, shared with the reader). */
export function bucketClient(
  system: ActorSystem,
  topic: string,
  s: ResolvedStorage,
  bucketId: number,
): BucketClient {
  return new BucketClient(system, {
    topic,
    bucketId,
    numBuckets: s.numBuckets,
    backend: s.backend,
    backendOptions: s.backendOptions,
    storagePath: `${s.storagePath}/bucket_${bucketId}`,
    batchSize: s.batchSize,
  });
}

function bucketColumnOf(options: WriteQueueOptions): string {
  const col = options.bucketColumn ?? "id";
  if (typeof col !== "string" || col.length === 0) {
    throw new TypeError(`bucketColumn must be a non-empty string, got ${String(col)}`);
  }
  return col;
}

interface Group {
  records: QueueRecord[];
  resolve: (first: number) => void;
  reject: (e: unknown) => void;
}

interface Lane {
  client: BucketClient;
  queue: Group[];
  running: Promise<void> | undefined;
}

/**
 * A write handle on a queue topic (see the module documentation for the semantics).
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { writeQueue } from "./queue.ts";
 * const system = await pul.actorSystem();
 * const q = await writeQueue(system, "orders", { bucketColumn: "user", numBuckets: 2 });
 * await q.put({ user: "u1", item: "book" });
 * await q.put([{ user: "u2", item: "pen" }, { user: "u1", item: "ink" }]);
 * await q.flush();
 * console.log(q.getBucketId("u1") === q.getBucketId("u1")); // true
 * await system.shutdown();
 * ```
 */
export class Queue {
  /** The topic. */
  readonly topic: string;
  /** The field that picks the bucket. */
  readonly bucketColumn: string;
  /** The number of buckets. */
  readonly numBuckets: number;
  /** Most records per batch. */
  readonly batchSize: number;
  /** The backend name. */
  readonly backend: string;
  /** The storage directory of durable backends. */
  readonly storagePath: string;
  readonly #system: ActorSystem;
  readonly #storage: ResolvedStorage;
  readonly #lanes = new Map<number, Lane>();
  /** The client `writeQueue` checked bucket 0 with: the first put there needs no check again. */
  readonly #bucket0: BucketClient | undefined;

  /**
   * Use {@linkcode writeQueue}: it validates the options and takes those not given from the
   * existing queue (this constructor applies the defaults without looking).
   *
   * @param system The actor system.
   * @param topic The queue topic.
   * @param options Storage and batching options.
   * @param bucket0 Internal: bucket 0's client, already checked by `writeQueue`.
   */
  constructor(
    system: ActorSystem,
    topic: string,
    options: WriteQueueOptions = {},
    bucket0?: BucketClient,
  ) {
    const s = resolveStorage(topic, options);
    const col = bucketColumnOf(options);
    this.#system = system;
    this.#storage = s;
    this.topic = topic;
    this.bucketColumn = col;
    this.numBuckets = s.numBuckets;
    this.batchSize = s.batchSize;
    this.backend = s.backend;
    this.storagePath = s.storagePath;
    this.#bucket0 = bucket0;
  }

  /**
   * The bucket of a bucket-column value.
   *
   * @example
   * ```ts
   * import * as pul from "../mod.ts";
   * import { writeQueue } from "./queue.ts";
   * const system = await pul.actorSystem();
   * const q = await writeQueue(system, "q", { numBuckets: 8 });
   * console.log(q.getBucketId("u1") < 8); // true
   * await system.shutdown();
   * ```
   */
  getBucketId(value: HashableKey): number {
    return getBucketId(value, this.numBuckets);
  }

  /**
   * Store one record, or a list of records.
   *
   * @returns Where each record was stored (one result, or one per record in input order).
   * @throws {PulsingBusinessError} Code 400 if a record lacks the bucket column (nothing written).
   * @throws {TypeError} If a record is not an object or its bucket value cannot be hashed.
   */
  put(record: QueueRecord): Promise<PutResult>;
  /** Store a list of records (all or nothing per bucket). */
  put(records: readonly QueueRecord[]): Promise<PutResult[]>;
  async put(input: QueueRecord | readonly QueueRecord[]): Promise<PutResult | PutResult[]> {
    if (!Array.isArray(input)) {
      const bucketId = this.#bucketOf(input, undefined);
      return { bucketId, offset: await this.#enqueue(bucketId, [input as QueueRecord]) };
    }
    const records = input as readonly QueueRecord[];
    const buckets = records.map((r, i) => this.#bucketOf(r, i));
    const byBucket = new Map<number, number[]>();
    buckets.forEach((b, i) => {
      const list = byBucket.get(b);
      if (list) list.push(i);
      else byBucket.set(b, [i]);
    });
    const results: PutResult[] = new Array(records.length);
    await Promise.all(
      [...byBucket].map(async ([b, idx]) => {
        const first = await this.#enqueue(b, idx.map((i) => records[i]));
        idx.forEach((i, k) => results[i] = { bucketId: b, offset: first + k });
      }),
    );
    return results;
  }

  #bucketOf(record: unknown, index: number | undefined): number {
    const where = index === undefined ? "record" : `record ${index}`;
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new TypeError(
        `${where}: a record must be an object (or put a list of objects), got ${
          record === null ? "null" : Array.isArray(record) ? "an array" : typeof record
        }`,
      );
    }
    const value = (record as QueueRecord)[this.bucketColumn];
    if (value === undefined) {
      throw new PulsingBusinessError(
        QueueErrorCode.missingColumn,
        `Missing bucket column '${this.bucketColumn}' in ${where}`,
        { column: this.bucketColumn, index: index ?? 0 },
      );
    }
    try {
      return getBucketId(value as HashableKey, this.numBuckets);
    } catch (e) {
      throw new TypeError(
        `${where}: the value of '${this.bucketColumn}' cannot pick a bucket: ${
          (e as Error).message
        }`,
      );
    }
  }

  #lane(bucketId: number): Lane {
    let lane = this.#lanes.get(bucketId);
    if (!lane) {
      lane = {
        client: bucketId === 0 && this.#bucket0 !== undefined
          ? this.#bucket0
          : bucketClient(this.#system, this.topic, this.#storage, bucketId),
        queue: [],
        running: undefined,
      };
      this.#lanes.set(bucketId, lane);
    }
    return lane;
  }

  #enqueue(bucketId: number, records: QueueRecord[]): Promise<number> {
    const lane = this.#lane(bucketId);
    return new Promise<number>((resolve, reject) => {
      lane.queue.push({ records, resolve, reject });
      lane.running ??= this.#pump(lane);
    });
  }

  async #pump(lane: Lane): Promise<void> {
    try {
      await Promise.resolve(); // puts made in the same turn join the first batch
      while (lane.queue.length > 0) {
        let count = 1;
        let n = lane.queue[0].records.length;
        while (
          count < lane.queue.length && n + lane.queue[count].records.length <= this.batchSize
        ) {
          n += lane.queue[count++].records.length;
        }
        const take = lane.queue.splice(0, count);
        const records = take.length === 1 ? take[0].records : take.flatMap((g) => g.records);
        try {
          let offset = await lane.client.call<number>("putBatch", [records]);
          for (const g of take) {
            g.resolve(offset);
            offset += g.records.length;
          }
        } catch (e) {
          for (const g of take) g.reject(e);
        }
      }
    } finally {
      lane.running = undefined;
    }
  }

  async #drain(): Promise<void> {
    for (;;) {
      const running = [...this.#lanes.values()].map((l) => l.running).filter((p) => p);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /**
   * Wait for every pending put of this handle, then make the buckets it wrote to durable
   * (sqlite: a checkpoint with fsync; memory: nothing more).
   */
  async flush(): Promise<void> {
    await this.#drain();
    await Promise.all([...this.#lanes.values()].map((l) => l.client.call("flush", [])));
  }

  /** Counters of the buckets this handle has written to (after its pending puts). */
  async stats(): Promise<QueueStats> {
    await this.#drain();
    const buckets: Record<number, BackendStats> = {};
    const ids = [...this.#lanes.keys()].sort((a, b) => a - b);
    const all = await Promise.all(
      ids.map((b) => this.#lanes.get(b)!.client.call<BackendStats>("stats", [])),
    );
    ids.forEach((b, i) => buckets[b] = all[i]);
    return {
      topic: this.topic,
      bucketColumn: this.bucketColumn,
      numBuckets: this.numBuckets,
      buckets,
    };
  }
}

/**
 * Open a write handle on a queue topic. `numBuckets` and `backend` not given are the existing
 * queue's (found as a reader finds them), or the defaults (4, `"memory"`) for a new queue;
 * bucket 0 is found or created (empty) with them, so that every writer of the topic uses the
 * same number of buckets (see the module documentation). The other buckets are created when a
 * record goes to them.
 *
 * @param system The actor system (any node of the cluster).
 * @param topic The queue topic: letters, digits, `_`, `-`.
 * @param options Bucket column, number of buckets, batch size, backend and storage.
 * @returns The {@linkcode Queue}.
 * @throws {TypeError} On an invalid topic or bucket column.
 * @throws {RangeError} On an invalid `numBuckets` or `batchSize`.
 * @throws {PulsingBusinessError} Code 404 if the backend is not registered on this node.
 * @throws {PulsingRuntimeError} If a given `numBuckets` or `backend` differs from the existing
 * queue's (the message names both), or bucket 0 stays unreachable.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { writeQueue } from "./queue.ts";
 * const system = await pul.actorSystem();
 * await writeQueue(system, "events", { bucketColumn: "id", numBuckets: 8 });
 * const q = await writeQueue(system, "events"); // the queue's 8 buckets
 * console.log(q.numBuckets); // 8
 * console.log(await q.put({ id: "e1", kind: "click" })); // { bucketId: ..., offset: 0 }
 * await writeQueue(system, "events", { numBuckets: 4 }).catch((e) => console.log(e.name));
 * // "PulsingRuntimeError"
 * await system.shutdown();
 * ```
 */
export async function writeQueue(
  system: ActorSystem,
  topic: string,
  options: WriteQueueOptions = {},
): Promise<Queue> {
  resolveStorage(topic, options); // bad options fail before asking the cluster
  bucketColumnOf(options);
  const a = await anchoredOptions(system, topic, options);
  return new Queue(system, topic, a.options, a.bucket0);
}

/**
 * The writer's options completed from the existing queue, and the client of its bucket 0, found
 * with the same `numBuckets` and `backend` or created with them. Bucket 0 is created by one
 * writer only (its home node refuses a second one), so writers racing on a new queue end up
 * with the same values: one that loses with values of its own that differ gets the error, one
 * that had looked before bucket 0 existed looks again and takes the winner's.
 */
async function anchoredOptions(
  system: ActorSystem,
  topic: string,
  options: WriteQueueOptions,
): Promise<{ options: WriteQueueOptions; bucket0: BucketClient }> {
  const anchor = async (found: BucketConfig | undefined) => {
    const completed = found ? withDiscovered(options, found) : options;
    const s = resolveStorage(topic, completed);
    const conflict = found && configMismatch(found, s);
    if (conflict) throw conflict;
    const bucket0 = bucketClient(system, topic, s, 0);
    await bucket0.ref(); // finds or creates bucket 0, and checks its configuration
    return { options: completed, bucket0 };
  };
  try {
    return await anchor(await discoverQueue(system, topic));
  } catch (e) {
    // bucket 0 was created by another writer since we looked, with other values: take them
    // (or, for values given explicitly, fail naming both)
    if (!isPermanent(e)) throw e;
    const now = await discoverQueue(system, topic);
    if (!now) throw e;
    return await anchor(now);
  }
}

/**
 * Storage options completed with an existing bucket's configuration (internal, shared with
 * the reader): the options given win; `backendOptions` and `storagePath` are taken only when
 * the backend is the bucket's.
 *
 * @param options The caller's options.
 * @param found The configuration of a bucket of the queue (see {@linkcode discoverQueue}).
 * @returns The options, completed.
 *
 * @example
 * ```ts
 * import { withDiscovered } from "./queue.ts";
 * const found = { topic: "q", bucketId: 2, numBuckets: 8, backend: "sqlite", storagePath: "/d/q/bucket_2" };
 * console.log(withDiscovered({}, found)); // { numBuckets: 8, backend: "sqlite", backendOptions: undefined, storagePath: "/d/q" }
 * console.log(withDiscovered({ numBuckets: 4 }, found).numBuckets); // 4
 * ```
 */
export function withDiscovered<O extends QueueStorageOptions>(options: O, found: BucketConfig): O {
  const backend = options.backend ?? found.backend;
  const same = backend === found.backend;
  const dir = found.storagePath?.replace(/[\\/]+bucket_\d+$/, "");
  return {
    ...options,
    numBuckets: options.numBuckets ?? found.numBuckets,
    backend,
    backendOptions: options.backendOptions ?? (same ? found.backendOptions : undefined),
    storagePath: options.storagePath ?? (same ? dir : undefined),
  };
}

/**
 * The configuration of an existing bucket of `topic` (bucket 0 first, then any bucket the
 * registry knows), or `undefined` when the queue has no live bucket yet.
 *
 * @param system The system to ask through.
 * @param topic The queue topic.
 * @returns The bucket's configuration, or `undefined`.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { discoverQueue, writeQueue } from "./queue.ts";
 * const system = await pul.actorSystem();
 * console.log(await discoverQueue(system, "found")); // undefined
 * await writeQueue(system, "found", { numBuckets: 2 });
 * console.log((await discoverQueue(system, "found"))?.numBuckets); // 2
 * await system.shutdown();
 * ```
 */
export async function discoverQueue(
  system: ActorSystem,
  topic: string,
): Promise<BucketConfig | undefined> {
  const first = bucketActorName(topic, 0);
  const atFirst = await configOf(system, first);
  if (atFirst) return atFirst;
  const prefix = first.replace(/0$/, "");
  for (const info of await system.allNamedActors()) {
    if (info.path === first || !info.path.startsWith(prefix)) continue;
    const config = await configOf(system, info.path);
    if (config) return config;
  }
  return undefined;
}

/** The configuration of the bucket actor called `name`, if it answers. */
async function configOf(system: ActorSystem, name: string): Promise<BucketConfig | undefined> {
  try {
    const ref = await system.resolve(name);
    return (await ref.call("info", [], { timeout: DISCOVER_TIMEOUT_MS }) as BucketInfo).config;
  } catch {
    return undefined; // not there, or its node is gone
  }
}
