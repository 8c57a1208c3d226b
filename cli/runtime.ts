/**
 * What the CLI needs from the runtime — its arguments, working folder, stdout and stderr, exit,
 * signals — on Deno and on Node alike, the way the library does it elsewhere
 * (`cluster/worker_main.ts`, `readEnv` in `core/log.ts`): the `Deno` global on Deno
 * (`IS_DENO` in `core/runtime.ts`), `process` otherwise. On Deno `process` is never touched
 * (reading it loads Deno's Node compatibility layer).
 *
 * @module
 */

import { IS_DENO } from "../core/runtime.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

const encoder = new TextEncoder();
let exiting: number | undefined;

/** The signals the CLI listens for. */
export type CliSignal = "SIGINT" | "SIGTERM";

/**
 * The command-line arguments after the program (and script) name.
 *
 * @returns `Deno.args` on Deno, `process.argv.slice(2)` on Node.
 *
 * @example
 * ```ts
 * import { cliArgs } from "./runtime.ts";
 * console.log(Array.isArray(cliArgs())); // true
 * ```
 */
export function cliArgs(): string[] {
  return IS_DENO ? [...g.Deno.args] : g.process.argv.slice(2);
}

/**
 * The current working folder.
 *
 * @returns An absolute path.
 *
 * @example
 * ```ts
 * import { cwd } from "./runtime.ts";
 * console.log(cwd().startsWith("/")); // true (on POSIX)
 * ```
 */
export function cwd(): string {
  return IS_DENO ? g.Deno.cwd() : g.process.cwd();
}

/**
 * Write bytes to stdout, all of them, resolving once they are handed to the OS (no buffering,
 * so lines printed one by one show as they come).
 *
 * @param bytes What to write.
 *
 * @example
 * ```ts
 * import { writeStdout } from "./runtime.ts";
 * await writeStdout(new TextEncoder().encode("hello\n"));
 * ```
 */
export async function writeStdout(bytes: Uint8Array): Promise<void> {
  if (IS_DENO) {
    let off = 0;
    while (off < bytes.length) off += await g.Deno.stdout.write(bytes.subarray(off));
    return;
  }
  await new Promise<void>((resolve, reject) =>
    g.process.stdout.write(bytes, (e?: Error | null) => e ? reject(e) : resolve())
  );
}

/**
 * Write text to stderr at once (progress lines).
 *
 * @param text What to write (no newline added).
 *
 * @example
 * ```ts
 * import { writeStderr } from "./runtime.ts";
 * writeStderr("working...\n");
 * ```
 */
export function writeStderr(text: string): void {
  if (IS_DENO) g.Deno.stderr.writeSync(encoder.encode(text));
  else g.process.stderr.write(text);
}

/**
 * Whether stderr is a terminal (false when that cannot be told).
 *
 * @returns true for a TTY.
 *
 * @example
 * ```ts
 * import { stderrIsTerminal } from "./runtime.ts";
 * console.log(typeof stderrIsTerminal()); // "boolean"
 * ```
 */
export function stderrIsTerminal(): boolean {
  try {
    return IS_DENO ? g.Deno.stderr.isTerminal() : g.process.stderr.isTTY === true;
  } catch {
    return false;
  }
}

/**
 * Call `handler` on each of `signals` (instead of the runtime's default of exiting).
 *
 * @param signals e.g. `["SIGINT", "SIGTERM"]`.
 * @param handler Gets the signal's name.
 * @returns A function removing the listeners again.
 *
 * @example
 * ```ts
 * import { onSignals } from "./runtime.ts";
 * const off = onSignals(["SIGINT", "SIGTERM"], (sig) => console.error(`${sig}: stopping`));
 * off();
 * ```
 */
export function onSignals(
  signals: readonly CliSignal[],
  handler: (signal: CliSignal) => void,
): () => void {
  const deno = IS_DENO;
  const added = signals.map((sig) => {
    const fn = () => handler(sig);
    if (deno) g.Deno.addSignalListener(sig, fn);
    else g.process.on(sig, fn);
    return [sig, fn] as const;
  });
  return () => {
    for (const [sig, fn] of added) {
      if (deno) g.Deno.removeSignalListener(sig, fn);
      else g.process.off(sig, fn);
    }
  };
}

/**
 * End the process with `code`. On Node, what is still buffered for stdout and stderr (a pipe
 * is asynchronous there on some systems) is flushed first, for at most two seconds.
 *
 * @param code The exit code.
 * @returns Never: the process ends.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 * import { cliArgs, exit } from "./runtime.ts";
 * await exit(await main(cliArgs()));
 * ```
 */
export async function exit(code: number): Promise<never> {
  if (IS_DENO) g.Deno.exit(code);
  const p = g.process;
  // the first exit decides the code: e.g. a forced exit(1) still flushing when main then returns 0
  exiting ??= code;
  p.exitCode = exiting;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([p.stdout, p.stderr].map((s) =>
      new Promise<void>((resolve) => {
        try {
          if (!s.writableLength) resolve();
          else s.write("", () => resolve());
        } catch {
          resolve();
        }
      })
    )),
    new Promise<void>((resolve) => timer = setTimeout(resolve, 2_000)),
  ]);
  clearTimeout(timer);
  p.exit(exiting);
  throw new Error("unreachable");
}
