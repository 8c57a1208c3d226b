/**
 * `system/core`: the built-in actor every node runs, for diagnostics from anywhere in the
 * cluster (`pul.resolve("system/core", { nodeId })`): ping, health, node info, metrics and the
 * list of local actors.
 *
 * @module
 */

import type { ActorSystem } from "./system.ts";

/** The path of the built-in system actor. */
export const SYSTEM_ACTOR_PATH = "system/core";

/** What `metrics()` answers. */
export interface NodeMetrics {
  /** The node id. */
  nodeId: string;
  /** Actors running on the node (named and anonymous). */
  actorsCount: number;
  /** Named actors on the node. */
  namedActorsCount: number;
  /** Messages handled by the node's named actors since they started. */
  messagesTotal: number;
  /** Messages whose handling threw. */
  errorsTotal: number;
  /** Supervised restarts. */
  restartsTotal: number;
  /** Seconds since the node started. */
  uptimeSecs: number;
}

/** One local actor, as listed by `listActors()`. */
export interface LocalActorInfo {
  /** Its path. */
  name: string;
  /** Its id. */
  actorId: string;
  /** Messages handled. */
  handled: number;
  /** Messages queued. */
  mailboxDepth: number;
  /** Recorded metadata (class, module). */
  metadata: Record<string, string>;
}

/**
 * The object mounted as `system/core` on every node.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init({ addr: "127.0.0.1:0" });
 * const core = await pul.resolve("system/core");
 * console.log((await core.ping()).type); // "Pong"
 * await pul.shutdown();
 * ```
 */
export class SystemCore {
  readonly #system: ActorSystem;
  readonly #started = Date.now();
  /** Serve diagnostics of `system`. */
  constructor(system: ActorSystem) {
    this.#system = system;
  }
  /** `{ type: "Pong", nodeId, timestamp }`. */
  ping(): { type: "Pong"; nodeId: string; timestamp: number } {
    return { type: "Pong", nodeId: this.#system.nodeId.value, timestamp: Date.now() };
  }
  /** `{ type: "Health", status: "healthy", actorsCount, uptimeSecs }`. */
  health(): { type: "Health"; status: "healthy"; actorsCount: number; uptimeSecs: number } {
    return {
      type: "Health",
      status: "healthy",
      actorsCount: this.#system.actorCount,
      uptimeSecs: this.#uptime(),
    };
  }
  /** `{ type: "NodeInfo", nodeId, addr, uptimeSecs }`. */
  nodeInfo(): { type: "NodeInfo"; nodeId: string; addr: string; uptimeSecs: number } {
    return {
      type: "NodeInfo",
      nodeId: this.#system.nodeId.value,
      addr: this.#system.addr,
      uptimeSecs: this.#uptime(),
    };
  }
  /** Counters of this node. */
  metrics(): NodeMetrics {
    let messagesTotal = 0, errorsTotal = 0, restartsTotal = 0, named = 0;
    for (const c of this.#system.localNamedCells()) {
      named++;
      messagesTotal += c.handled;
      errorsTotal += c.errors;
      restartsTotal += c.restarts;
    }
    return {
      nodeId: this.#system.nodeId.value,
      actorsCount: this.#system.actorCount,
      namedActorsCount: named,
      messagesTotal,
      errorsTotal,
      restartsTotal,
      uptimeSecs: this.#uptime(),
    };
  }
  /** The named actors of this node. */
  listActors(): LocalActorInfo[] {
    const out: LocalActorInfo[] = [];
    for (const c of this.#system.localNamedCells()) {
      out.push({
        name: c.name!,
        actorId: c.actorId.value,
        handled: c.handled,
        mailboxDepth: c.mailboxDepth,
        metadata: c.metadata,
      });
    }
    return out;
  }
  #uptime(): number {
    return Math.floor((Date.now() - this.#started) / 1000);
  }
}
