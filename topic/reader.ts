/**
 * The subscribing side of a topic: {@linkcode readTopic} returns a {@linkcode TopicReader};
 * register callbacks with `onMessage`, then `start()` — or iterate it with `for await`.
 *
 * A started reader pulls its messages from the broker (a long poll, so delivery is immediate)
 * into a bounded local buffer, and runs the callbacks on each message in turn, in
 * registration order, awaiting async ones. A callback that throws is logged and the others
 * still run; the message counts as delivered. A reader whose callbacks are slow only slows
 * itself: its buffer fills, it stops pulling, its queue at the broker fills, and then the
 * broker drops new messages for it (counted in the broker stats) while the other subscribers
 * keep receiving.
 *
 * A reader that is stopped, or whose process ends, is removed from the broker (at once on
 * `stop()`, after its lease of 4 heartbeats otherwise). If the broker moves (its node died,
 * even by `kill -9`), the reader's pull keeps retrying until the membership has declared the
 * node dead (about 1.5 s), finds — or creates — the broker on the new owner, and subscribes
 * there by itself; messages published in between are lost (the broker is in memory).
 *
 * @module
 */

import type { ActorSystem } from "../core/system.ts";
import { validateTopic } from "../queue/placement.ts";
import type { PlacedActor } from "../queue/placement.ts";
import {
  DEFAULT_SUBSCRIBER_CAPACITY,
  MAX_PULL,
  type PullResult,
  type TopicDelivery,
  type TopicStats,
} from "./broker.ts";
import { brokerClient } from "./broker_client.ts";

/** Options of {@linkcode readTopic}. */
export interface ReadTopicOptions {
  /** This reader's id (default `reader_<8 hex>`); unique per topic among live readers. */
  readerId?: string;
  /** Messages buffered in this process before pulling pauses (default 1024). */
  bufferSize?: number;
  /** Messages queued for this reader at the broker before it drops new ones (default 1024). */
  brokerBufferSize?: number;
  /** How often an idle reader checks in with the broker, ms (default 1000); evicted after 4 silent periods. */
  heartbeatMs?: number;
}

/** What a callback learns about a message besides its content. */
export interface MessageInfo {
  /** The topic. */
  topic: string;
  /** The publisher's writer id. */
  senderId: string;
  /** When it was published (ms since the epoch, broker clock). */
  timestamp: number;
}

/** A message callback; may be async (the next message waits for it). */
export type TopicCallback<T = unknown> = (message: T, info: MessageInfo) => unknown;

/** Options of {@linkcode TopicReader.messages}. */
export interface MessagesOptions {
  /** Messages buffered for the iteration before the reader waits for the consumer (default 256). */
  bufferSize?: number;
}

interface Session {
  token: string;
  ac: AbortController;
  buffer: TopicDelivery[];
  wakeProc: (() => void) | undefined;
  wakeSpace: (() => void) | undefined;
  loops: Promise<void>[];
  acks: Set<Promise<unknown>>;
}

interface Stoppable {
  stop(): Promise<void>;
}

