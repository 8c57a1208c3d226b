/**
 * Private argument checks shared by the built-in queue backends.
 *
 * @module
 */

import { PulsingRuntimeError } from "../core/errors.ts";
import type { QueueRecord } from "./backend.ts";

/** Throw a `TypeError` unless `record` is a non-null, non-array object. */
export function assertRecord(record: unknown, where: string): asserts record is QueueRecord {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    const got = record === null ? "null" : Array.isArray(record) ? "an array" : typeof record;
    throw new TypeError(`${where}: a record must be an object, got ${got}`);
  }
}

/** Throw a `TypeError` unless `records` is an array of records. */
export function assertRecords(
  records: unknown,
  where: string,
): asserts records is readonly QueueRecord[] {
  if (!Array.isArray(records)) throw new TypeError(`${where}: records must be an array`);
  for (let i = 0; i < records.length; i++) assertRecord(records[i], `${where}[${i}]`);
}

/** Throw a `RangeError` unless `n` is a non-negative safe integer (an offset or a limit). */
export function assertCount(n: unknown, what: string): asserts n is number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${String(n)}`);
  }
}

/** The error of an operation on a closed backend. */
export function closedError(backend: string, bucketId: number): PulsingRuntimeError {
  return new PulsingRuntimeError(`The ${backend} backend of bucket ${bucketId} is closed`);
}
