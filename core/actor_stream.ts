/**
 * {@linkcode ActorStream}: what a streaming actor method returns to its caller.
 *
 * @module
 */

import { PulsingRuntimeError } from "./errors.ts";

/** Anything an actor stream can be built from. */
export type StreamSource<T> = AsyncIterable<T> | Iterable<T>;

/**
 * A `ReadableStream<T>` that is also async-iterable, pulled lazily: nothing runs on the
 * producing side until the consumer asks for an item, and at most one item is produced ahead
 * of each request. Breaking out of `for await`, or calling `cancel()`, stops the producer: a
 * generator's `finally` blocks run.
 *
 * `for await` takes a direct path that skips the Web Streams machinery; `getReader()`,
 * `pipeTo()` and friends work as on any `ReadableStream`. A stream can be consumed once.
 *
 * @example
 * ```ts
 * import { ActorStream } from "@pulsing/pulsing/core";
 * async function* gen() { yield 1; yield 2; }
 * const items: number[] = [];
 * for await (const x of ActorStream.fromIterable(gen())) items.push(x);
 * console.log(items); // [1, 2]
 * ```
 */
export class ActorStream<T> extends ReadableStream<T> {
  #open: () => Promise<AsyncIterator<T> | Iterator<T>>;
  #it: AsyncIterator<T> | Iterator<T> | undefined;
  #opening: Promise<AsyncIterator<T> | Iterator<T>> | undefined;
  #done = false;
  #mapError: ((e: unknown) => unknown) | undefined;
  #abortReason: unknown;
  #aborted: Promise<never> | undefined;

  /**
   * Build a stream whose source is opened on first pull (use {@linkcode ActorStream.fromIterable} or
   * {@linkcode ActorStream.lazy} rather than this constructor).
   *
   * @param open Opens the source.
   * @param mapError Turns an error of the source into the error the consumer sees.
   */
  constructor(
    open: () => Promise<AsyncIterator<T> | Iterator<T>>,
    mapError?: (e: unknown) => unknown,
  ) {
    const box: { s?: ActorStream<T> } = {};
    super({
      pull: async (controller) => {
        const s = box.s!;
        try {
          const r = await s.#next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (e) {
          controller.error(e);
        }
      },
      cancel: async () => {
        await box.s!.#return();
      },
    }, { highWaterMark: 0 });
    box.s = this;
    this.#open = open;
    this.#mapError = mapError;
  }

  /**
   * A stream over an existing async or sync iterable (a generator, another stream, an array).
   *
   * @param source The items.
   * @param mapError Turns an error thrown by the source into the error the consumer sees.
   * @example
   * ```ts
   * import { ActorStream } from "@pulsing/pulsing/core";
   * const s = ActorStream.fromIterable(["a", "b"]);
   * console.log(await Array.fromAsync(s)); // ["a", "b"]
   * ```
   */
  static fromIterable<T>(
    source: StreamSource<T>,
    mapError?: (e: unknown) => unknown,
  ): ActorStream<T> {
    if (source instanceof ActorStream) return source;
    return new ActorStream<T>(() => Promise.resolve(iteratorOf(source)), mapError);
  }

  /**
   * A stream whose source is obtained asynchronously on first pull (for example a remote call
   * that answers with a stream). If the promise resolves to something that is not iterable,
   * the stream errors.
   *
   * @example
   * ```ts
   * import { ActorStream } from "@pulsing/pulsing/core";
   * const s = ActorStream.lazy(async () => [1, 2, 3]);
   * console.log(await Array.fromAsync(s)); // [1, 2, 3]
   * ```
   */
  static lazy<T>(open: () => Promise<unknown>): ActorStream<T> {
    const s: ActorStream<T> = new ActorStream<T>(async () => {
      const src = await open();
      if (src instanceof ActorStream) {
        // Adopt a fresh (never read) stream's source and error mapping: one layer per item
        // instead of two.
        if (src.#it === undefined && src.#opening === undefined && !src.locked && !src.#done) {
          src.#done = true;
          s.#mapError = src.#mapError;
          return src.#open();
        }
        return src.#iterator();
      }
      if (isStreamLike(src) || Array.isArray(src)) return iteratorOf(src as StreamSource<T>);
      throw new PulsingRuntimeError(
        `Expected a stream but the call answered with a single value (${typeof src})`,
      );
    });
    return s;
  }

