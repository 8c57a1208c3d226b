/**
 * The topic broker: one actor per topic, named `topics/<topic>/broker`, living on the owner
 * of the key `["topic", topic]` among the live members (see `queue/placement.ts`).
 *
 * ## How delivery works
 *
 * Readers subscribe with an id; the broker keeps, for each subscriber, a bounded queue of
 * messages (default 1024). `publish` appends the message to the queue of every subscriber
 * present at that moment (except the one whose id is the publisher's id) and returns; each
 * reader pulls its own queue (a long poll: a pull waits until there is a message or a second
 * has passed). So the broker never waits for a subscriber, and a slow subscriber only fills
 * its own queue: when that queue is full, new messages for it are dropped (and counted),
 * while every other subscriber keeps receiving.
 *
 * A reader pulls at least once a second (an empty pull is its heartbeat). A subscriber that
 * has not been heard from for its lease (4 heartbeats, 4 s by default) — its process died, its
 * node left, or it was stopped without unsubscribing — is evicted on the next publish or stats
 * call. A reader that finds itself evicted (or the broker replaced) subscribes again.
 *
 * ## Publish modes (the reference's four, kept; result `{ success, delivered, failed,
 * subscriberCount, failedSubscribers? }`)
 *
 * - `fire_and_forget` (default): returns once the message is queued for every subscriber;
 *   `delivered` counts the queues it entered, `failed` the full ones. `success` is true.
 * - `best_effort`: waits until each subscriber has run its callbacks on the message (its ack),
 *   up to `timeout` (default 5 s) for all of them at once; the others are `failed` and listed.
 *   `success` is true; it never raises.
 * - `wait_all_acks`: waits for every ack up to `timeout` (default 30 s). If some are missing
 *   when it expires, the writer raises `PulsingTimeoutError` with the delivered/total counts.
 *   Otherwise `success` = `delivered > 0 || failed === 0`.
 * - `wait_any_ack`: returns at the first ack (`delivered` = 1), or after `timeout` with
 *   `success: false` and `failed` = every subscriber (no error raised).
 *
 * Delivery is at most once, in memory, without replay: a subscriber gets the messages
 * published while it is subscribed. Per-publisher order is kept at each subscriber when the
 * publisher awaits each `publish`. A callback's error is the reader's business (logged there);
 * it does not count as a failure.
 *
 * @module
 */

import { PulsingBusinessError } from "../core/errors.ts";
import { type ActorClass, remote } from "../core/remote.ts";

/** The publish modes. */
export const PublishMode = {
  /** Queue for every subscriber and return (default). */
  FIRE_AND_FORGET: "fire_and_forget",
  /** Wait for every subscriber's ack; a timeout raises. */
  WAIT_ALL_ACKS: "wait_all_acks",
  /** Return at the first ack. */
  WAIT_ANY_ACK: "wait_any_ack",
  /** Wait for acks up to the timeout; report failures, never raise. */
  BEST_EFFORT: "best_effort",
} as const;

/** A publish mode. */
export type PublishMode = typeof PublishMode[keyof typeof PublishMode];

const MODES: ReadonlySet<string> = new Set(Object.values(PublishMode));

/** Default per-subscriber queue length at the broker. */
export const DEFAULT_SUBSCRIBER_CAPACITY = 1024;
/** Default lease of a subscriber that is not heard from (ms). */
export const DEFAULT_LEASE_MS = 4_000;
/** Default timeout of `best_effort` publishes (ms). */
export const DEFAULT_BEST_EFFORT_TIMEOUT = 5_000;
/** Default timeout of `wait_all_acks` and `wait_any_ack` publishes (ms). */
export const DEFAULT_PUBLISH_TIMEOUT = 30_000;
/** Most messages returned by one pull. */
export const MAX_PULL = 256;

/** What a publish reports. */
export interface PublishResult {
  /** See the mode descriptions in the module documentation. */
  success: boolean;
  /** Subscribers the message reached (queued, or acked in the waiting modes). */
  delivered: number;
  /** Subscribers it did not reach (full queue, no ack in time, evicted meanwhile). */
  failed: number;
  /** Subscribers present at publish time (the publisher's own id excluded). */
  subscriberCount: number;
  /** Ids of the failed subscribers, when there are some. */
  failedSubscribers?: string[];
  /** `wait_all_acks` only: the timeout expired before every ack came. */
  timedOut?: boolean;
}

