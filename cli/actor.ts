/**
 * `pulsing actor <module> <ClassName> --name n`: run a node that hosts one named actor until
 * SIGINT or SIGTERM, then stop the actor, leave the cluster gracefully and exit 0. A second
 * signal during that forces exit (code 1).
 *
 * The module (a path, `file:`, `https:`, `jsr:` or `npm:` specifier) must export the class
 * wrapped with `pul.remote`, under `ClassName` or with `ClassName` as its registry key.
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import * as pul from "../mod.ts";
import { serveHttp } from "../http/gateway.ts";
import { type OptionSpecs, parseArgs, splitList } from "./args.ts";
import { cliLogger } from "./cluster_access.ts";
import { UsageError } from "./errors.ts";
import { type CliSignal, cwd, exit, onSignals } from "./runtime.ts";
import { readEnv } from "../core/log.ts";

/** `pulsing actor --help`. */
export const ACTOR_HELP: string = `Usage: pulsing actor <module> <ClassName> --name <name> [options]

Start a node hosting one actor of a pul.remote class, under a name any node can resolve.
Runs until SIGINT/SIGTERM (Ctrl-C): then stops the actor and leaves the cluster gracefully.
A second signal forces exit.

Arguments:
  module              path or URL of a module exporting the class wrapped with pul.remote
  ClassName           its export name (or its pul.remote registry name)
Options:
  --name name         the actor's name (required), e.g. worker or services/llm/worker
  --addr host:port    where the node listens (default 127.0.0.1:0)
  --seeds a,b         nodes to join (env PULSING_SEEDS)
  --passphrase p      cluster passphrase for mutual TLS (env PULSING_PASSPHRASE)
  --args json         constructor arguments as a JSON array, e.g. '[10, "x"]'
  --http [host:]port  also serve the HTTP gateway (REST, /metrics, dashboard) there
  --token t           bearer token required by that gateway
  --workers n         also start n local worker nodes (one per spare core) that import the
                      module, so placement: "remote" spreads over the cores
  -v, --verbose       show info-level runtime logs

Example:
  pulsing actor ./worker.ts Worker --name worker --addr 0.0.0.0:7001 --seeds 10.0.0.1:7000`;