  #iterator(): AsyncIterator<T> {
    return {
      next: () => this.#next(),
      return: async () => {
        await this.#return();
        return { done: true, value: undefined };
      },
    };
  }

  /**
   * End the stream when `signal` aborts: the producer is cancelled (a generator's `finally`
   * runs) and the consumer's pending or next read rejects with `signal.reason` — so a stream
   * cut short is never mistaken for a complete one.
   *
   * @param signal The signal to follow.
   * @returns This stream.
   *
   * @example
   * ```ts
   * import { ActorStream } from "@pulsing/pulsing/core";
   * async function* forever() { let i = 0; while (true) { yield i++; await new Promise((r) => setTimeout(r, 5)); } }
   * const ac = new AbortController();
   * setTimeout(() => ac.abort(new Error("enough")), 30);
   * try {
   *   for await (const x of ActorStream.fromIterable(forever()).abortOn(ac.signal)) void x;
   * } catch (e) {
   *   console.log((e as Error).message); // "enough"
   * }
   * ```
   */
  abortOn(signal: AbortSignal): this {
    if (this.#aborted !== undefined) return this;
    let fail!: (e: unknown) => void;
    this.#aborted = new Promise<never>((_, reject) => (fail = reject));
    this.#aborted.catch(() => {});
    const onAbort = () => {
      if (this.#abortReason !== undefined) return;
      this.#abortReason = signal.reason ?? new DOMException("The stream was aborted", "AbortError");
      fail(this.#abortReason);
      this.#return().catch(() => {});
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    return this;
  }

  async #next(): Promise<IteratorResult<T>> {
    if (this.#abortReason !== undefined) throw this.#abortReason;
    if (this.#done) return { done: true, value: undefined };
    let it = this.#it;
    if (it === undefined) {
      this.#opening ??= this.#open();
      try {
        it = this.#it = await this.#opening;
      } catch (e) {
        this.#done = true;
        throw e;
      }
    }
    try {
      const r = this.#aborted === undefined
        ? await it.next()
        : await Promise.race([it.next(), this.#aborted]);
      if (r.done) {
        this.#done = true;
        if (this.#abortReason !== undefined) throw this.#abortReason;
      }
      return r;
    } catch (e) {
      this.#done = true;
      if (e === this.#abortReason) throw e;
      throw this.#mapError === undefined ? e : this.#mapError(e);
    }
  }

  async #return(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    let it = this.#it;
    if (it === undefined && this.#opening) {
      try {
        it = await this.#opening;
      } catch {
        return;
      }
    }
    if (it && typeof it.return === "function") await it.return();
  }

  /**
   * Iterate the items. Breaking out of the loop cancels the producer.
   *
   * @example
   * ```ts
   * import { ActorStream } from "@pulsing/pulsing/core";
   * for await (const x of ActorStream.fromIterable([1, 2, 3])) if (x === 2) break;
   * ```
   */
  override [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    if (this.locked) throw new TypeError("ActorStream is already being consumed");
    this.getReader(); // lock the stream so that it cannot be read twice
    return {
      next: () => this.#next(),
      return: async (): Promise<IteratorResult<T>> => {
        await this.#return();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    } as AsyncIterableIterator<T>;
  }

  /**
   * Read every remaining item into an array.
   *
   * @example
   * ```ts
   * import { ActorStream } from "@pulsing/pulsing/core";
   * console.log(await ActorStream.fromIterable([1, 2]).collect()); // [1, 2]
   * ```
   */
  async collect(): Promise<T[]> {
    const out: T[] = [];
    for await (const x of this) out.push(x);
    return out;
  }
}

/** True for values that an actor streams rather than returns as one value. */
export function isStreamLike(v: unknown): v is StreamSource<unknown> {
  if (v === null || typeof v !== "object") return false;
  if (typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") return true;
  return Object.prototype.toString.call(v) === "[object Generator]";
}

function iteratorOf<T>(src: StreamSource<T>): AsyncIterator<T> | Iterator<T> {
  const a = (src as AsyncIterable<T>)[Symbol.asyncIterator];
  if (typeof a === "function") return a.call(src);
  return (src as Iterable<T>)[Symbol.iterator]();
}
