/**
 * The `pulsing` command line: inspect a running cluster, call an actor, run a node hosting an
 * actor, probe latency and throughput.
 *
 * ```sh
 * deno run -A jsr:@pulsing/pulsing/cli --help
 * deno run -A jsr:@pulsing/pulsing/cli inspect members --seeds 127.0.0.1:7000
 * deno run -A jsr:@pulsing/pulsing/cli call counter incr 5 --seeds 127.0.0.1:7000
 * deno run -A jsr:@pulsing/pulsing/cli actor ./worker.ts Worker --name worker --seeds 127.0.0.1:7000
 * deno run -A jsr:@pulsing/pulsing/cli bench --seeds 127.0.0.1:7000
 * ```
 *
 * On Node ≥ 22 the npm package installs it as `pulsing` (its `bin`, `cli/bin.ts`):
 * `npm install @pulsing/pulsing`, then `npx pulsing --help`.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage error. Errors print as one line on
 * stderr (`error: <Class> [code]: <message>`), never as a stack trace.
 *
 * @module
 */

import { ACTOR_HELP, runActor } from "./actor.ts";
import { BENCH_HELP, runBench } from "./bench.ts";
import { CALL_HELP, runCall } from "./call.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, formatError, UsageError } from "./errors.ts";
import { INSPECT_HELP, runInspect } from "./inspect.ts";
import { cliArgs, exit } from "./runtime.ts";

/** Top-level `pulsing --help`. */
export const MAIN_HELP: string = `Usage: pulsing <command> [options]

Commands:
  inspect members|actors|metrics   look at a running cluster (tables or --json)
  call <name> <method> [args...]   call a method of a named actor, print the result as JSON
  actor <module> <ClassName>       run a node hosting one actor until Ctrl-C
  bench                            quick latency/throughput probe against a cluster

Run 'pulsing <command> --help' for a command's options.
Exit codes: 0 ok, 1 runtime failure, 2 usage error.`;

const COMMANDS: Record<
  string,
  { run: (argv: readonly string[]) => Promise<number>; help: string }
> = {
  inspect: { run: runInspect, help: INSPECT_HELP },
  call: { run: runCall, help: CALL_HELP },
  actor: { run: runActor, help: ACTOR_HELP },
  bench: { run: runBench, help: BENCH_HELP },
};

/**
 * Run the CLI with `argv` (without the program name) and return the exit code. Errors are
 * printed, not thrown.
 *
 * @example
 * ```ts ignore
 * import { main } from "@pulsing/pulsing/cli";
 * Deno.exit(await main(["inspect", "members", "--seeds", "127.0.0.1:7000"]));
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    console.error(MAIN_HELP);
    return EXIT_USAGE;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    const topic = first === "help" ? rest[0] : undefined;
    console.log(topic !== undefined && COMMANDS[topic] ? COMMANDS[topic].help : MAIN_HELP);
    return EXIT_OK;
  }
  const cmd = COMMANDS[first];
  try {
    if (!cmd) {
      const near = Object.keys(COMMANDS).find((c) => c.startsWith(first.slice(0, 2)));
      throw new UsageError(
        `unknown command '${first}'` + (near ? ` (did you mean '${near}'?)` : "") +
          `; commands: ${Object.keys(COMMANDS).join(", ")}`,
      );
    }
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}`);
      console.error(e.hint);
      return EXIT_USAGE;
    }
    console.error(`error: ${formatError(e)}`);
    return EXIT_FAILURE;
  }
}

// Node 22 has no import.meta.main: there the entry is cli/bin.ts (the npm package's `bin`).
if (import.meta.main) {
  await exit(await main(cliArgs()));
}
