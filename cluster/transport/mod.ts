/**
 * Transport adapters and the choice of a default one: Deno TCP where the `Deno` global exists,
 * node:net otherwise. Neither adapter touches a runtime global at import time.
 *
 * @module
 */

import { DenoTcpTransport } from "./deno_tcp.ts";
import { NodeNetTransport } from "./node_net.ts";
import type { Transport } from "./types.ts";

export * from "./types.ts";
export { DenoTcpTransport, NodeNetTransport };
export type { DenoTcpOptions } from "./deno_tcp.ts";

/**
 * The transport for this runtime: {@linkcode DenoTcpTransport} on Deno,
 * {@linkcode NodeNetTransport} elsewhere.
 *
 * @returns A new transport.
 *
 * @example
 * ```ts
 * import { defaultTransport } from "./mod.ts";
 * console.log(defaultTransport().kind); // "deno-tcp" on Deno, "node-net" on Node
 * ```
 */
export function defaultTransport(): Transport {
  // deno-lint-ignore no-explicit-any
  const deno = (globalThis as any).Deno;
  return typeof deno?.connect === "function" && typeof deno?.listen === "function"
    ? new DenoTcpTransport()
    : new NodeNetTransport();
}