/** Options of {@linkcode TopicBroker.publish}. */
export interface BrokerPublishOptions {
  /** The mode (default `fire_and_forget`). */
  mode?: PublishMode;
  /** The publisher's id: a subscriber with this id does not receive the message. */
  senderId?: string;
  /** Ack timeout of the waiting modes, ms. */
  timeout?: number;
}

/** Options of {@linkcode TopicBroker.subscribe}. */
export interface BrokerSubscribeOptions {
  /** A random token of the subscribing reader (a second reader with the same id is refused). */
  token: string;
  /** Evict after this many ms without a pull (default 4000). */
  leaseMs?: number;
  /** Queue length at the broker (default 1024). */
  capacity?: number;
}

/** What {@linkcode TopicBroker.subscribe} answers. */
export interface SubscribeResult {
  /** Always true (a refusal is an error). */
  success: boolean;
  /** The topic. */
  topic: string;
  /** True when this reader was already subscribed. */
  already?: boolean;
}

/** One message as a subscriber pulls it. */
export interface TopicDelivery {
  /** Per-subscriber sequence number (for acks). */
  seq: number;
  /** Whether the publisher waits for this subscriber's ack. */
  ack: boolean;
  /** The publisher's id. */
  senderId: string;
  /** When it was published (ms since the epoch, broker clock). */
  timestamp: number;
  /** The message. */
  payload: unknown;
}

/** What {@linkcode TopicBroker.pull} answers. */
export interface PullResult {
  /** `"ok"`, or `"unknown"` when this reader is not (or no longer) subscribed. */
  status: "ok" | "unknown";
  /** The messages, oldest first. */
  messages: TopicDelivery[];
}

/** Counters of one subscriber, in {@linkcode TopicStats}. */
export interface SubscriberStats {
  /** Its id. */
  id: string;
  /** Messages waiting at the broker. */
  queued: number;
  /** Messages pulled. */
  delivered: number;
  /** Messages dropped because its queue was full. */
  dropped: number;
}

/** What {@linkcode TopicBroker.stats} reports. */
export interface TopicStats {
  /** The topic. */
  topic: string;
  /** Subscribers now. */
  subscriberCount: number;
  /** Publish calls, including those that had no subscriber. */
  totalPublished: number;
  /** Messages queued for a subscriber, summed over subscribers. */
  totalDelivered: number;
  /** Messages that did not reach a subscriber (full queue, missing ack). */
  totalFailed: number;
  /** Subscribers evicted for silence. */
  totalEvicted: number;
  /** Per-subscriber counters. */
  subscribers: SubscriberStats[];
}

interface Shared {
  senderId: string;
  timestamp: number;
  payload: unknown;
}

interface Entry {
  seq: number;
  ack: boolean;
  msg: Shared;
}

class Subscriber {
  readonly id: string;
  readonly token: string;
  readonly leaseMs: number;
  readonly capacity: number;
  lastSeen = Date.now();
  queue: Entry[] = [];
  nextSeq = 1;
  acks = new Map<number, (ok: boolean) => void>();
  wake: (() => void) | undefined;
  delivered = 0;
  dropped = 0;
  constructor(id: string, o: BrokerSubscribeOptions) {
    this.id = id;
    this.token = o.token;
    this.leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
    this.capacity = o.capacity ?? DEFAULT_SUBSCRIBER_CAPACITY;
  }
  close(): void {
    this.wake?.();
    for (const r of this.acks.values()) r(false);
    this.acks.clear();
    this.queue = [];
  }
}

/**
 * The broker of one topic (spawn it through {@linkcode TopicBrokerActor}; readers and writers
 * find it themselves).
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { TopicBrokerActor } from "./broker.ts";
 * const system = new ActorSystem();
 * const broker = await TopicBrokerActor.spawn({ system, args: ["news"] });
 * await broker.subscribe("r1", { token: "t" });
 * await broker.publish({ headline: "hi" }, { senderId: "w1" });
 * const { messages } = await broker.pull("r1", "t", 10, 0);
 * console.log(messages[0].payload); // { headline: "hi" }
 * await system.shutdown();
 * ```
 */
export class TopicBroker {
  readonly #topic: string;
  readonly #subs = new Map<string, Subscriber>();
  #published = 0;
  #delivered = 0;
  #failed = 0;
  #evicted = 0;
  #closed = false;

