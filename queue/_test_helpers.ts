/**
 * Helpers of the queue and topic tests (not published: `**\/_test_*.ts` is excluded).
 *
 * @module
 */

import * as pul from "../mod.ts";
import type { ActorSystem } from "../core/system.ts";
import type { QueueReader } from "./reader.ts";
import type { QueueRecord } from "./backend.ts";

/** Run `fn` with a fresh in-process system, shut down afterwards whatever happened. */
export async function withSystem(fn: (system: ActorSystem) => Promise<void>): Promise<void> {
  const system = await pul.actorSystem();
  try {
    await fn(system);
  } finally {
    await system.shutdown();
  }
}

/** Read everything a reader can get now, `limit` records at a time. */
export async function drain(reader: QueueReader, limit = 1000): Promise<QueueRecord[]> {
  const out: QueueRecord[] = [];
  for (;;) {
    const b = await reader.get({ limit });
    if (b.length === 0) return out;
    out.push(...b);
  }
}
