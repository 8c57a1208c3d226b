/**
 * CLI errors: {@linkcode UsageError} (exit code 2) and the one-line form of any error
 * (exit code 1), never a stack trace.
 *
 * @module
 */

/** Exit code of a successful command. */
export const EXIT_OK = 0;
/** Exit code of a runtime failure (unreachable cluster, failed call, ...). */
export const EXIT_FAILURE = 1;
/** Exit code of a usage error (unknown command or option, missing argument). */
export const EXIT_USAGE = 2;

/**
 * The command line was wrong. `command` names the command whose `--help` to suggest.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * const e = new UsageError("--seeds is required", "inspect");
 * console.log(e.hint); // "run 'pulsing inspect --help' for usage"
 * ```
 */
export class UsageError extends Error {
  /** The command the error is about (`""` for the top level). */
  readonly command: string;
  /** Create a usage error. */
  constructor(message: string, command = "") {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
  /** What to run for help. */
  get hint(): string {
    return `run 'pulsing ${this.command ? this.command + " " : ""}--help' for usage`;
  }
}

/**
 * One line describing an error: its class, its code when it has one, its message. For an
 * actor error wrapping a plain `Error`, the original name follows in parentheses.
 *
 * @param e Anything thrown.
 * @returns e.g. `PulsingBusinessError [404]: not found`.
 *
 * @example
 * ```ts
 * import { formatError } from "./errors.ts";
 * console.log(formatError(new RangeError("too big"))); // "RangeError: too big"
 * ```
 */
export function formatError(e: unknown): string {
  if (!(e instanceof Error)) return oneLine(String(e));
  const r = e as Error & { code?: unknown; originalName?: unknown };
  let head = r.name || "Error";
  if (typeof r.code === "number") head += ` [${r.code}]`;
  if (typeof r.originalName === "string" && r.originalName && r.originalName !== r.name) {
    head += ` (${r.originalName})`;
  }
  return `${head}: ${oneLine(r.message)}`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}
