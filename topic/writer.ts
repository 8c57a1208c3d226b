/**
 * The publishing side of a topic: {@linkcode writeTopic} returns a {@linkcode TopicWriter}, a
 * plain client object (no actor is created until the first publish locates the broker).
 *
 * @module
 */

import { PulsingTimeoutError } from "../core/errors.ts";
import type { ActorSystem } from "../core/system.ts";
import type { PlacedActor } from "../queue/placement.ts";
import { validateTopic } from "../queue/placement.ts";
import {
  DEFAULT_BEST_EFFORT_TIMEOUT,
  DEFAULT_PUBLISH_TIMEOUT,
  PublishMode,
  type PublishResult,
  type TopicStats,
} from "./broker.ts";
import { brokerClient } from "./broker_client.ts";

/** Options of {@linkcode writeTopic}. */
export interface WriteTopicOptions {
  /** This writer's id (default `writer_<8 hex>`); a reader with the same id does not receive its messages. */
  writerId?: string;
}

/** Options of {@linkcode TopicWriter.publish}. */
export interface PublishOptions {
  /** Delivery mode (default `"fire_and_forget"`; see `broker.ts`). */
  mode?: PublishMode;
  /** Ack timeout of the waiting modes, ms (default 5000 for best_effort, 30000 otherwise). */
  timeout?: number;
}

/**
 * Publishes messages to a topic.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { writeTopic } from "./writer.ts";
 * const system = await pul.actorSystem();
 * const writer = await writeTopic(system, "events", { writerId: "svc-a" });
 * const r = await writer.publish({ type: "login", user: "ada" });
 * console.log(r.subscriberCount); // 0 (nobody listens yet)
 * await system.shutdown();
 * ```
 */
export class TopicWriter {
  /** The topic. */
  readonly topic: string;
  /** This writer's id. */
  readonly writerId: string;
  readonly #broker: PlacedActor;

  /** Use {@linkcode writeTopic}. */
  constructor(system: ActorSystem, topic: string, options: WriteTopicOptions = {}) {
    validateTopic(topic, "topic");
    this.topic = topic;
    this.writerId = options.writerId ?? `writer_${crypto.randomUUID().slice(0, 8)}`;
    this.#broker = brokerClient(system, topic);
  }

  /**
   * Publish one message (any value the codec can carry) to every current subscriber.
   *
   * @returns How many subscribers it reached (see the modes in `broker.ts`).
   * @throws {PulsingTimeoutError} In `wait_all_acks` mode when some ack is missing after
   * `timeout`; the message says how many arrived (`(1/2 acks received)`).
   * @throws {TypeError} On an unknown mode or a negative timeout.
   */
  async publish(message: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    const mode = options.mode ?? PublishMode.FIRE_AND_FORGET;
    const timeout = options.timeout;
    if (timeout !== undefined && !(timeout >= 0)) {
      throw new TypeError(`timeout must be a non-negative number of ms, got ${String(timeout)}`);
    }
    const wait = mode === PublishMode.FIRE_AND_FORGET ? 0 : timeout ??
      (mode === PublishMode.BEST_EFFORT ? DEFAULT_BEST_EFFORT_TIMEOUT : DEFAULT_PUBLISH_TIMEOUT);
    const result = await this.#broker.call<PublishResult>(
      "publish",
      [message, { mode, senderId: this.writerId, timeout }],
      { timeout: wait + 30_000 },
    );
    if (result.timedOut) {
      throw new PulsingTimeoutError(
        `publish to topic "${this.topic}" (${result.delivered}/${result.subscriberCount} acks received)`,
        wait,
      );
    }
    return result;
  }

  /** The broker's counters. */
  stats(): Promise<TopicStats> {
    return this.#broker.call<TopicStats>("stats", []);
  }
}

/**
 * Open a writer on a topic.
 *
 * @param system The actor system (any node of the cluster).
 * @param topic The topic: letters, digits, `_`, `-`.
 * @param options The writer id.
 * @returns The {@linkcode TopicWriter}.
 * @throws {TypeError} On an invalid topic name.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { writeTopic } from "./writer.ts";
 * const system = await pul.actorSystem();
 * const writer = await writeTopic(system, "metrics");
 * console.log(writer.writerId.startsWith("writer_")); // true
 * await system.shutdown();
 * ```
 */
export function writeTopic(
  system: ActorSystem,
  topic: string,
  options: WriteTopicOptions = {},
): Promise<TopicWriter> {
  try {
    return Promise.resolve(new TopicWriter(system, topic, options));
  } catch (e) {
    return Promise.reject(e);
  }
}
