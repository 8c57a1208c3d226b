/**
 * A waiter list for append-only logs: wait until a log holds a record at a given offset, with a
 * timeout and an `AbortSignal`, woken by the writer (no polling).
 *
 * @module
 */

/** Options of {@linkcode DataWaiters.wait}. */
export interface WaitOptions {
  /** Give up after this many milliseconds and resolve `false`; absent: wait until data, close or abort. `0`: only look. */
  timeout?: number;
  /** Abort the wait: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

interface Waiter {
  offset: number;
  resolve: (ready: boolean) => void;
  cleanup: () => void;
}

/**
 * The waiters of one log. The writer calls {@linkcode DataWaiters.notify} after each append;
 * each waiter whose offset is now below the record count is resolved with `true`. A timeout
 * resolves `false`; an abort rejects; {@linkcode DataWaiters.close} resolves every waiter (now
 * and later) with `false`.
 *
 * @example
 * ```ts
 * import { DataWaiters } from "./data_waiters.ts";
 * const log: string[] = [];
 * const waiters = new DataWaiters(() => log.length);
 * const ready = waiters.wait(0, { timeout: 1000 });   // nothing at offset 0 yet
 * log.push("hello");
 * waiters.notify();
 * console.log(await ready); // true
 * console.log(await waiters.wait(1, { timeout: 10 })); // false: nothing came in 10 ms
 * ```
 */
export class DataWaiters {
  #count: () => number;
  #waiters = new Set<Waiter>();
  #closed = false;

  /**
   * Create the waiter list of a log.
   *
   * @param count Returns the number of records in the log now.
   */
  constructor(count: () => number) {
    this.#count = count;
  }

  /** The number of pending waiters (a finished wait never stays here). */
  get size(): number {
    return this.#waiters.size;
  }

  /** Whether {@linkcode DataWaiters.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Wait until the log holds a record at `offset` (that is, `count() > offset`).
   *
   * @param offset The offset to wait for.
   * @param options Timeout and abort signal.
   * @returns `true` when there is data at `offset`, `false` on timeout or once closed.
   * @throws The signal's reason, when it aborts.
   */
  wait(offset: number, options: WaitOptions = {}): Promise<boolean> {
    const { timeout, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#count() > offset) return Promise.resolve(true);
    if (this.#closed || timeout === 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => {
        waiter.cleanup();
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        offset,
        resolve: (ready) => {
          waiter.cleanup();
          resolve(ready);
        },
        cleanup: () => {
          this.#waiters.delete(waiter);
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeout !== undefined && Number.isFinite(timeout)) {
        timer = setTimeout(() => waiter.resolve(false), Math.max(0, timeout));
      }
    });
  }

  /** Wake every waiter whose offset now holds data. Call it after each append. */
  notify(): void {
    if (this.#waiters.size === 0) return;
    const count = this.#count();
    for (const w of [...this.#waiters]) if (w.offset < count) w.resolve(true);
  }

  /** Resolve every pending and future wait with `false` (the log is closed). */
  close(): void {
    this.#closed = true;
    for (const w of [...this.#waiters]) w.resolve(false);
  }
}
