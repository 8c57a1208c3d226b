/**
 * The client side of a topic's broker: finds it (or creates it on the owner of
 * `["topic", topic]`), caches the reference per system, and re-locates it when it is gone.
 *
 * @module
 */

import type { ActorSystem } from "../core/system.ts";
import { brokerActorName, findOrSpawn, PlacedActor } from "../queue/placement.ts";
import { TopicBrokerActor } from "./broker.ts";

/**
 * A client of the broker of `topic`.
 *
 * @param system The system to work on.
 * @param topic The topic (letters, digits, `_`, `-`).
 * @returns The client.
 * @throws {TypeError} On an invalid topic name.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "../core/system.ts";
 * import { brokerClient } from "./broker_client.ts";
 * const system = new ActorSystem();
 * const broker = brokerClient(system, "news");
 * console.log((await broker.call<{ topic: string }>("stats", [])).topic); // "news"
 * await system.shutdown();
 * ```
 */
export function brokerClient(system: ActorSystem, topic: string): PlacedActor {
  const name = brokerActorName(topic);
  return new PlacedActor(
    system,
    name,
    () => findOrSpawn(system, TopicBrokerActor, { name, key: ["topic", topic], args: [topic] }),
  );
}
