/**
 * The read side of the distributed queue: {@linkcode readQueue} opens a
 * {@linkcode QueueReader} on some buckets of a topic.
 *
 * ## Semantics
 *
 * - **Assignment**: `rank`/`worldSize` → the buckets `b` with `b % worldSize === rank` (4
 *   buckets, world size 2: rank 0 reads `[0, 2]`, rank 1 `[1, 3]`); else `bucketId` → that
 *   bucket; else `bucketIds`; else every bucket. `rank >= worldSize`, an out-of-range bucket
 *   or a bad `numBuckets` is a `RangeError`. Readers partitioned by rank over the same world
 *   size never overlap and together cover every bucket.
 * - **Non-destructive**: reading removes nothing. The reader keeps one offset per bucket (in
 *   this object only: a new reader starts at 0); any number of readers may read the same
 *   records. `reset()` and `setOffset()` move the offsets.
 * - **`get({ limit })`** returns at most `limit` records, taken fairly from every assigned
 *   bucket that has some (each gets an equal share, the rest goes to those that have more);
 *   per-bucket order is storage order; the buckets follow one another in assignment order.
 * - **`wait: true`**: when no assigned bucket has a record past its offset, wait until ANY of
 *   them gets one (all buckets are watched at once, no polling), then return what there is.
 *   `timeout` (ms) bounds the wait, after which `[]` is returned; without `timeout` the wait
 *   has no end (an abort `signal` ends it). `timeout: 0` only looks.
 * - Concurrent `get` calls on one reader run one after the other (offsets stay consistent).
 * - **Failover**: when the node of a bucket dies, the next `get` finds the bucket on its new
 *   owner once the membership has declared the node dead (about 1.5 s; calls keep retrying
 *   for a few seconds meanwhile). With the memory backend that bucket starts empty there —
 *   its records are lost — and the reader restarts it at offset 0, so that it reads what is
 *   written to the new bucket. With a durable backend (sqlite) whose storage the new host can
 *   open, the records and the offsets stay valid.
 *
 * @module
 */

import { PulsingRuntimeError } from "../core/errors.ts";
import type { ActorSystem } from "../core/system.ts";
import type { QueueRecord } from "./backend.ts";
import type { BucketClient } from "./bucket_client.ts";
import {
  bucketClient,
  discoverQueue,
  type QueueStorageOptions,
  resolveStorage,
  withDiscovered,
} from "./queue.ts";

/** A long wait is made of slices of this length (each a fresh call to each bucket). */
const WAIT_SLICE_MS = 2_000;

/** Options of {@linkcode readQueue}. */
export interface ReadQueueOptions extends QueueStorageOptions {
  /** This reader's rank among `worldSize` readers (with `worldSize`). */
  rank?: number;
  /** How many readers share the buckets (with `rank`). */
  worldSize?: number;
  /** Read this one bucket. */
  bucketId?: number;
  /** Read these buckets. */
  bucketIds?: readonly number[];
}

/** Options of {@linkcode QueueReader.get}. */
export interface QueueGetOptions {
  /** At most this many records (default 100). */
  limit?: number;
  /** When there is nothing to read, wait for a record (default false). */
  wait?: boolean;
  /** With `wait`, give up after this many ms and return `[]` (default: no limit). */
  timeout?: number;
  /** Abort a waiting `get` (it rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Options of {@linkcode QueueReader.batches}. */
export interface QueueBatchesOptions {
  /** At most this many records per batch (default 100). */
  limit?: number;
  /** End the iteration once nothing new arrived for this many ms (default: never end). */
  timeout?: number;
  /** End the iteration (it throws the signal's reason). */
  signal?: AbortSignal;
}

function assertIndex(n: unknown, what: string, below: number): asserts n is number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || n >= below) {
    throw new RangeError(`${what} must be an integer in [0, ${below}), got ${String(n)}`);
  }
}

/**
 * The buckets a reader is assigned (see the module documentation).
 *
 * @param numBuckets The queue's number of buckets.
 * @param options `rank`/`worldSize`, `bucketId` or `bucketIds`.
 * @returns The bucket ids, ascending for rank/world size and "all", as given otherwise.
 * @throws {RangeError} On an invalid rank, world size or bucket id.
 * @throws {TypeError} If only one of `rank` and `worldSize` is given.
 *
 * @example
 * ```ts
 * import { assignBuckets } from "./reader.ts";
 * console.log(assignBuckets(4, { rank: 0, worldSize: 2 })); // [0, 2]
 * console.log(assignBuckets(4, { rank: 1, worldSize: 3 })); // [1]
 * console.log(assignBuckets(4, {})); // [0, 1, 2, 3]
 * ```
 */
