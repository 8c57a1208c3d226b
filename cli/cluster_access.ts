/**
 * How CLI commands reach a running cluster: either by joining it as a short-lived observer
 * node (`--seeds`), or through an HTTP gateway (`--http`), with one small interface for both.
 *
 * The observer listens on `127.0.0.1:0` when every seed is on loopback, else on `0.0.0.0:0`
 * (`--addr` overrides), joins through the first seed that answers, waits until it holds every
 * member's name registry (so listings are complete), and leaves gracefully when closed. It is
 * left out of what the commands print.
 *
 * @module
 */

import { isInternalName } from "../core/names.ts";
import * as pul from "../mod.ts";
import type { ActorRef } from "../core/actor_ref.ts";
import type { ActorSystem, MemberInfo, NamedActorInfo } from "../core/system.ts";
import { type LogLevel, readEnv } from "../core/log.ts";
import type { ClusterNode } from "../cluster/node.ts";
import { parseAddr } from "../cluster/addr.ts";
import { numberOption, type OptionSpecs, type ParsedArgs, splitList } from "./args.ts";
import { UsageError } from "./errors.ts";

/** The options every cluster-facing command accepts. */
export const ACCESS_OPTIONS: OptionSpecs = {
  seeds: { type: "string" },
  addr: { type: "string" },
  passphrase: { type: "string" },
  http: { type: "string" },
  token: { type: "string" },
  timeout: { type: "string" },
  verbose: { type: "boolean", short: "v" },
};

/** Help lines for {@linkcode ACCESS_OPTIONS}. */
export const ACCESS_HELP: string = `Cluster access (one of):
  --seeds host:port[,host:port]  join as a short-lived observer node (env PULSING_SEEDS)
  --http url[,url]               go through HTTP gateway(s) instead of joining
Options:
  --addr host:port    where the observer listens (default 127.0.0.1:0, or 0.0.0.0:0 for
                      non-loopback seeds)
  --passphrase p      cluster passphrase for mutual TLS (env PULSING_PASSPHRASE)
  --token t           gateway bearer token, with --http (env PULSING_TOKEN)
  --timeout ms        how long to wait for the cluster / a call (default 10000)
  -v, --verbose       show the runtime's log lines on stderr`;

/** A way into the cluster. */
export interface ClusterAccess {
  /** `"observer"` (joined with --seeds) or `"gateway"` (--http). */
  readonly kind: "observer" | "gateway";
  /** The observer's system (observer access only). */
  readonly system?: ActorSystem;
  /** Members of the cluster, the observer itself left out. */
  members(): Promise<MemberInfo[]>;
  /** Named actors across the cluster (`all` includes `system/` and `_`-prefixed ones). */
  actors(all?: boolean): Promise<NamedActorInfo[]>;
  /** A reference to a named actor (pinned to a node when `nodeId` is given). */
  ref(name: string, nodeId?: string): Promise<ActorRef>;
  /** Leave the cluster (observer) or forget the gateway. */
  close(): Promise<void>;
}

/** Settings read from the command line by {@linkcode accessSettings}. */
export interface AccessSettings {
  /** Seed addresses. */
  seeds: string[];
  /** Gateway URLs. */
  http: string[];
  /** Observer listen address. */
  addr?: string;
  /** Cluster passphrase. */
  passphrase?: string;
  /** Gateway token. */
  token?: string;
  /** Wait bound in ms. */
  timeoutMs: number;
  /** Show runtime logs. */
  verbose: boolean;
}

/**
 * Read the access options (and their environment fallbacks) of a command.
 *
 * @throws {UsageError} when neither `--seeds` nor `--http` is given, or both are.
 */
