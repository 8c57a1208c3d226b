/**
 * {@linkcode Message} and {@linkcode StreamMessage}: the typed-bytes messages of the low-level
 * API, for actors that speak to other languages or want control over encoding. Ordinary
 * actors pass plain values and never need them.
 *
 * @module
 */

import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import { PulsingRuntimeError } from "./errors.ts";

const packr = new Packr({ useRecords: false, moreTypes: true });
const unpackr = new Unpackr({ useRecords: false, moreTypes: true });
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/**
 * A single message: a type name and a payload of bytes.
 *
 * @example
 * ```ts
 * import { Message } from "@pulsing/pulsing/core";
 * const m = Message.pack({ x: 1 }, "Ping");
 * console.log(m.msgType, m.unpack()); // "Ping" { x: 1 }
 * const j = Message.fromJson("CreateUser", { name: "ada" });
 * console.log(j.toJson()); // { name: "ada" }
 * ```
 */
export class Message {
  /** The message type, e.g. `"Ping"` or `"my.app.CreateUserV1"`. */
  readonly msgType: string;
  /** The payload bytes. */
  readonly payload: Uint8Array;
  /** Build a message from a type and bytes (see also {@linkcode Message.single}). */
  constructor(msgType: string, payload: Uint8Array = new Uint8Array(0)) {
    this.msgType = msgType;
    this.payload = payload;
  }
  /** A message with a type and raw bytes. */
  static single(msgType: string, payload: Uint8Array): Message {
    return new Message(msgType, payload);
  }
  /** A message with an empty type and no payload. */
  static empty(): Message {
    return new Message("", new Uint8Array(0));
  }
  /** Encode a value with msgpack (type defaults to the value's constructor name). */
  static pack(value: unknown, msgType?: string): Message {
    const t = msgType ??
      (value !== null && typeof value === "object" ? value.constructor?.name ?? "" : typeof value);
    return new Message(t, packr.pack(value));
  }
  /** A message whose payload is the JSON text of `data`. */
  static fromJson(msgType: string, data: unknown): Message {
    return new Message(msgType, utf8.encode(JSON.stringify(data)));
  }
  /** Always false for a single message (see {@linkcode StreamMessage}). */
  get isStream(): boolean {
    return false;
  }
  /**
   * Decode a msgpack payload.
   * @throws {PulsingRuntimeError} when the payload is not valid msgpack.
   */
  unpack<T = unknown>(): T {
    try {
      return unpackr.unpack(this.payload) as T;
    } catch (e) {
      throw new PulsingRuntimeError(
        `Message '${this.msgType}' payload is not valid msgpack: ${(e as Error).message}`,
      );
    }
  }
  /**
   * Decode a JSON payload.
   * @throws {PulsingRuntimeError} when the payload is not valid JSON.
   */
  toJson<T = unknown>(): T {
    try {
      return JSON.parse(utf8d.decode(this.payload)) as T;
    } catch (e) {
      throw new PulsingRuntimeError(
        `Message '${this.msgType}' payload is not valid JSON: ${(e as Error).message}`,
      );
    }
  }
}

/**
 * The writing end of a {@linkcode StreamMessage}.
 *
 * @example
 * ```ts
 * import { StreamMessage } from "@pulsing/pulsing/core";
 * const [stream, writer] = StreamMessage.create<string>("tokens");
 * (async () => { await writer.write("a"); await writer.close(); })();
 * for await (const t of stream) console.log(t);
 * ```
 */
export interface StreamWriter<T> {
  /** Send one item; waits while the buffer is full (backpressure). Throws once closed or cancelled. */
  write(item: T): Promise<void>;
  /** End the stream normally. Idempotent. */
  close(): Promise<void>;
  /** End the stream with an error delivered to the reader. */
  error(reason: string | Error): Promise<void>;
  /** True once the reader has gone (cancelled) or the writer closed. */
  readonly closed: boolean;
}

