/**
 * Per-node figures for `pulsing inspect metrics`: a tiny probe actor that the CLI places on a
 * node, asks once, and that then stops itself.
 *
 * It is registered with `module: import.meta.url`, so a node that never imported this file
 * loads it on the first placement (same mechanism as any `pul.remote` class). It reads the
 * node's global system (`pul.init`); a node without one answers an error, and the CLI then
 * falls back to what the name registry knows (named actors per node, no message counts).
 *
 * @module
 */

import * as pul from "../mod.ts";
import type { ActorContext } from "../core/actor.ts";
import type { ActorId } from "../core/ids.ts";

/** What one node reports. */
export interface NodeStatsSnapshot {
  /** The node's id. */
  nodeId: string;
  /** Its address. */
  addr: string;
  /** Actors running there, named and anonymous (the probe left out). */
  actors: number;
  /** Named actors running there (the probe left out). */
  named: number;
  /** Messages handled so far by its named actors, summed. */
  messages: number;
  /** Messages waiting in its named actors' mailboxes, summed. */
  mailbox: number;
  /** Per named actor: path, messages handled, mailbox depth. */
  perActor: { path: string; handled: number; mailboxDepth: number }[];
}

/** The probe stops itself after this long even if nobody asks it. */
const PROBE_LIFETIME_MS = 30_000;

/** The probe's implementation (spawn it through {@linkcode NodeStats}). */
export class NodeStatsProbe {
  /** Its context, set on start. */
  ctx: ActorContext | undefined;
  /** The self-stop timer. */
  timer: ReturnType<typeof setTimeout> | undefined;

  /** Keep the context; stop after a while if nobody asks. */
  onStart(_id: ActorId, ctx: ActorContext): void {
    this.ctx = ctx;
    this.timer = setTimeout(() => ctx.stop(), PROBE_LIFETIME_MS);
  }

  /** Clear the timer. */
  onStop(): void {
    clearTimeout(this.timer);
  }

  /** The node's figures; the probe stops once it has answered. */
  snapshot(): NodeStatsSnapshot {
    try {
      const self = this.ctx?.name;
      const system = pul.getSystem();
      const perActor: NodeStatsSnapshot["perActor"] = [];
      for (const cell of system.localNamedCells()) {
        if (cell.name === undefined || cell.name === self || cell.name.startsWith("system/")) {
          continue;
        }
        perActor.push({ path: cell.name, handled: cell.handled, mailboxDepth: cell.mailboxDepth });
      }
      return {
        nodeId: system.nodeId.value,
        addr: system.addr,
        actors: Math.max(
          0,
          system.actorCount - 1 -
            system.localActorNames().filter((n) => n.startsWith("system/")).length,
        ),
        named: perActor.length,
        messages: perActor.reduce((n, a) => n + a.handled, 0),
        mailbox: perActor.reduce((n, a) => n + a.mailboxDepth, 0),
        perActor,
      };
    } finally {
      this.ctx?.stop();
    }
  }
}

/**
 * The probe class (registry key `pulsing.cli.NodeStats`).
 *
 * @example
 * ```ts ignore
 * import * as pul from "@pulsing/pulsing";
 * const name = "pulsing/_stats_1";
 * const probe = await NodeStats.spawn({ name, placement: nodeId });
 * const snap = await pul.refOf(probe).call("snapshot", []);
 * ```
 */
export const NodeStats: pul.ActorClass<NodeStatsProbe, []> = pul.remote(NodeStatsProbe, {
  name: "pulsing.cli.NodeStats",
  module: import.meta.url,
});
