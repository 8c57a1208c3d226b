/**
 * JSON for CLI output: values the codec carries but JSON does not (bigint, bytes, Map, Set,
 * Date, undefined) get a readable JSON form instead of throwing.
 *
 * @module
 */

/**
 * One line of JSON for any value an actor may return.
 *
 * - `bigint` → its decimal string; `Uint8Array` → `{"$bytes": "<base64>"}`;
 * - `Map` → an object (keys as strings); `Set` → an array; `undefined` → `null`.
 *
 * @example
 * ```ts
 * import { toJsonLine } from "./json_value.ts";
 * console.log(toJsonLine({ n: 1n, b: new Uint8Array([1, 2]) })); // {"n":"1","b":{"$bytes":"AQI="}}
 * ```
 */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, replacer) ?? "null";
}

function replacer(this: unknown, _key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return { $bytes: base64(v) };
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), x]));
  if (v instanceof Set) return [...v];
  return v;
}

function base64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