  /** The broker of `topic`. */
  constructor(topic: string) {
    this.#topic = topic;
  }

  /** End every pull and every wait for acks. */
  onStop(): void {
    this.#closed = true;
    for (const s of this.#subs.values()) s.close();
    this.#subs.clear();
  }

  /**
   * Register a subscriber (idempotent for the same reader).
   *
   * @throws {TypeError} On an empty id or token.
   * @throws {PulsingBusinessError} Code 409 when another live reader holds the id.
   */
  subscribe(id: string, options: BrokerSubscribeOptions): SubscribeResult {
    if (typeof id !== "string" || id.length === 0) {
      throw new TypeError("subscribe: the subscriber id must be a non-empty string");
    }
    if (typeof options?.token !== "string" || options.token.length === 0) {
      throw new TypeError("subscribe: a token is required");
    }
    this.#sweep();
    const old = this.#subs.get(id);
    if (old) {
      if (old.token === options.token) {
        old.lastSeen = Date.now();
        return { success: true, topic: this.#topic, already: true };
      }
      throw new PulsingBusinessError(
        409,
        `Reader id "${id}" is already subscribed to topic "${this.#topic}" by another reader`,
        { topic: this.#topic, readerId: id },
      );
    }
    this.#subs.set(id, new Subscriber(id, options));
    return { success: true, topic: this.#topic };
  }

  /** Remove a subscriber; its pending pull ends. Returns whether it was subscribed. */
  unsubscribe(id: string, token?: string): { success: boolean } {
    const s = this.#subs.get(id);
    if (!s || (token !== undefined && s.token !== token)) return { success: false };
    this.#subs.delete(id);
    s.close();
    return { success: true };
  }

  /**
   * Take up to `max` queued messages of a subscriber, waiting up to `waitMs` for one when its
   * queue is empty. `max: 0` is a heartbeat. Answers `"unknown"` to a reader that is not
   * subscribed (evicted, or the broker was replaced): it should subscribe again.
   */
  async pull(id: string, token: string, max: number, waitMs: number): Promise<PullResult> {
    let s = this.#subs.get(id);
    if (!s || s.token !== token) return { status: "unknown", messages: [] };
    s.lastSeen = Date.now();
    if (s.queue.length === 0 && max > 0 && waitMs > 0 && !this.#closed) {
      s.wake?.();
      const sub = s;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          if (sub.wake === done) sub.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, Math.min(waitMs, 30_000));
        sub.wake = done;
      });
      s = this.#subs.get(id);
      if (s !== sub) return { status: "unknown", messages: [] };
      s.lastSeen = Date.now();
    }
    const n = Math.max(0, Math.min(max, MAX_PULL));
    const taken = n > 0 ? s.queue.splice(0, n) : [];
    s.delivered += taken.length;
    return {
      status: "ok",
      messages: taken.map((e) => ({
        seq: e.seq,
        ack: e.ack,
        senderId: e.msg.senderId,
        timestamp: e.msg.timestamp,
        payload: e.msg.payload,
      })),
    };
  }

  /** A subscriber ran its callbacks on these messages. Returns how many acks were awaited. */
  ack(id: string, token: string, seqs: number[]): number {
    const s = this.#subs.get(id);
    if (!s || s.token !== token) return 0;
    s.lastSeen = Date.now();
    let n = 0;
    for (const seq of seqs) {
      const r = s.acks.get(seq);
      if (r) {
        s.acks.delete(seq);
        r(true);
        n++;
      }
    }
    return n;
  }

  /**
   * Publish a message to every current subscriber (see the module documentation for modes).
   *
   * @throws {TypeError} On an unknown mode.
   */
  async publish(payload: unknown, options: BrokerPublishOptions = {}): Promise<PublishResult> {
    const mode = options.mode ?? PublishMode.FIRE_AND_FORGET;
    if (!MODES.has(mode)) {
      throw new TypeError(
        `Unknown publish mode "${mode}": use ${[...MODES].map((m) => `"${m}"`).join(", ")}`,
      );
    }
    const senderId = options.senderId ?? "";
    this.#sweep();
    this.#published++;
    const targets = [...this.#subs.values()].filter((s) => s.id !== senderId);
    if (targets.length === 0) return { success: true, delivered: 0, failed: 0, subscriberCount: 0 };
    const needAck = mode !== PublishMode.FIRE_AND_FORGET;
    const msg: Shared = { senderId, timestamp: Date.now(), payload };
    const dropped: string[] = [];
    const waits: { sub: Subscriber; seq: number; done: Promise<boolean> }[] = [];
    for (const s of targets) {
      if (s.queue.length >= s.capacity) {
        s.dropped++;
        dropped.push(s.id);
        continue;
      }
      const seq = s.nextSeq++;
      s.queue.push({ seq, ack: needAck, msg });
      if (needAck) {
        waits.push({ sub: s, seq, done: new Promise<boolean>((r) => s.acks.set(seq, r)) });
      }
      s.wake?.();
    }
    const n = targets.length;
    if (!needAck) {
      this.#delivered += n - dropped.length;
      this.#failed += dropped.length;
      return {
        success: true,
        delivered: n - dropped.length,
        failed: dropped.length,
        subscriberCount: n,
        ...(dropped.length > 0 ? { failedSubscribers: dropped } : {}),
      };
    }
    const timeout = options.timeout ??
      (mode === PublishMode.BEST_EFFORT ? DEFAULT_BEST_EFFORT_TIMEOUT : DEFAULT_PUBLISH_TIMEOUT);
    const acked = await settle(waits.map((w) => w.done), timeout, mode === "wait_any_ack");
    const failed: string[] = [...dropped];
    let delivered = 0;
    waits.forEach((w, i) => {
      if (acked[i] === true) delivered++;
      else {
        failed.push(w.sub.id);
        w.sub.acks.delete(w.seq);
      }
    });
    const pending = acked.some((a) => a === undefined);
    this.#delivered += delivered;
    this.#failed += failed.length;
    const base = { delivered, failed: n - delivered, subscriberCount: n };
    const list = failed.length > 0 ? { failedSubscribers: failed } : {};
    if (mode === PublishMode.WAIT_ANY_ACK) {
      return delivered > 0
        ? { success: true, delivered, failed: 0, subscriberCount: n }
        : { success: false, delivered: 0, failed: n, subscriberCount: n, ...list };
    }
    if (mode === PublishMode.BEST_EFFORT) return { success: true, ...base, ...list };
    return {
      success: delivered > 0 || failed.length === 0,
      ...base,
      ...list,
      ...(pending ? { timedOut: true } : {}),
    };
  }

  /** Counters of the topic. */
  stats(): TopicStats {
    this.#sweep();
    return {
      topic: this.#topic,
      subscriberCount: this.#subs.size,
      totalPublished: this.#published,
      totalDelivered: this.#delivered,
      totalFailed: this.#failed,
      totalEvicted: this.#evicted,
      subscribers: [...this.#subs.values()].map((s) => ({
        id: s.id,
        queued: s.queue.length,
        delivered: s.delivered,
        dropped: s.dropped,
      })),
    };
  }