/**
 * A stream of items produced by a writer and consumed by async iteration, with a bounded
 * buffer (default 32 items). Return it from a low-level `receive` to answer with a stream.
 *
 * @example
 * ```ts
 * import { StreamMessage } from "@pulsing/pulsing/core";
 * const [stream, writer] = StreamMessage.create<number>("numbers", 2);
 * (async () => {
 *   for (let i = 0; i < 5; i++) await writer.write(i);
 *   await writer.close();
 * })();
 * const got: number[] = [];
 * for await (const n of stream) got.push(n);
 * console.log(got); // [0, 1, 2, 3, 4]
 * ```
 */
export class StreamMessage<T = unknown> implements AsyncIterable<T> {
  /** The default type of the items. */
  readonly msgType: string;
  #buf: T[] = [];
  #cap: number;
  #ended = false;
  #cancelled = false;
  #error: Error | undefined;
  #readerWake: (() => void) | undefined;
  /** Writes waiting for space, in call order (each holds its item). */
  #waiting: { item: T; resolve: () => void; reject: (e: Error) => void }[] = [];
  #iterated = false;

  private constructor(msgType: string, cap: number) {
    this.msgType = msgType;
    this.#cap = Math.max(1, cap);
  }

  /** Create a stream and its writer. */
  static create<T = unknown>(msgType = "", bufferSize = 32): [StreamMessage<T>, StreamWriter<T>] {
    const s = new StreamMessage<T>(msgType, bufferSize);
    return [s, s.#writer()];
  }

  /** Always true. */
  get isStream(): boolean {
    return true;
  }

  #writer(): StreamWriter<T> {
    // deno-lint-ignore no-this-alias
    const s = this;
    return {
      get closed() {
        return s.#ended || s.#cancelled;
      },
      write(item: T): Promise<void> {
        if (s.#cancelled) return Promise.reject(new PulsingRuntimeError("Stream closed"));
        if (s.#ended) return Promise.reject(new PulsingRuntimeError("Writer already closed"));
        // Space and nobody waiting ahead: take it now. Otherwise queue behind earlier writes,
        // so that concurrent writes keep their call order and none is lost.
        if (s.#buf.length < s.#cap && s.#waiting.length === 0) {
          s.#buf.push(item);
          s.#wakeReader();
          return Promise.resolve();
        }
        return new Promise<void>((resolve, reject) => s.#waiting.push({ item, resolve, reject }));
      },
      close(): Promise<void> {
        s.#ended = true;
        s.#wakeReader();
        return Promise.resolve();
      },
      error(reason: string | Error): Promise<void> {
        if (!s.#ended) {
          s.#error = reason instanceof Error ? reason : new PulsingRuntimeError(reason);
          s.#ended = true;
        }
        s.#wakeReader();
        return Promise.resolve();
      },
    };
  }

  #wakeReader(): void {
    const w = this.#readerWake;
    this.#readerWake = undefined;
    w?.();
  }
  /** Move waiting writes into the freed buffer space, oldest first. */
  #admitWriters(): void {
    const w = this.#waiting;
    while (w.length > 0 && this.#buf.length < this.#cap) {
      const next = w.shift()!;
      this.#buf.push(next.item);
      next.resolve();
    }
  }

  /** Iterate the items (once). */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#iterated) throw new TypeError("StreamMessage can be iterated only once");
    this.#iterated = true;
    return {
      next: async (): Promise<IteratorResult<T>> => {
        while (true) {
          if (this.#buf.length > 0) {
            const v = this.#buf.shift() as T;
            this.#admitWriters();
            return { done: false, value: v };
          }
          if (this.#cancelled) return { done: true, value: undefined };
          if (this.#ended) {
            const e = this.#error;
            this.#error = undefined;
            this.#cancelled = true;
            if (e) throw e;
            return { done: true, value: undefined };
          }
          await new Promise<void>((r) => (this.#readerWake = r));
        }
      },
      return: (): Promise<IteratorResult<T>> => {
        this.#cancel();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  #cancel(): void {
    this.#cancelled = true;
    this.#buf.length = 0;
    const w = this.#waiting;
    this.#waiting = [];
    for (const x of w) x.reject(new PulsingRuntimeError("Stream closed"));
  }
}
