/**
 * The `onread` hook of a dialled `node:net` or `node:tls` socket: the runtime reads (and, for
 * TLS, decrypts) into one reused buffer and calls back, without the Buffer, the Readable push and
 * the `data` event of each read (a measurable part of a small ask's cost). Bytes that arrive
 * before the connection is started are copied and kept.
 *
 * @module
 */

/**
 * Reads of one socket: pass `{ buffer, callback }` as the `onread` option of
 * `net.connect`/`tls.connect`, then {@linkcode ReadHook.start} with the consumer.
 *
 * @example
 * ```ts
 * import { ReadHook } from "./read_hook.ts";
 * const hook = new ReadHook(1024);
 * hook.buffer.set([1, 2, 3]);
 * hook.callback(3, hook.buffer); // before start: kept
 * hook.start((chunk) => console.log(chunk)); // Uint8Array(3) [ 1, 2, 3 ]
 * ```
 */
export class ReadHook {
  /** The reused read buffer. */
  readonly buffer: Uint8Array;
  #onData: ((chunk: Uint8Array) => void) | undefined;
  #early: Uint8Array[] = [];

  /**
   * @param size Size of the reused read buffer, bytes.
   */
  constructor(size: number) {
    this.buffer = new Uint8Array(size);
  }

  /** The `onread` callback: `n` bytes were read into `buf`. */
  readonly callback = (n: number, buf: Uint8Array): boolean => {
    if (n <= 0) return true;
    const view = buf.subarray(0, n);
    if (this.#onData !== undefined) this.#onData(view);
    else this.#early.push(view.slice());
    return true;
  };

  /**
   * Deliver what came early, then every later read, to `onData`.
   *
   * @param onData The consumer (a chunk is only valid during the call).
   */
  start(onData: (chunk: Uint8Array) => void): void {
    const early = this.#early;
    this.#early = [];
    this.#onData = onData;
    for (const c of early) onData(c);
  }
}
