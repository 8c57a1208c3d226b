/**
 * `pulsing call <name> <method> [json args...]`: call a method of a named actor and print the
 * result as one line of JSON; a streaming method prints its items as they arrive, one per line.
 *
 * @module
 */

import { type OptionSpecs, parseArgs } from "./args.ts";
import { ACCESS_HELP, ACCESS_OPTIONS, accessSettings, openAccess } from "./cluster_access.ts";
import { UsageError } from "./errors.ts";
import { toJsonLine } from "./json_value.ts";
import { writeStdout } from "./runtime.ts";

/** `pulsing call --help`. */
export const CALL_HELP: string =
  `Usage: pulsing call <name> <method> [json args...] --seeds host:port [options]

Call a method of a named actor anywhere in the cluster and print the result as JSON.
A streaming (generator) method prints one JSON line per item, as they arrive.
Each argument is JSON: numbers and objects as is, strings quoted ('"text"').
An error prints one line "error: <Class> [code]: <message>" and exits 1.

Options:
  --node id           call the instance on this node
${ACCESS_HELP}

Examples:
  pulsing call counter incr 5 --seeds 127.0.0.1:7000
  pulsing call services/llm generate '"hello"' '{"max":16}' --seeds 127.0.0.1:7000
  pulsing call counter incr --http http://127.0.0.1:8080`;

const OPTIONS: OptionSpecs = {
  ...ACCESS_OPTIONS,
  node: { type: "string" },
  help: { type: "boolean", short: "h" },
};

/**
 * Run `call` with the arguments after the command name.
 *
 * @returns The exit code.
 * @throws {UsageError} on a bad command line; whatever the call throws.
 */
export async function runCall(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, OPTIONS, "call");
  if (args.flags.has("help")) {
    console.log(CALL_HELP);
    return 0;
  }
  const [name, method, ...raw] = args.positionals;
  if (name === undefined || method === undefined) {
    throw new UsageError("'call' needs <name> and <method>", "call");
  }
  const callArgs = raw.map((text, i) => {
    try {
      return JSON.parse(text);
    } catch {
      throw new UsageError(
        `argument ${i + 1} is not JSON: ${text} (quote strings: '"${text}"')`,
        "call",
      );
    }
  });
  const settings = accessSettings(args, "call");
  const access = await openAccess(settings);
  try {
    const ref = await access.ref(name, args.strings.get("node"));
    const result = await ref.call(method, callArgs, { timeout: settings.timeoutMs });
    if (result instanceof ReadableStream) {
      for await (const item of result as ReadableStream<unknown>) {
        await writeLine(toJsonLine(item));
      }
    } else {
      await writeLine(toJsonLine(result));
    }
  } finally {
    await access.close();
  }
  return 0;
}

const encoder = new TextEncoder();

/** Write a line to stdout at once (no buffering, so streamed items show as they come). */
async function writeLine(line: string): Promise<void> {
  await writeStdout(encoder.encode(line + "\n"));
}
