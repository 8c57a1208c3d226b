/**
 * The low-level core of Pulsing: the actor model inside one process. Import from
 * `@pulsing/pulsing/core` for `Actor`, `Message`, `StreamMessage`, zero-copy types and the
 * building blocks the high-level API in `@pulsing/pulsing` is made of.
 *
 * @example
 * ```ts
 * import { ActorSystem, Message } from "@pulsing/pulsing/core";
 * const system = new ActorSystem();
 * const ref = await system.spawn({ receive: (m: Message) => Message.pack(m.unpack<number>() + 1) });
 * const reply = await ref.ask<Message>(Message.pack(41));
 * console.log(reply.unpack()); // 42
 * await system.shutdown();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./ids.ts";
export * from "./names.ts";
export * from "./log.ts";
export * from "./actor.ts";
export * from "./actor_ref.ts";
export * from "./actor_stream.ts";
export * from "./message.ts";
export * from "./supervision.ts";
export * from "./system.ts";
export * from "./behavior.ts";
export * from "./remote.ts";
export { getSystem, isInitialized } from "./global.ts";
export {
  ActorCell,
  CALL_DIRECT,
  type CellHost,
  type DirectDispatcher,
  KIND,
  LocalActorRef,
  withCallOptions,
} from "./actor_cell.ts";
export * from "./system_actor.ts";
export * from "./zerocopy.ts";
