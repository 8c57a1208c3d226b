/**
 * Command-line argument parsing for the `pulsing` CLI: `--key value`, `--key=value`, boolean
 * flags, short aliases (`-h`), positionals, and `--` to end options. Tokens that look like
 * negative numbers (`-5`, `-1.5`) are positionals, so `call counter incr -5` works.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** How one option is read. */
export interface OptionSpec {
  /** `"string"` takes a value; `"boolean"` is a flag. */
  type: "string" | "boolean";
  /** A one-letter alias (`"h"` for `-h`). */
  short?: string;
}

/** The options a command accepts, by long name (without `--`). */
export type OptionSpecs = Record<string, OptionSpec>;

/** What {@linkcode parseArgs} found. */
export interface ParsedArgs {
  /** Arguments that are not options, in order (everything after `--` included). */
  positionals: string[];
  /** String options by long name. */
  strings: Map<string, string>;
  /** Boolean flags that were given. */
  flags: Set<string>;
}

const NEGATIVE_NUMBER = /^-\d/;

/**
 * Parse `argv` against `specs`.
 *
 * @param argv The arguments after the command name.
 * @param specs The accepted options.
 * @param command The command, for error messages (`"inspect"`).
 * @returns Positionals, string options and flags.
 * @throws {UsageError} on an unknown option or a missing value.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const a = parseArgs(["x", "--seeds", "h:1", "--json"], {
 *   seeds: { type: "string" },
 *   json: { type: "boolean" },
 * }, "inspect");
 * console.log(a.positionals, a.strings.get("seeds"), a.flags.has("json")); // ["x"] "h:1" true
 * ```
 */
export function parseArgs(
  argv: readonly string[],
  specs: OptionSpecs,
  command: string,
): ParsedArgs {
  const out: ParsedArgs = { positionals: [], strings: new Map(), flags: new Set() };
  const byShort = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) if (s.short) byShort.set(s.short, name);
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!tok.startsWith("-") || tok === "-" || NEGATIVE_NUMBER.test(tok)) {
      out.positionals.push(tok);
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (tok.startsWith("--")) {
      const eq = tok.indexOf("=");
      name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      if (eq >= 0) inline = tok.slice(eq + 1);
    } else {
      name = byShort.get(tok.slice(1));
    }
    const spec = name === undefined ? undefined : specs[name];
    if (name === undefined || spec === undefined) {
      throw new UsageError(`unknown option '${tok}' for '${command}'`, command);
    }
    if (spec.type === "boolean") {
      if (inline !== undefined) {
        throw new UsageError(`option '--${name}' takes no value`, command);
      }
      out.flags.add(name);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`option '--${name}' needs a value`, command);
      value = argv[++i];
    }
    out.strings.set(name, value);
  }
  return out;
}

/**
 * Read a numeric option.
 *
 * @param args Parsed arguments.
 * @param name The option's long name.
 * @param fallback The value when the option is absent.
 * @param command The command, for error messages.
 * @param min The smallest accepted value.
 * @returns The number.
 * @throws {UsageError} when the value is not a number of at least `min`.
 *
 * @example
 * ```ts
 * import { numberOption, parseArgs } from "./args.ts";
 * const a = parseArgs(["--seconds", "2"], { seconds: { type: "string" } }, "bench");
 * console.log(numberOption(a, "seconds", 5, "bench")); // 2
 * ```
 */
export function numberOption(
  args: ParsedArgs,
  name: string,
  fallback: number,
  command: string,
  min = 0,
): number {
  const raw = args.strings.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n < min) {
    throw new UsageError(`option '--${name}' expects a number >= ${min}, got '${raw}'`, command);
  }
  return n;
}

/**
 * Split a comma-separated list, trimming entries and dropping empty ones.
 *
 * @example
 * ```ts
 * import { splitList } from "./args.ts";
 * console.log(splitList(" a:1, b:2 ,")); // ["a:1", "b:2"]
 * ```
 */
export function splitList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}
