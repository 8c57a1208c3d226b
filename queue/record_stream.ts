/**
 * The `stream` of a queue backend, written once over `get` and `waitForData`: batches of
 * records from an offset, waiting for new data when caught up. The built-in backends use it;
 * a custom backend can too.
 *
 * @module
 */

import type { QueueRecord, StreamOptions } from "./backend.ts";
import type { WaitOptions } from "./data_waiters.ts";
import { assertCount } from "./_backend_util.ts";

/** What {@linkcode streamRecords} needs from a backend. */
export interface StreamSource {
  /** Up to `limit` records from `offset`, in order. */
  get(offset: number, limit: number): Promise<QueueRecord[]>;
  /** Resolve `true` once there is a record at `offset`, `false` on timeout or close. */
  waitForData(offset: number, options?: WaitOptions): Promise<boolean>;
}

/** The default (and largest sensible) number of records per streamed batch. */
export const DEFAULT_STREAM_BATCH = 100;

/**
 * Stream the records of a log from `offset`, in batches.
 *
 * The stream ends when `limit` records were yielded; when caught up and `wait` is `false`; or
 * when caught up and nothing new arrived for `timeout` ms (the timeout restarts after each
 * batch, as the reference's wait period does); or when the source closes. It throws the
 * signal's reason when `signal` aborts, even while waiting.
 *
 * @param source The backend (its `get` and `waitForData`).
 * @param offset The first offset to read.
 * @param options Batch size, limit, waiting, timeout and abort signal.
 * @returns An async iterable of non-empty batches.
 * @throws {RangeError} If `offset`, `limit` or `batchSize` is not a valid count.
 *
 * @example
 * ```ts
 * import { streamRecords } from "./record_stream.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * const b = new MemoryBackend({ bucketId: 0 });
 * await b.putBatch([{ id: 1 }, { id: 2 }, { id: 3 }]);
 * for await (const batch of streamRecords(b, 1, { batchSize: 1, wait: false })) {
 *   console.log(batch); // [{ id: 2 }], then [{ id: 3 }]
 * }
 * ```
 */
export async function* streamRecords(
  source: StreamSource,
  offset: number,
  options: StreamOptions = {},
): AsyncGenerator<QueueRecord[], void, undefined> {
  const { signal, wait = true, timeout } = options;
  const batchSize = options.batchSize ?? DEFAULT_STREAM_BATCH;
  let remaining = options.limit ?? Infinity;
  assertCount(offset, "offset");
  if (remaining !== Infinity) assertCount(remaining, "limit");
  assertCount(batchSize, "batchSize");
  if (batchSize === 0) throw new RangeError("batchSize must be at least 1");
  let next = offset;
  while (remaining > 0) {
    signal?.throwIfAborted();
    const batch = await source.get(next, Math.min(batchSize, remaining));
    if (batch.length > 0) {
      next += batch.length;
      remaining -= batch.length;
      yield batch;
      continue;
    }
    if (!wait) return;
    if (!(await source.waitForData(next, { timeout, signal }))) return;
  }
}