  #sweep(): void {
    const now = Date.now();
    for (const s of this.#subs.values()) {
      if (s.wake === undefined && now - s.lastSeen > s.leaseMs) {
        this.#subs.delete(s.id);
        s.close();
        this.#evicted++;
      }
    }
  }
}

/**
 * Wait for boolean outcomes until `ms` pass; with `any`, stop at the first `true`.
 * Unsettled entries are `undefined`.
 */
function settle(
  all: Promise<boolean>[],
  ms: number,
  any: boolean,
): Promise<(boolean | undefined)[]> {
  const out: (boolean | undefined)[] = all.map(() => undefined);
  let left = all.length;
  if (left === 0) return Promise.resolve(out);
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      resolve(out.slice());
    };
    const timer = setTimeout(finish, Math.max(0, ms));
    all.forEach((p, i) =>
      p.then((ok) => {
        out[i] = ok;
        left--;
        if (left === 0 || (any && ok)) finish();
      })
    );
  });
}

/**
 * The actor class of brokers, registered as `pulsing.TopicBroker`.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { TopicBrokerActor } from "./broker.ts";
 * const system = new ActorSystem();
 * const broker = await TopicBrokerActor.spawn({ system, args: ["t"] });
 * console.log((await broker.stats()).subscriberCount); // 0
 * await system.shutdown();
 * ```
 */
export const TopicBrokerActor: ActorClass<TopicBroker, [string]> = remote(TopicBroker, {
  name: "pulsing.TopicBroker",
  module: import.meta.url,
});
