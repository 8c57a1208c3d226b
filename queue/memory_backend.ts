/**
 * The in-memory queue backend (the default, `"memory"`): an append-only array per bucket.
 *
 * Fast and volatile: the records live only in the process that hosts the bucket. If that node
 * dies (or the bucket moves to another node after a membership change), its records are lost
 * and the new owner starts an empty bucket. Use the `"sqlite"` backend to keep them.
 *
 * Records are stored as given (no copy): do not mutate a record after putting it. Memory grows
 * with every record; nothing is evicted.
 *
 * @module
 */

import type {
  BackendOptions,
  BackendStats,
  QueueBackend,
  QueueRecord,
  StreamOptions,
} from "./backend.ts";
import { DataWaiters, type WaitOptions } from "./data_waiters.ts";
import { streamRecords } from "./record_stream.ts";
import { assertCount, assertRecord, assertRecords, closedError } from "./_backend_util.ts";

/**
 * The in-memory backend of one bucket.
 *
 * @example
 * ```ts
 * import { MemoryBackend } from "./memory_backend.ts";
 * const b = new MemoryBackend({ bucketId: 0 });
 * const waiting = b.waitForData(1, { timeout: 1000 }); // no record at offset 1 yet
 * await b.put({ id: "a" });
 * await b.put({ id: "b" });   // wakes the waiter on offset 1
 * console.log(await waiting, await b.get(0, 10)); // true [{ id: "a" }, { id: "b" }]
 * ```
 */
export class MemoryBackend implements QueueBackend {
  /** The bucket served. */
  readonly bucketId: number;
  #records: QueueRecord[] = [];
  #waiters: DataWaiters = new DataWaiters(() => this.#records.length);
  #closed = false;

  /**
   * Create an empty bucket.
   *
   * @param options The bucket id (`bucketId`, default 0); other options are ignored.
   */
  constructor(options: Partial<BackendOptions> = {}) {
    this.bucketId = options.bucketId ?? 0;
  }

  /** Append one record; returns its offset. */
  put(record: QueueRecord): Promise<number> {
    try {
      this.#open();
      assertRecord(record, "put");
    } catch (e) {
      return Promise.reject(e);
    }
    const offset = this.#records.push(record) - 1;
    this.#waiters.notify();
    return Promise.resolve(offset);
  }

  /** Append records, all or nothing; returns the offset of the first. */
  putBatch(records: readonly QueueRecord[]): Promise<number> {
    try {
      this.#open();
      assertRecords(records, "putBatch");
    } catch (e) {
      return Promise.reject(e);
    }
    const offset = this.#records.length;
    for (const r of records) this.#records.push(r);
    if (records.length > 0) this.#waiters.notify();
    return Promise.resolve(offset);
  }

  /** Up to `limit` records from `offset`. */
  get(offset: number, limit: number): Promise<QueueRecord[]> {
    try {
      this.#open();
      assertCount(offset, "offset");
      assertCount(limit, "limit");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(this.#records.slice(offset, offset + limit));
  }

  /** Batches from `offset`, waiting for new records when caught up (see `StreamOptions`). */
  stream(offset: number, options?: StreamOptions): AsyncGenerator<QueueRecord[], void, undefined> {
    return streamRecords(this, offset, options);
  }

  /** Resolve `true` once there is a record at `offset`; `false` on timeout or close. */
  waitForData(offset: number, options?: WaitOptions): Promise<boolean> {
    return this.#waiters.wait(offset, options);
  }

  /** Nothing to do: memory is never durable. */
  flush(): Promise<void> {
    return this.#closed ? Promise.reject(closedError("memory", this.bucketId)) : Promise.resolve();
  }

  /** `{ bucketId, backend: "memory", totalCount, bufferSize: totalCount, persistedCount: 0 }`. */
  stats(): Promise<BackendStats> {
    const n = this.#records.length;
    return Promise.resolve({
      bucketId: this.bucketId,
      backend: "memory",
      totalCount: n,
      bufferSize: n,
      persistedCount: 0,
    });
  }

  /** Records stored. */
  totalCount(): number {
    return this.#records.length;
  }

  /** Drop the records and end every wait. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#records = [];
      this.#waiters.close();
    }
    return Promise.resolve();
  }

  #open(): void {
    if (this.#closed) throw closedError("memory", this.bucketId);
  }
}

/**
 * The factory of the `"memory"` backend.
 *
 * @param options The bucket's options.
 * @returns A new, empty {@linkcode MemoryBackend}.
 *
 * @example
 * ```ts
 * import { createMemoryBackend } from "./memory_backend.ts";
 * const b = createMemoryBackend({ bucketId: 2 });
 * console.log(b.bucketId, b.totalCount()); // 2 0
 * ```
 */
export function createMemoryBackend(options: BackendOptions): MemoryBackend {
  return new MemoryBackend(options);
}
