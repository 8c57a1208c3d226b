/**
 * A pool of receive buffers for big byte segments, so that a node that keeps receiving large
 * `Uint8Array` payloads does not allocate (and have the OS zero and map) fresh memory for every
 * message.
 *
 * Fresh memory is what makes big payloads slow: on the 2-core VM of `BENCHMARKS.md`, a fresh
 * 1 MiB buffer per message costs 300–650 µs (allocation, page faults, zeroing, and the
 * external-memory garbage collections it triggers) — more than moving the MiB over loopback.
 *
 * Memory for a big size is also prepared ahead: once a buffer of 256 KiB or more is taken, a
 * spare of the same size is allocated and its pages touched after the current macrotask, so the
 * next message of that size is read into memory that is already there (sequential 1 MiB asks,
 * pinned: 1,669 → 2,191 MiB/s, medians of 3; sizes up to 4 MiB).
 *
 * Buffers leave the pool in one of two ways:
 * - **owned** (the default everywhere): the receiver keeps the buffer forever; the pool simply
 *   forgets it and allocates afresh next time. Nothing changes for user code.
 * - **lent** (an actor created with `lendBytes: true`): the buffer comes back with
 *   {@linkcode BytePool.give} once the call that received it is over. `give` moves the memory
 *   out of the caller's `ArrayBuffer` with `ArrayBuffer.prototype.transfer()`, which *detaches*
 *   every view the receiver may still hold: a view kept past the call reads as empty
 *   (`byteLength` 0), it never sees the bytes of a later message.
 *
 * Only buffers handed out by {@linkcode BytePool.take} are accepted back, at most
 * `maxPerSize` buffers per exact size and `maxBytes` in all; the rest is left to the garbage
 * collector.
 *
 * @example
 * ```ts
 * import { BytePool } from "./pool.ts";
 * const pool = new BytePool();
 * const a = pool.take(1 << 20);
 * a[0] = 42;
 * pool.give(a); // `a` is now detached: a.byteLength === 0
 * const b = pool.take(1 << 20); // the same memory, no fresh allocation
 * console.log(a.byteLength, b.byteLength, b[0]); // 0 1048576 42
 * ```
 *
 * @module
 */

import { afterMacrotask } from "../core/runtime.ts";

// ArrayBuffer.prototype.transfer: Deno 1.38+, Node 21+ (without it nothing is ever lent back)
const HAS_TRANSFER = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer ===
  "function";

/** Options of {@linkcode BytePool}. */
export interface BytePoolOptions {
  /** Smallest buffer worth pooling, bytes (default 65536). Smaller ones are plain allocations. */
  minBytes?: number;
  /** Most bytes the pool keeps free (default 64 MiB). */
  maxBytes?: number;
  /** Most free buffers kept per exact size (default 4). */
  maxPerSize?: number;
  /**
   * Buffers of at least this size (default 256 KiB) are prepared ahead: after one is taken, a
   * spare of the same size is made in the background for the next message.
   */
  prefillMinBytes?: number;
  /**
   * Most bytes held as prepared spares, and the largest size prepared (default 4 MiB: bigger
   * messages take longer to read than the pauses between them, so preparing them only delays
   * the next read).
   */
  prefillMaxBytes?: number;
}

/**
 * Free buffers by exact size. Handed-out buffers are remembered weakly, so `give` accepts only
 * memory that came from this pool.
 *
 * @example
 * ```ts
 * import { BytePool } from "./pool.ts";
 * const pool = new BytePool({ maxBytes: 8 << 20 });
 * const buf = pool.take(100_000);
 * console.log(pool.give(buf), pool.freeBytes); // true 100000
 * ```
 */
export class BytePool {
  readonly #min: number;
  readonly #max: number;
  readonly #perSize: number;
  readonly #free = new Map<number, ArrayBuffer[]>();
  readonly #out = new WeakSet<ArrayBuffer>();
  #freeBytes = 0;
  #reused = 0;
  readonly #prefillMin: number;
  readonly #prefillMax: number;
  #prefilling: number | undefined;

  /**
   * Create a pool.
   *
   * @param options Size thresholds and caps.
   */
  constructor(options: BytePoolOptions = {}) {
    this.#min = Math.max(1, options.minBytes ?? 65536);
    this.#max = Math.max(0, options.maxBytes ?? 64 * 1024 * 1024);
    this.#perSize = Math.max(0, options.maxPerSize ?? 4);
    this.#prefillMin = options.prefillMinBytes ?? 256 * 1024;
    this.#prefillMax = Math.min(this.#max, options.prefillMaxBytes ?? 4 * 1024 * 1024);
  }

  /**
   * Prepare one buffer of `size` for the next message of that size, after the current
   * macrotask: fresh memory (allocation, zeroing, page faults: 300-650 µs per MiB on the
   * benchmark VM) is then paid while the node waits for that message, not while it reads it.
   * At most one size at a time, at most `prefillMaxBytes` held this way.
   */
  #prefill(size: number): void {
    if (this.#prefilling !== undefined || size > this.#prefillMax) return;
    this.#prefilling = size;
    afterMacrotask(() => {
      this.#prefilling = undefined;
      if (this.#free.has(size) || this.#freeBytes + size > this.#prefillMax) return;
      const ab = new ArrayBuffer(size);
      const v = new Uint8Array(ab);
      for (let i = 0; i < size; i += 4096) v[i] = 0; // fault every page in now
      this.#free.set(size, [ab]);
      this.#freeBytes += size;
    });
  }

  /** Bytes held free, ready for reuse. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** How many `take` calls were served from the pool (not freshly allocated). */
  get reused(): number {
    return this.#reused;
  }

  /**
   * A buffer of exactly `size` bytes (its own `ArrayBuffer`, offset 0). Its content is
   * unspecified when it is reused: the caller overwrites it.
   *
   * @param size Bytes.
   * @returns The buffer.
   */
  take(size: number): Uint8Array {
    if (size < this.#min) return new Uint8Array(size);
    const list = this.#free.get(size);
    let ab = list?.pop();
    if (ab !== undefined) {
      this.#freeBytes -= size;
      this.#reused++;
      if (list!.length === 0) this.#free.delete(size);
    } else {
      ab = new ArrayBuffer(size);
    }
    if (size >= this.#prefillMin && !this.#free.has(size)) this.#prefill(size);
    this.#out.add(ab);
    return new Uint8Array(ab);
  }

  /**
   * Take a buffer back. `buf` and every other view of its `ArrayBuffer` become detached (empty);
   * the memory moves to a fresh `ArrayBuffer` that the pool keeps while it has room.
   *
   * @param buf A buffer from {@linkcode BytePool.take}.
   * @returns Whether the pool kept the memory (false for foreign or small buffers — left
   *   untouched — and when the pool is full).
   */
  give(buf: Uint8Array): boolean {
    const ab = buf.buffer;
    if (!(ab instanceof ArrayBuffer) || !this.#out.has(ab) || !HAS_TRANSFER) return false;
    this.#out.delete(ab);
    if (ab.detached) return false;
    // detach the receiver's views whether or not the memory is kept: a lent buffer kept past
    // its call always reads as empty, never "usually fine"
    const moved = ab.transfer();
    const size = moved.byteLength;
    if (this.#freeBytes + size > this.#max) return false;
    let list = this.#free.get(size);
    if (list === undefined) this.#free.set(size, list = []);
    if (list.length >= this.#perSize) return false;
    list.push(moved);
    this.#freeBytes += size;
    return true;
  }

  /** Drop every free buffer (the memory goes back to the garbage collector). */
  clear(): void {
    this.#free.clear();
    this.#freeBytes = 0;
  }
}
