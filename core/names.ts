/**
 * Actor names (paths): `namespace/name[/...]`, as in the reference.
 *
 * Rules, in order: leading and trailing `/` are stripped; the whole path is at most 256
 * characters; each segment is trimmed, non-empty, at most 64 characters, and made of Unicode
 * letters and digits, `_` and `-`; a path has at least two segments — a bare name `foo` becomes
 * `actors/foo`; user paths may not start with the reserved `system` namespace.
 *
 * @module
 */

/** Maximum length of a whole path. */
export const MAX_PATH_LENGTH = 256;
/** Maximum length of one segment. */
export const MAX_SEGMENT_LENGTH = 64;
/** The namespace given to bare names. */
export const DEFAULT_NAMESPACE = "actors";

const SEGMENT = /^[\p{L}\p{N}_-]+$/u;
/** A canonical path (two or more valid segments of at most 64), checked in one pass. */
const CANONICAL = /^[\p{L}\p{N}_-]{1,64}(?:\/[\p{L}\p{N}_-]{1,64})+$/u;
/** A valid bare name. */
const BARE = /^[\p{L}\p{N}_-]{1,64}$/u;

/** Options of {@linkcode normalizeName}. */
export interface NormalizeNameOptions {
  /** Allow the reserved `system/` namespace (internal actors only). */
  allowSystem?: boolean;
}

/**
 * Validate an actor name and return its canonical path.
 *
 * @param name A path such as `services/llm/router`, or a bare name such as `counter`.
 * @param options `allowSystem` for internal actors.
 * @returns The canonical path (`counter` → `actors/counter`).
 * @throws {TypeError} with a message naming the rule that failed.
 *
 * @example
 * ```ts
 * import { normalizeName } from "@pulsing/pulsing/core";
 * console.log(normalizeName("counter")); // "actors/counter"
 * console.log(normalizeName("/services/llm/router/")); // "services/llm/router"
 * ```
 */
export function normalizeName(name: string, options?: NormalizeNameOptions): string {
  if (typeof name !== "string") {
    throw new TypeError(`Actor name must be a string, got ${typeof name}`);
  }
  // Fast path: names that are already canonical (or bare) need no splitting.
  if (name.length <= MAX_PATH_LENGTH) {
    if (CANONICAL.test(name)) {
      if (!name.startsWith("system/") || options?.allowSystem) return name;
    } else if (name.length <= MAX_PATH_LENGTH - DEFAULT_NAMESPACE.length - 1 && BARE.test(name)) {
      return `${DEFAULT_NAMESPACE}/${name}`;
    }
  }
  let path = name;
  while (path.startsWith("/")) path = path.slice(1);
  while (path.endsWith("/")) path = path.slice(0, -1);
  if (path.length > MAX_PATH_LENGTH) {
    throw new TypeError(
      `Invalid actor name: path exceeds maximum length of ${MAX_PATH_LENGTH} characters`,
    );
  }
  if (path.length === 0) {
    throw new TypeError(`Invalid actor name ${JSON.stringify(name)}: the name is empty`);
  }
  const parts = path.split("/").map((s) => s.trim());
  for (const seg of parts) {
    if (seg.length === 0) {
      throw new TypeError(`Invalid actor name ${JSON.stringify(name)}: empty path segment`);
    }
    if (seg.length > MAX_SEGMENT_LENGTH) {
      throw new TypeError(
        `Invalid actor name ${
          JSON.stringify(name)
        }: segment exceeds maximum length of ${MAX_SEGMENT_LENGTH} characters`,
      );
    }
    if (!SEGMENT.test(seg)) {
      throw new TypeError(
        `Invalid character in actor name ${JSON.stringify(name)}: segment ${JSON.stringify(seg)} ` +
          `may only contain letters, digits, '_' and '-'`,
      );
    }
  }
  if (parts.length === 1) parts.unshift(DEFAULT_NAMESPACE);
  if (parts[0] === "system" && !options?.allowSystem) {
    throw new TypeError(
      `Invalid actor name ${JSON.stringify(name)}: the 'system' namespace is reserved`,
    );
  }
  const out = parts.join("/");
  if (out.length > MAX_PATH_LENGTH) {
    throw new TypeError(
      `Invalid actor name: path exceeds maximum length of ${MAX_PATH_LENGTH} characters`,
    );
  }
  return out;
}

/**
 * Whether a path names a built-in actor rather than a user's: the reserved `system/` namespace,
 * or a last segment starting with `_`. Listings (dashboard, `/actors`, the CLI) hide these
 * unless asked.
 *
 * @example
 * ```ts
 * import { isInternalName } from "@pulsing/pulsing/core";
 * console.log(isInternalName("system/core"), isInternalName("actors/counter")); // true false
 * ```
 */
export function isInternalName(path: string): boolean {
  return path.startsWith("system/") || path.slice(path.lastIndexOf("/") + 1).startsWith("_");
}