export function assignBuckets(
  numBuckets: number,
  options: Pick<ReadQueueOptions, "rank" | "worldSize" | "bucketId" | "bucketIds">,
): number[] {
  const { rank, worldSize, bucketId, bucketIds } = options;
  if (rank !== undefined || worldSize !== undefined) {
    if (rank === undefined || worldSize === undefined) {
      throw new TypeError("rank and worldSize go together: give both or neither");
    }
    if (!Number.isSafeInteger(worldSize) || worldSize < 1) {
      throw new RangeError(`worldSize must be a positive integer, got ${String(worldSize)}`);
    }
    assertIndex(rank, "rank", worldSize);
    const out: number[] = [];
    for (let b = rank; b < numBuckets; b += worldSize) out.push(b);
    return out;
  }
  if (bucketId !== undefined) {
    assertIndex(bucketId, "bucketId", numBuckets);
    return [bucketId];
  }
  if (bucketIds !== undefined) {
    if (!Array.isArray(bucketIds) || bucketIds.length === 0) {
      throw new RangeError("bucketIds must be a non-empty array of bucket ids");
    }
    const seen = new Set<number>();
    for (const b of bucketIds) {
      assertIndex(b, "each of bucketIds", numBuckets);
      seen.add(b);
    }
    return [...seen];
  }
  return Array.from({ length: numBuckets }, (_, b) => b);
}

/**
 * Reads records from some buckets of a queue topic, keeping one offset per bucket.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { writeQueue } from "./queue.ts";
 * import { readQueue } from "./reader.ts";
 * const system = await pul.actorSystem();
 * const q = await writeQueue(system, "jobs");
 * await q.put([{ id: "a" }, { id: "b" }, { id: "c" }]);
 * const r0 = await readQueue(system, "jobs", { rank: 0, worldSize: 2 });
 * const r1 = await readQueue(system, "jobs", { rank: 1, worldSize: 2 });
 * const got = [...await r0.get(), ...await r1.get()];
 * console.log(got.length); // 3
 * console.log(await r0.get({ wait: true, timeout: 50 })); // [] (nothing new)
 * await system.shutdown();
 * ```
 */
export class QueueReader implements AsyncIterable<QueueRecord[]> {
  /** The topic. */
  readonly topic: string;
  /** The queue's number of buckets. */
  readonly numBuckets: number;
  /** The buckets this reader reads. */
  readonly bucketIds: readonly number[];
  readonly #clients: Map<number, BucketClient>;
  readonly #offsets = new Map<number, number>();
  readonly #uid = crypto.randomUUID().slice(0, 8);
  #seq = 0;
  #lock: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #pending = new Set<AbortController>();

  /** Use {@linkcode readQueue} (same arguments). */
  constructor(system: ActorSystem, topic: string, options: ReadQueueOptions = {}) {
    const s = resolveStorage(topic, options);
    this.topic = topic;
    this.numBuckets = s.numBuckets;
    this.bucketIds = Object.freeze(assignBuckets(s.numBuckets, options));
    this.#clients = new Map(this.bucketIds.map((b) => [b, bucketClient(system, topic, s, b)]));
  }

