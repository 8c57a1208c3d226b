/**
 * The few places where Deno and Node differ in what the runtime itself needs: which one this is,
 * and scheduling a callback after the current microtask checkpoint or macrotask. Internal.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/**
 * Whether this is Deno (`Deno.version.deno` is set). False on Node, including under the test
 * shim that provides a partial `Deno` global there.
 *
 * @example
 * ```ts
 * import { IS_DENO } from "./runtime.ts";
 * console.log(typeof IS_DENO); // "boolean"
 * ```
 */
export const IS_DENO: boolean = typeof g.Deno?.version?.deno === "string";

/**
 * Run `cb` after the current macrotask: `setImmediate` where the runtime has it (Deno, Node),
 * else `setTimeout(cb, 0)`.
 *
 * @example
 * ```ts
 * import { afterMacrotask } from "./runtime.ts";
 * afterMacrotask(() => console.log("later"));
 * ```
 */
export const afterMacrotask: (cb: () => void) => void = typeof g.setImmediate === "function"
  ? (cb) => void g.setImmediate(cb)
  : (cb) => void setTimeout(cb, 0);

/**
 * Run `cb` as a microtask: `queueMicrotask` on Deno, where it is native and cheap; on Node each
 * `queueMicrotask` also makes an async-context resource and a bound function, so there the
 * `then` of a settled promise does the job with one small allocation. `cb` must not throw (it
 * would surface as an unhandled rejection on Node).
 *
 * @example
 * ```ts
 * import { microtask } from "./runtime.ts";
 * microtask(() => console.log("after this synchronous code"));
 * ```
 */
export const microtask: (cb: () => void) => void = IS_DENO
  ? queueMicrotask
  : ((settled: Promise<void>) => (cb: () => void) => void settled.then(cb))(Promise.resolve());

/**
 * A loader that runs `load` on its first call and hands out the same promise afterwards; after
 * a failure the next call tries again (for modules imported on first use).
 *
 * @param load Starts the work (e.g. `() => import("some-module")`).
 * @returns The loader.
 *
 * @example
 * ```ts
 * import { once } from "./runtime.ts";
 * const loadUrl = once(() => import("node:url"));
 * console.log((await loadUrl()) === (await loadUrl())); // true
 * ```
 */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () =>
    p ??= load().catch((e: unknown) => {
      p = undefined;
      throw e;
    });
}
