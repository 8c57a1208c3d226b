/**
 * Pub/sub topics: a broker actor per topic (placed by rendezvous hashing over the live
 * members), writers that publish to it, and readers that receive every message published
 * while they are subscribed. In memory, at most once, per-publisher order kept; a slow
 * subscriber never holds up the others. See `broker.ts` for delivery and publish modes.
 *
 * When the broker's node dies, the next publish and the readers' pulls find the broker on the
 * new owner (rendezvous over the remaining alive members) once the membership has declared
 * the node dead, about 1.5 s; the readers subscribe to it again by themselves. What was
 * queued at the old broker, and what is published before a reader is back, is lost.
 *
 * `pul.topic.write(topic, options)` and `pul.topic.read(topic, options)` work on the global
 * system (after `pul.init()`), or on `options.system`. Importing this module registers the
 * broker actor class, so any node can host brokers.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import * as topic from "./mod.ts";
 * await pul.init();
 * const tr = await topic.read("events");
 * tr.onMessage((m) => console.log("got", m));
 * await tr.start();
 * const tw = await topic.write("events");
 * await tw.publish({ type: "login" }, { mode: "wait_all_acks" }); // got { type: "login" }
 * await tr.stop();
 * await pul.shutdown();
 * ```
 *
 * @module
 */

import { getSystem } from "../core/global.ts";
import type { ActorSystem } from "../core/system.ts";
import { readTopic, type ReadTopicOptions, type TopicReader } from "./reader.ts";
import { type TopicWriter, writeTopic, type WriteTopicOptions } from "./writer.ts";

export {
  type BrokerPublishOptions,
  type BrokerSubscribeOptions,
  DEFAULT_BEST_EFFORT_TIMEOUT,
  DEFAULT_LEASE_MS,
  DEFAULT_PUBLISH_TIMEOUT,
  DEFAULT_SUBSCRIBER_CAPACITY,
  MAX_PULL,
  PublishMode,
  type PublishResult,
  type PullResult,
  type SubscribeResult,
  type SubscriberStats,
  TopicBroker,
  TopicBrokerActor,
  type TopicDelivery,
  type TopicStats,
} from "./broker.ts";
export {
  type MessageInfo,
  type MessagesOptions,
  readTopic,
  type ReadTopicOptions,
  type TopicCallback,
  TopicReader,
} from "./reader.ts";
export { type PublishOptions, TopicWriter, writeTopic, type WriteTopicOptions } from "./writer.ts";

/** Which system a `pul.topic` call works on. */
export interface TopicSystemOption {
  /** The actor system (default: the global one, `pul.getSystem()`). */
  system?: ActorSystem;
}

/**
 * Open a writer on a topic (`pul.topic.write`).
 *
 * @param topic The topic: letters, digits, `_`, `-`.
 * @param options Writer id, and the system (default: the global one).
 * @returns The {@linkcode TopicWriter}.
 * @throws {PulsingRuntimeError} If no system is given and Pulsing is not initialized.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import * as topic from "./mod.ts";
 * await pul.init();
 * const tw = await topic.write("events", { writerId: "api" });
 * console.log((await tw.publish("hello")).success); // true
 * await pul.shutdown();
 * ```
 */
export function write(
  topic: string,
  options: WriteTopicOptions & TopicSystemOption = {},
): Promise<TopicWriter> {
  const { system, ...rest } = options;
  try {
    return writeTopic(system ?? getSystem(), topic, rest);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Open a reader on a topic (`pul.topic.read`); add callbacks, then `start()` — or iterate it.
 *
 * @param topic The topic.
 * @param options Reader id, buffer sizes, heartbeat, and the system (default: the global one).
 * @returns The {@linkcode TopicReader}.
 * @throws {PulsingRuntimeError} If no system is given and Pulsing is not initialized.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import * as topic from "./mod.ts";
 * await pul.init();
 * const tr = await topic.read<string>("events", { readerId: "audit" });
 * const stop = tr.onMessage((m) => console.log(m.toUpperCase()));
 * await tr.start();
 * stop(); // remove the callback
 * await tr.stop();
 * await pul.shutdown();
 * ```
 */
export function read<T = unknown>(
  topic: string,
  options: ReadTopicOptions & TopicSystemOption = {},
): Promise<TopicReader<T>> {
  const { system, ...rest } = options;
  try {
    return readTopic<T>(system ?? getSystem(), topic, rest);
  } catch (e) {
    return Promise.reject(e);
  }
}
