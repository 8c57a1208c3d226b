/**
 * The process-wide default system used by `pul.remote(...).spawn()`, `pul.resolve` and friends
 * when no `system` is given. Internal: set by `pul.init`, cleared by `pul.shutdown`.
 *
 * @module
 */

import { PulsingRuntimeError } from "./errors.ts";
import type { ActorSystem } from "./system.ts";

let current: ActorSystem | undefined;

/**
 * The global system.
 *
 * @throws {PulsingRuntimeError} `Actor system not initialized. Call 'await pul.init()' first.`
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * console.log(pul.getSystem().isShutdown); // false
 * await pul.shutdown();
 * ```
 */
export function getSystem(): ActorSystem {
  if (current === undefined || current.isShutdown) {
    throw new PulsingRuntimeError("Actor system not initialized. Call 'await pul.init()' first.");
  }
  return current;
}

/**
 * Whether a global system is initialized.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * console.log(pul.isInitialized()); // false
 * ```
 */
export function isInitialized(): boolean {
  return current !== undefined && !current.isShutdown;
}

/** Set or clear the global system (internal). */
export function setGlobalSystem(system: ActorSystem | undefined): void {
  current = system;
}

/** The global system or undefined (internal). */
export function peekGlobalSystem(): ActorSystem | undefined {
  return current;
}