  /** The offset of each assigned bucket (the next record this reader reads there). */
  get offsets(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const b of this.bucketIds) out[b] = this.#offsets.get(b) ?? 0;
    return out;
  }

  /** Read again from the start of every bucket. */
  reset(): void {
    this.#offsets.clear();
  }

  /**
   * Set the offset of one assigned bucket, or of every assigned bucket.
   *
   * @throws {RangeError} On a negative offset or a bucket this reader does not read.
   */
  setOffset(offset: number, bucketId?: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`offset must be a non-negative integer, got ${String(offset)}`);
    }
    if (bucketId === undefined) {
      for (const b of this.bucketIds) this.#offsets.set(b, offset);
      return;
    }
    if (!this.#clients.has(bucketId)) {
      throw new RangeError(
        `bucket ${bucketId} is not read by this reader (it reads ${this.bucketIds.join(", ")})`,
      );
    }
    this.#offsets.set(bucketId, offset);
  }

  /**
   * Up to `limit` records past this reader's offsets, advancing them.
   *
   * @returns The records (possibly `[]`).
   * @throws {RangeError} On an invalid `limit` or `timeout`.
   */
  get(options: QueueGetOptions = {}): Promise<QueueRecord[]> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const ac = new AbortController();
    this.#pending.add(ac);
    const signal = options.signal ? AbortSignal.any([options.signal, ac.signal]) : ac.signal;
    const run = this.#lock.then(() => this.#get({ ...options, signal }));
    this.#lock = run.catch(() => {});
    return run.finally(() => this.#pending.delete(ac));
  }

  /** Whether {@linkcode QueueReader.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Close the reader: a pending `get` — also one waiting for records — ends at once (it
   * rejects with a `PulsingRuntimeError`, and its waits at the buckets are cancelled, so the
   * buckets' nodes can stop without waiting for them); later calls reject; an iteration ends.
   * Closing before a shutdown keeps a waiting reader from delaying the buckets' `onStop`.
   *
   * @example
   * ```ts
   * import * as pul from "../mod.ts";
   * import { readQueue } from "./reader.ts";
   * const system = await pul.actorSystem();
   * const reader = await readQueue(system, "idle");
   * const waiting = reader.get({ wait: true }).catch((e) => e.message);
   * await reader.close();
   * console.log(await waiting); // "queue "idle": this reader is closed"
   * await system.shutdown();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = this.#closedError();
    for (const ac of this.#pending) ac.abort(reason);
    await this.#lock;
  }

  #closedError(): PulsingRuntimeError {
    return new PulsingRuntimeError(`queue "${this.topic}": this reader is closed`);
  }

  async #get(options: QueueGetOptions): Promise<QueueRecord[]> {
    const { limit = 100, wait = false, timeout, signal } = options;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
    }
    if (timeout !== undefined && !(timeout >= 0)) {
      throw new RangeError(`timeout must be a non-negative number of ms, got ${String(timeout)}`);
    }
    signal?.throwIfAborted();
    const now = await this.#fetch(limit, signal);
    if (now.length > 0 || !wait) return now;
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return [];
      const got = await this.#waitAny(limit, Math.min(left, WAIT_SLICE_MS), signal);
      if (got.length > 0) return got;
    }
  }

  /** Read without waiting: fair shares across buckets, until `limit` or nothing more. */
  async #fetch(limit: number, signal: AbortSignal | undefined): Promise<QueueRecord[]> {
    const taken = new Map<number, QueueRecord[]>();
    let remaining = limit;
    let active = [...this.bucketIds];
    while (remaining > 0 && active.length > 0) {
      const share = Math.ceil(remaining / active.length);
      const seen = active.map((b) => this.#clients.get(b)!.relocations);
      const got = await Promise.all(
        active.map((b) =>
          this.#clients.get(b)!.call<QueueRecord[]>(
            "get",
            [this.#at(b, taken), share],
            signal ? { signal } : undefined,
          )
        ),
      );
      const more: number[] = [];
      active.forEach((b, i) => {
        if (this.#restarted(b, seen[i])) {
          remaining += taken.get(b)?.length ?? 0;
          taken.delete(b);
          more.push(b);
          return;
        }
        const recs = got[i].length > remaining ? got[i].slice(0, remaining) : got[i];
        if (recs.length === 0) return;
        remaining -= recs.length;
        const list = taken.get(b);
        if (list) list.push(...recs);
        else taken.set(b, recs);
        if (got[i].length === share && recs.length === share) more.push(b);
      });
      active = more;
    }
    return this.#commit(taken);
  }

  /** Wait for the first bucket that gets data; collect what every bucket returned. */
  async #waitAny(
    limit: number,
    sliceMs: number,
    signal: AbortSignal | undefined,
  ): Promise<QueueRecord[]> {
    signal?.throwIfAborted(); // (an abort listener added now would never fire)
    const waitId = `${this.#uid}:${++this.#seq}`;
    const cancels: Promise<unknown>[] = [];
    let cancelled = false;
    const cancel = () => {
      if (cancelled) return;
      cancelled = true;
      for (const c of this.#clients.values()) {
        cancels.push(c.call("cancelWait", [waitId]).catch(() => {}));
      }
    };
    signal?.addEventListener("abort", cancel, { once: true });
    const seen = this.bucketIds.map((b) => this.#clients.get(b)!.relocations);
    try {
      const results = await Promise.allSettled(this.bucketIds.map(async (b) => {
        try {
          const recs = await this.#clients.get(b)!.call<QueueRecord[]>(
            "get",
            [this.#at(b), limit, sliceMs, waitId],
            { timeout: sliceMs + 30_000 },
          );
          if (recs.length > 0) cancel();
          return recs;
        } catch (e) {
          cancel();
          throw e;
        }
      }));
      await Promise.all(cancels);
      signal?.throwIfAborted();
      const taken = new Map<number, QueueRecord[]>();
      let remaining = limit;
      let error: unknown;
      results.forEach((r, i) => {
        if (r.status === "rejected") {
          error ??= r.reason;
          return;
        }
        if (this.#restarted(this.bucketIds[i], seen[i])) return;
        if (remaining === 0 || r.value.length === 0) return;
        const recs = r.value.length > remaining ? r.value.slice(0, remaining) : r.value;
        remaining -= recs.length;
        taken.set(this.bucketIds[i], recs);
      });
      if (taken.size === 0 && error !== undefined) throw error;
      return this.#commit(taken);
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /**
   * Whether the bucket was re-created on another node since `seen` (its node died) with the
   * memory backend: its records are gone and the new bucket counts from 0, so this reader
   * restarts it at offset 0 (what it read there came from the offsets of the old bucket).
   */
  #restarted(bucketId: number, seen: number): boolean {
    const client = this.#clients.get(bucketId)!;
    if (client.relocations === seen || client.config.backend !== "memory") return false;
    this.#offsets.set(bucketId, 0);
    return true;
  }

  #at(bucketId: number, taken?: Map<number, QueueRecord[]>): number {
    return (this.#offsets.get(bucketId) ?? 0) + (taken?.get(bucketId)?.length ?? 0);
  }

  #commit(taken: Map<number, QueueRecord[]>): QueueRecord[] {
    const out: QueueRecord[] = [];
    for (const b of this.bucketIds) {
      const recs = taken.get(b);
      if (!recs) continue;
      this.#offsets.set(b, (this.#offsets.get(b) ?? 0) + recs.length);
      for (const r of recs) out.push(r);
    }
    return out;
  }

  /**
   * Batches of records as they arrive (each a `get({ wait: true })`). Without `timeout` the
   * iteration never ends by itself: break out of the loop, abort the signal, or `close()`.
   *
   * @example
   * ```ts
   * import * as pul from "../mod.ts";
   * import { writeQueue } from "./queue.ts";
   * import { readQueue } from "./reader.ts";
   * const system = await pul.actorSystem();
   * await (await writeQueue(system, "logs")).put([{ id: 1 }, { id: 2 }]);
   * const reader = await readQueue(system, "logs");
   * for await (const batch of reader.batches({ timeout: 50 })) console.log(batch.length); // 2
   * await system.shutdown();
   * ```
   */
  async *batches(
    options: QueueBatchesOptions = {},
  ): AsyncGenerator<QueueRecord[], void, undefined> {
    for (;;) {
      if (this.#closed) return;
      let batch: QueueRecord[];
      try {
        batch = await this.get({ ...options, wait: true });
      } catch (e) {
        if (this.#closed && !options.signal?.aborted) return; // closed: the iteration ends
        throw e;
      }
      if (batch.length === 0) return;
      yield batch;
    }
  }

  /** `for await (const batch of reader)`: {@linkcode QueueReader.batches} without a timeout. */
  [Symbol.asyncIterator](): AsyncIterator<QueueRecord[]> {
    return this.batches();
  }
}

/**
 * Open a reader on some buckets of a queue topic. Storage options (`numBuckets`, `backend`,
 * `backendOptions`, `storagePath`) must match the writers'. Those not given are taken from the
 * existing queue (the configuration of bucket 0, or of any live bucket of the topic), so a
 * reader needs only the topic; when the queue has no bucket yet the defaults apply (4 buckets,
 * memory). One given explicitly and different from the queue's makes `get` fail with a
 * `PulsingRuntimeError` naming both. A bucket nobody wrote yet is created, empty, on first
 * read.
 *
 * @param system The actor system (any node of the cluster).
 * @param topic The queue topic.
 * @param options Bucket assignment and storage options.
 * @returns The {@linkcode QueueReader}.
 * @throws {RangeError} On an invalid rank, world size, bucket id or number of buckets.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { readQueue } from "./reader.ts";
 * const system = await pul.actorSystem();
 * const reader = await readQueue(system, "jobs", { rank: 1, worldSize: 2 });
 * console.log(reader.bucketIds); // [1, 3]
 * await system.shutdown();
 * ```
 */
export async function readQueue(
  system: ActorSystem,
  topic: string,
  options: ReadQueueOptions = {},
): Promise<QueueReader> {
  resolveStorage(topic, options); // bad options fail before asking the cluster
  if (options.numBuckets !== undefined && options.backend !== undefined) {
    return new QueueReader(system, topic, options);
  }
  const found = await discoverQueue(system, topic);
  return new QueueReader(system, topic, found ? withDiscovered(options, found) : options);
}