const OPTIONS: OptionSpecs = {
  name: { type: "string" },
  addr: { type: "string" },
  seeds: { type: "string" },
  passphrase: { type: "string" },
  args: { type: "string" },
  http: { type: "string" },
  token: { type: "string" },
  workers: { type: "string" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
};

/** What `pul.remote` returns, as far as this command needs it (any copy of the library). */
interface SpawnableClass {
  key?: string;
  cls?: { name?: string };
  spawn(options: { name: string; args: unknown[]; system: pul.ActorSystem }): Promise<object>;
}

/**
 * Run `actor` with the arguments after the command name; resolves with the exit code once
 * the node has been stopped by a signal.
 *
 * @throws {UsageError} on a bad command line; runtime errors (import, listen, spawn).
 */
export async function runActor(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, OPTIONS, "actor");
  if (args.flags.has("help")) {
    console.log(ACTOR_HELP);
    return 0;
  }
  const [modulePath, className, extra] = args.positionals;
  if (modulePath === undefined || className === undefined) {
    throw new UsageError("'actor' needs <module> and <ClassName>", "actor");
  }
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`, "actor");
  const name = args.strings.get("name");
  if (name === undefined || name.trim() === "") {
    throw new UsageError("'actor' needs --name <name>", "actor");
  }
  const ctorArgs = parseCtorArgs(args.strings.get("args"));
  const http = parseHttp(args.strings.get("http"));

  const specifier = toSpecifier(modulePath);
  let mod: Record<string, unknown>;
  try {
    mod = await import(specifier);
  } catch (e) {
    throw new pul.PulsingRuntimeError(
      `cannot import ${modulePath}: ${(e as Error)?.message ?? e}`,
    );
  }
  const cls = findClass(mod, className, modulePath);

  const verbose = args.flags.has("verbose");
  const workersRaw = args.strings.get("workers");
  const workers = workersRaw === undefined ? 0 : Number(workersRaw);
  if (!Number.isInteger(workers) || workers < 0) {
    throw new UsageError(`--workers expects a non-negative integer, got '${workersRaw}'`, "actor");
  }
  const system = await pul.init({
    workers: workers > 0 ? { count: workers, modules: [specifier] } : undefined,
    addr: args.strings.get("addr") ?? "127.0.0.1:0",
    seeds: splitList(args.strings.get("seeds") ?? readEnv("PULSING_SEEDS")),
    passphrase: args.strings.get("passphrase") ?? readEnv("PULSING_PASSPHRASE"),
    logger: (level, msg) => {
      if (verbose || level === "warn" || level === "error") cliLogger(true)(level, msg);
    },
  });
  let path: string;
  try {
    const proxy = await cls.spawn({ name, args: ctorArgs, system });
    path = pul.refOf(proxy).name ?? name;
    if (http) {
      const gw = await serveHttp(system, { ...http, token: args.strings.get("token") });
      console.log(`[${name}] HTTP gateway at ${gw.url}`);
    }
  } catch (e) {
    await pul.shutdown();
    throw e;
  }
  // Listen for signals before saying "Started": whoever waits for that line may signal at once.
  const stopped = untilSignal(async (signal) => {
    console.error(`[${name}] ${signal}: stopping (send it again to force exit)`);
    await system.stop(path);
    await pul.shutdown();
    console.error(`[${name}] Stopped, left the cluster`);
  });
  console.log(`[${name}] Started at ${system.addr}`);
  return await stopped;
}

/** Wait for SIGINT/SIGTERM, run `stop`, resolve 0; a second signal exits at once with 1. */
function untilSignal(stop: (signal: CliSignal) => Promise<void>): Promise<number> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const off = onSignals(["SIGINT", "SIGTERM"], (sig) => {
      if (stopping) {
        console.error(`${sig} again: forced exit`);
        exit(1);
        return;
      }
      stopping = true;
      stop(sig).then(() => {
        off();
        resolve(0);
      }, reject);
    });
  });
}

function toSpecifier(p: string): string {
  if (/^(file|https?|jsr|npm|data):/.test(p)) return p;
  return pathToFileURL(p.startsWith("/") ? p : `${cwd()}/${p}`).href;
}

function findClass(
  mod: Record<string, unknown>,
  className: string,
  modulePath: string,
): SpawnableClass {
  const isSpawnable = (v: unknown): v is SpawnableClass =>
    v !== null && typeof v === "object" && typeof (v as SpawnableClass).spawn === "function";
  const direct = mod[className];
  if (isSpawnable(direct)) return direct;
  const byKey = Object.values(mod).find((v) =>
    isSpawnable(v) && (v.key === className || v.cls?.name === className)
  );
  if (isSpawnable(byKey)) return byKey;
  if (typeof direct === "function") {
    throw new pul.PulsingRuntimeError(
      `${className} in ${modulePath} is a plain class: export it wrapped, ` +
        `export const ${className} = pul.remote(class ${className} { ... })`,
    );
  }
  const found = Object.entries(mod).filter(([, v]) => isSpawnable(v)).map(([k]) => k);
  throw new pul.PulsingRuntimeError(
    `${modulePath} exports no pul.remote class '${className}'` +
      (found.length ? ` (it has: ${found.join(", ")})` : " (it exports none)"),
  );
}

function parseCtorArgs(raw: string | undefined): unknown[] {
  if (raw === undefined) return [];
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new UsageError(`--args is not JSON: ${raw}`, "actor");
  }
  if (!Array.isArray(v)) throw new UsageError(`--args must be a JSON array, got ${raw}`, "actor");
  return v;
}

function parseHttp(raw: string | undefined): { port: number; hostname?: string } | undefined {
  if (raw === undefined) return undefined;
  const i = raw.lastIndexOf(":");
  const host = i >= 0 ? raw.slice(0, i) : undefined;
  const portText = i >= 0 ? raw.slice(i + 1) : raw;
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new UsageError(`--http expects [host:]port, got '${raw}'`, "actor");
  }
  return host ? { port, hostname: host.replace(/^\[|\]$/g, "") } : { port };
}