export function accessSettings(args: ParsedArgs, command: string): AccessSettings {
  const seeds = splitList(args.strings.get("seeds") ?? env("PULSING_SEEDS"));
  const http = splitList(args.strings.get("http"));
  if (seeds.length === 0 && http.length === 0) {
    throw new UsageError(`'${command}' needs --seeds host:port (or --http url)`, command);
  }
  if (args.strings.has("seeds") && http.length > 0) {
    throw new UsageError(`give either --seeds or --http, not both`, command);
  }
  for (const s of seeds) {
    try {
      parseAddr(s);
    } catch {
      throw new UsageError(`invalid seed address '${s}' (expected host:port)`, command);
    }
  }
  return {
    seeds: http.length > 0 ? [] : seeds,
    http,
    addr: args.strings.get("addr"),
    passphrase: args.strings.get("passphrase") ?? env("PULSING_PASSPHRASE"),
    token: args.strings.get("token") ?? env("PULSING_TOKEN"),
    timeoutMs: numberOption(args, "timeout", 10_000, command, 1),
    verbose: args.flags.has("verbose"),
  };
}

/**
 * Open access to the cluster as the settings say.
 *
 * @throws {PulsingRuntimeError} `cannot reach any seed (...)` when no seed answers.
 */
export function openAccess(s: AccessSettings): Promise<ClusterAccess> {
  return s.http.length > 0 ? Promise.resolve(gatewayAccess(s)) : joinAsObserver(s);
}

function gatewayAccess(s: AccessSettings): ClusterAccess {
  const client = pul.connect(s.http, { token: s.token, timeout: s.timeoutMs });
  return {
    kind: "gateway",
    members: () => client.members(),
    actors: (all) => client.actors({ all }),
    ref: async (name, nodeId) => pul.refOf(await client.resolve(name, { nodeId })),
    close: () => Promise.resolve(),
  };
}

/**
 * A logger that shows runtime lines only with --verbose (errors always). `onWarn` sees every
 * warning, shown or not.
 */
export function cliLogger(
  verbose: boolean,
  onWarn?: (msg: string) => void,
): (level: LogLevel, msg: string) => void {
  return (level, msg) => {
    if (level === "warn") onWarn?.(msg);
    if (verbose || level === "error") console.error(`[pulsing] ${level.toUpperCase()} ${msg}`);
  };
}

async function joinAsObserver(s: AccessSettings): Promise<ClusterAccess> {
  const loopback = s.seeds.every((a) => isLoopback(parseAddr(a).hostname));
  let connectProblem: string | undefined; // e.g. a TLS handshake refused (wrong passphrase)
  const system = await pul.actorSystem({
    addr: s.addr ?? (loopback ? "127.0.0.1:0" : "0.0.0.0:0"),
    seeds: s.seeds,
    passphrase: s.passphrase,
    logger: cliLogger(s.verbose, (msg) => {
      if (/TLS|handshake|refused|Connection failed/i.test(msg)) connectProblem ??= msg;
    }),
  });
  const self = system.nodeId.value;
  try {
    const others = (await system.members()).filter((m) => m.nodeId !== self);
    if (!others.some((m) => m.status === "alive")) {
      throw new pul.PulsingRuntimeError(
        `cannot reach any seed (${s.seeds.join(", ")})` +
          (connectProblem ? `: ${connectProblem}` : ""),
      );
    }
    await waitForRegistry(system, Date.now() + s.timeoutMs);
  } catch (e) {
    await system.shutdown();
    throw e;
  }
  return {
    kind: "observer",
    system,
    members: async () => (await system.members()).filter((m) => m.nodeId !== self),
    actors: async (all) =>
      (await system.allNamedActors({ includeSystem: true })).filter((a) =>
        all || !isInternalName(a.path)
      ),
    // The registry is in sync: a name that is not there now is not there (no waiting).
    ref: (name, nodeId) => system.resolve(name, { nodeId }),
    close: () => system.shutdown(),
  };
}

/**
 * Wait until this node holds the latest registry version every alive member advertises
 * (names are pulled from each member after the join), or the deadline passes.
 */
async function waitForRegistry(system: ActorSystem, deadline: number): Promise<void> {
  const node = system.cluster as unknown as ClusterNode | undefined;
  if (!node?.swim || !node.registry) return;
  while (Date.now() < deadline) {
    const behind = node.swim.aliveMembers().filter((m) =>
      Number((m.meta as { rv?: number } | undefined)?.rv ?? 0) >
        node.registry.versionOf(m.nodeId)
    );
    if (behind.length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function env(name: string): string | undefined {
  return readEnv(name) || undefined;
}
