/**
 * Logging: one line per event, to stderr, with a level threshold from `PULSING_LOG`
 * (`debug`, `info`, `warn` — the default — `error`, `off`), or a logger of your own.
 *
 * @module
 */

/** Log levels, most verbose first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * A logger: a function of level and message.
 *
 * @example
 * ```ts
 * import type { Logger } from "@pulsing/pulsing/core";
 * const lines: string[] = [];
 * const logger: Logger = (level, msg) => lines.push(`${level}: ${msg}`);
 * logger("info", "hello");
 * ```
 */
export type Logger = (level: LogLevel, msg: string) => void;

const ORDER: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

/**
 * Read an environment variable without requiring permissions (Deno without `--allow-env`
 * gets `undefined`), on Deno and Node alike.
 *
 * @example
 * ```ts
 * import { readEnv } from "@pulsing/pulsing/core";
 * console.log(typeof (readEnv("HOME") ?? ""));  // "string"
 * ```
 */
export function readEnv(name: string): string | undefined {
  try {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    if (g.Deno?.env) {
      const state = g.Deno.permissions?.querySync?.({ name: "env", variable: name })?.state;
      if (state !== undefined && state !== "granted") return undefined;
      return g.Deno.env.get(name);
    }
    return g.process?.env?.[name];
  } catch {
    return undefined;
  }
}

/**
 * The default logger: writes `[pulsing] LEVEL message` to stderr at or above `PULSING_LOG`
 * (default `warn`).
 *
 * @example
 * ```ts
 * import { consoleLogger } from "@pulsing/pulsing/core";
 * consoleLogger("debug", "not shown unless PULSING_LOG=debug");
 * ```
 */
export const consoleLogger: Logger = (level, msg) => {
  if (ORDER[level] < threshold()) return;
  console.error(`[pulsing] ${level.toUpperCase()} ${msg}`);
};

let cached: number | undefined;
function threshold(): number {
  if (cached === undefined) cached = ORDER[(readEnv("PULSING_LOG") ?? "warn").toLowerCase()] ?? 2;
  return cached;
}