function readers(system: ActorSystem): Set<Stoppable> {
  return system.extension("pulsing.topic.readers", () => {
    const set = new Set<Stoppable>();
    system.onShutdown(async () => {
      await Promise.all([...set].map((r) => r.stop()));
    });
    return set;
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Receives the messages of a topic.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { readTopic } from "./reader.ts";
 * import { writeTopic } from "./writer.ts";
 * const system = await pul.actorSystem();
 * const reader = await readTopic<{ type: string }>(system, "events");
 * const seen: string[] = [];
 * reader.onMessage((m) => { seen.push(m.type); });
 * await reader.start();
 * const writer = await writeTopic(system, "events");
 * await writer.publish({ type: "login" }, { mode: "wait_all_acks" });
 * console.log(seen); // ["login"]
 * await reader.stop();
 * await system.shutdown();
 * ```
 */
export class TopicReader<T = unknown> implements AsyncIterable<T> {
  /** The topic. */
  readonly topic: string;
  /** This reader's id. */
  readonly readerId: string;
  readonly #system: ActorSystem;
  readonly #broker: PlacedActor;
  readonly #bufferSize: number;
  readonly #brokerBufferSize: number;
  readonly #heartbeatMs: number;
  #callbacks: TopicCallback<T>[] = [];
  #session: Session | undefined;
  #starting: Promise<void> | undefined;
  #iters = new Set<() => void>();

  /** Use {@linkcode readTopic}. */
  constructor(system: ActorSystem, topic: string, options: ReadTopicOptions = {}) {
    validateTopic(topic, "topic");
    const positive = (v: number | undefined, d: number, what: string): number => {
      const n = v ?? d;
      if (!Number.isSafeInteger(n) || n < 1) {
        throw new RangeError(`${what} must be a positive integer, got ${String(v)}`);
      }
      return n;
    };
    this.topic = topic;
    this.readerId = options.readerId ?? `reader_${crypto.randomUUID().slice(0, 8)}`;
    if (typeof this.readerId !== "string" || this.readerId.length === 0) {
      throw new TypeError("readerId must be a non-empty string");
    }
    this.#system = system;
    this.#broker = brokerClient(system, topic);
    this.#bufferSize = positive(options.bufferSize, 1024, "bufferSize");
    this.#brokerBufferSize = positive(
      options.brokerBufferSize,
      DEFAULT_SUBSCRIBER_CAPACITY,
      "brokerBufferSize",
    );
    this.#heartbeatMs = positive(options.heartbeatMs, 1_000, "heartbeatMs");
  }

  /** Whether the reader is subscribed and receiving. */
  get isStarted(): boolean {
    return this.#session !== undefined;
  }

  /**
   * Add a callback; returns a function that removes it. Takes effect for the next message,
   * also while started.
   */
  onMessage(callback: TopicCallback<T>): () => boolean {
    this.addCallback(callback);
    return () => this.removeCallback(callback);
  }

  /** Add a callback (same as {@linkcode TopicReader.onMessage}, without the remover). */
  addCallback(callback: TopicCallback<T>): void {
    if (typeof callback !== "function") {
      throw new TypeError(`A topic callback must be a function, got ${typeof callback}`);
    }
    this.#callbacks = [...this.#callbacks, callback];
  }

  /** Remove a callback; false if it was not registered. */
  removeCallback(callback: TopicCallback<T>): boolean {
    const i = this.#callbacks.indexOf(callback);
    if (i < 0) return false;
    this.#callbacks = this.#callbacks.filter((_, k) => k !== i);
    return true;
  }

  /**
   * Subscribe and start receiving. A no-op when started.
   *
   * @throws {TypeError} When no callback is registered.
   * @throws {PulsingBusinessError} Code 409 when another live reader uses this reader id.
   */
  async start(): Promise<void> {
    if (this.#session) return;
    if (this.#starting) return await this.#starting;
    if (this.#callbacks.length === 0) {
      throw new TypeError(
        "A topic reader needs at least one callback: call onMessage(cb) first, or iterate it",
      );
    }
    this.#starting = (async () => {
      const s: Session = {
        token: crypto.randomUUID(),
        ac: new AbortController(),
        buffer: [],
        wakeProc: undefined,
        wakeSpace: undefined,
        loops: [],
        acks: new Set(),
      };
      await this.#subscribe(s);
      this.#session = s;
      s.loops = [this.#pullLoop(s), this.#processLoop(s)];
      readers(this.#system).add(this);
    })();
    try {
      await this.#starting;
    } finally {
      this.#starting = undefined;
    }
  }

  /**
   * Unsubscribe and stop receiving; iterations end. A no-op when not started. The message
   * being handled finishes; buffered ones are dropped.
   */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => {});
    const s = this.#session;
    if (!s) return;
    this.#session = undefined;
    readers(this.#system).delete(this);
    s.ac.abort();
    s.wakeProc?.();
    s.wakeSpace?.();
    if (!this.#system.isShutdown) {
      try {
        await this.#broker.call("unsubscribe", [this.readerId, s.token], { timeout: 5_000 });
      } catch (e) {
        this.#log("debug", `unsubscribe failed: ${(e as Error)?.message ?? e}`);
      }
    }
    await Promise.all(s.loops);
    await Promise.all(s.acks);
    for (const end of [...this.#iters]) end();
  }

  /** The broker's counters. */
  stats(): Promise<TopicStats> {
    return this.#broker.call<TopicStats>("stats", []);
  }

  async #subscribe(s: Session): Promise<void> {
    await this.#broker.call("subscribe", [this.readerId, {
      token: s.token,
      leaseMs: 4 * this.#heartbeatMs,
      capacity: this.#brokerBufferSize,
    }], { timeout: 30_000 });
  }

  async #pullLoop(s: Session): Promise<void> {
    const hb = this.#heartbeatMs;
    let backoff = 50;
    while (!s.ac.signal.aborted) {
      try {
        const free = this.#bufferSize - s.buffer.length;
        const r = await this.#broker.call<PullResult>(
          "pull",
          [this.readerId, s.token, Math.max(0, Math.min(free, MAX_PULL)), free > 0 ? hb : 0],
          { timeout: hb + 15_000, signal: s.ac.signal },
        );
        backoff = 50;
        if (r.status !== "ok") {
          await this.#subscribe(s);
          continue;
        }
        if (r.messages.length > 0) {
          for (const m of r.messages) s.buffer.push(m);
          s.wakeProc?.();
        }
        if (free <= 0) await this.#waitSpace(s, hb);
      } catch (e) {
        if (s.ac.signal.aborted) break;
        this.#log("debug", `pull failed, retrying: ${(e as Error)?.message ?? e}`);
        await sleep(backoff, s.ac.signal);
        backoff = Math.min(backoff * 2, hb);
      }
    }
  }

  #waitSpace(s: Session, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        if (s.wakeSpace === done) s.wakeSpace = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      s.wakeSpace = done;
    });
  }

  async #processLoop(s: Session): Promise<void> {
    for (;;) {
      if (s.ac.signal.aborted) return;
      const m = s.buffer.shift();
      if (m === undefined) {
        await new Promise<void>((r) => s.wakeProc = r);
        s.wakeProc = undefined;
        continue;
      }
      s.wakeSpace?.();
      const info: MessageInfo = { topic: this.topic, senderId: m.senderId, timestamp: m.timestamp };
      for (const cb of this.#callbacks) {
        try {
          await cb(m.payload as T, info);
        } catch (e) {
          this.#log("warn", `callback failed: ${(e as Error)?.message ?? e}`);
        }
      }
      if (m.ack) {
        const p = this.#broker.call("ack", [this.readerId, s.token, [m.seq]], { timeout: 10_000 })
          .catch(() => {});
        s.acks.add(p);
        p.finally(() => s.acks.delete(p));
      }
    }
  }

  #log(level: "debug" | "warn", msg: string): void {
    this.#system.log(level, `topic "${this.topic}" reader ${this.readerId}: ${msg}`);
  }

  /**
   * Iterate the messages. Starts the reader if needed; breaking out of the loop removes the
   * iteration (the reader keeps running); `stop()` ends the iteration. When the consumer is
   * slower than the messages, `bufferSize` of them wait here, then the reader pauses.
   *
   * @example
   * ```ts
   * import * as pul from "../mod.ts";
   * import { readTopic } from "./reader.ts";
   * import { writeTopic } from "./writer.ts";
   * const system = await pul.actorSystem();
   * const reader = await readTopic<number>(system, "ticks");
   * const it = reader.messages();
   * const first = it.next(); // starts the reader
   * await new Promise((r) => setTimeout(r, 50));
   * await (await writeTopic(system, "ticks")).publish(1);
   * console.log((await first).value); // 1
   * await reader.stop();
   * await system.shutdown();
   * ```
   */
  messages(options: MessagesOptions = {}): AsyncIterableIterator<T> {
    const cap = options.bufferSize ?? 256;
    if (!Number.isSafeInteger(cap) || cap < 1) {
      throw new RangeError(`bufferSize must be a positive integer, got ${String(cap)}`);
    }
    const q: T[] = [];
    let ended = false;
    let wakeConsumer: (() => void) | undefined;
    let wakeProducer: (() => void) | undefined;
    const cb: TopicCallback<T> = async (m) => {
      while (q.length >= cap && !ended) await new Promise<void>((r) => wakeProducer = r);
      if (ended) return;
      q.push(m);
      wakeConsumer?.();
    };
    const end = () => {
      ended = true;
      this.#iters.delete(end);
      this.removeCallback(cb);
      wakeConsumer?.();
      wakeProducer?.();
    };
    this.addCallback(cb);
    this.#iters.add(end);
    let starting: Promise<void> | undefined = this.isStarted ? undefined : this.start();
    starting?.catch(() => {});
    const it: AsyncIterableIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        if (starting) {
          const p = starting;
          starting = undefined;
          try {
            await p;
          } catch (e) {
            end();
            throw e;
          }
        }
        while (q.length === 0 && !ended) {
          await new Promise<void>((r) => wakeConsumer = r);
          wakeConsumer = undefined;
        }
        if (q.length > 0) {
          const value = q.shift()!;
          wakeProducer?.();
          return { value, done: false };
        }
        return { value: undefined, done: true };
      },
      return: (): Promise<IteratorResult<T>> => {
        end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** `for await (const message of reader)`: {@linkcode TopicReader.messages}. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.messages();
  }
}

/**
 * Open a reader on a topic (not started: add callbacks, then `start()`, or iterate it).
 *
 * @param system The actor system (any node of the cluster).
 * @param topic The topic: letters, digits, `_`, `-`.
 * @param options Reader id, buffer sizes, heartbeat.
 * @returns The {@linkcode TopicReader}.
 * @throws {TypeError} On an invalid topic name or reader id.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { readTopic } from "./reader.ts";
 * const system = await pul.actorSystem();
 * const reader = await readTopic(system, "events", { readerId: "audit" });
 * console.log(reader.readerId, reader.isStarted); // "audit" false
 * await system.shutdown();
 * ```
 */
export function readTopic<T = unknown>(
  system: ActorSystem,
  topic: string,
  options: ReadTopicOptions = {},
): Promise<TopicReader<T>> {
  try {
    return Promise.resolve(new TopicReader<T>(system, topic, options));
  } catch (e) {
    return Promise.reject(e);
  }
}
