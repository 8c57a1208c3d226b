/**
 * `pulsing inspect members|actors|metrics`: look at a running cluster.
 *
 * Where the figures come from:
 * - `members` and `actors`: the observer's view after joining (SWIM membership and the
 *   replicated name registry), or the gateway's `/cluster/members` and `/actors` with `--http`.
 * - `metrics` with `--seeds`: a probe actor (`cli/node_stats.ts`) is placed on each alive
 *   node, asked once for its actor count and the messages handled by its named actors, and
 *   stops itself. A node that cannot host it (cannot load the module, no global system) is
 *   shown from the registry: its named actors, no message counts (`-`).
 * - `metrics` with `--http url[,url]`: each gateway's `/metrics` is read (one row per gateway
 *   node: `pulsing_actors`, `pulsing_named_actors`, sum of `pulsing_actor_messages_total`,
 *   sum of `pulsing_actor_mailbox_depth`).
 *
 * @module
 */

import * as pul from "../mod.ts";
import type { MemberInfo, NamedActorInfo } from "../core/system.ts";
import { type OptionSpecs, parseArgs } from "./args.ts";
import {
  ACCESS_HELP,
  ACCESS_OPTIONS,
  type AccessSettings,
  accessSettings,
  type ClusterAccess,
  openAccess,
} from "./cluster_access.ts";
import { UsageError } from "./errors.ts";
import { NodeStats, type NodeStatsSnapshot } from "./node_stats.ts";
import { parsePrometheus, sumOf } from "./prometheus.ts";
import { renderTable } from "./table.ts";

/** `pulsing inspect --help`. */
export const INSPECT_HELP: string =
  `Usage: pulsing inspect <members|actors|metrics> --seeds host:port[,host:port] [options]

Look at a running cluster.
  members   nodes with their address and state (left nodes only with --all)
  actors    named actors: path, instances, nodes, class (system ones only with --all)
  metrics   per node: actors, named actors, messages handled, mailbox depth

Options:
  --json              print JSON instead of a table
  --all               include left members / system actors
  --filter text       actors: only paths containing text
${ACCESS_HELP}

Examples:
  pulsing inspect members --seeds 127.0.0.1:7000
  pulsing inspect actors --seeds 10.0.0.1:7000,10.0.0.2:7000 --json
  pulsing inspect metrics --http http://127.0.0.1:8080`;

const OPTIONS: OptionSpecs = {
  ...ACCESS_OPTIONS,
  json: { type: "boolean" },
  all: { type: "boolean" },
  filter: { type: "string" },
  help: { type: "boolean", short: "h" },
};

const SUBCOMMANDS = ["members", "actors", "metrics"];

/**
 * Run `inspect` with the arguments after the command name.
 *
 * @returns The exit code.
 * @throws {UsageError} on a bad command line.
 */
export async function runInspect(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, OPTIONS, "inspect");
  if (args.flags.has("help")) {
    console.log(INSPECT_HELP);
    return 0;
  }
  const sub = args.positionals[0];
  if (sub === undefined) {
    throw new UsageError(`'inspect' needs a subcommand: ${SUBCOMMANDS.join(", ")}`, "inspect");
  }
  if (!SUBCOMMANDS.includes(sub)) {
    throw new UsageError(
      `unknown subcommand 'inspect ${sub}' (expected ${SUBCOMMANDS.join(", ")})`,
      "inspect",
    );
  }
  if (args.positionals.length > 1) {
    throw new UsageError(`unexpected argument '${args.positionals[1]}'`, "inspect");
  }
  const settings = accessSettings(args, "inspect");
  const json = args.flags.has("json");
  const all = args.flags.has("all");
  const access = await openAccess(settings);
  try {
    if (sub === "members") printMembers(await access.members(), json, all);
    else if (sub === "actors") {
      let actors = await access.actors(all);
      const f = args.strings.get("filter");
      if (f !== undefined) actors = actors.filter((a) => a.path.includes(f));
      printActors(actors, json);
    } else printMetrics(await collectMetrics(access, settings), json);
  } finally {
    await access.close();
  }
  return 0;
}

const STATE_ORDER: Record<string, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

function printMembers(members: MemberInfo[], json: boolean, all: boolean): void {
  const shown = members
    .filter((m) => all || m.status !== "left")
    .sort((a, b) =>
      (STATE_ORDER[a.status] ?? 9) - (STATE_ORDER[b.status] ?? 9) || a.addr.localeCompare(b.addr)
    );
  if (json) {
    console.log(JSON.stringify(shown, null, 2));
    return;
  }
  const lines = renderTable(
    ["NODE ID", "ADDRESS", "STATUS"],
    shown.map((m) => [m.nodeId, m.addr, m.status]),
  );
  const counts = new Map<string, number>();
  for (const m of shown) counts.set(m.status, (counts.get(m.status) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(", ");
  lines.push("", `${shown.length} member(s)${summary ? `: ${summary}` : ""}`);
  console.log(lines.join("\n"));
}

function nodeLabel(i: { nodeId: string; addr?: string }): string {
  return i.addr || i.nodeId.slice(0, 8);
}

function printActors(actors: NamedActorInfo[], json: boolean): void {
  const sorted = [...actors].sort((a, b) => a.path.localeCompare(b.path));
  if (json) {
    console.log(JSON.stringify(sorted, null, 2));
    return;
  }
  if (sorted.length === 0) {
    console.log("No actors found.");
    return;
  }
  const rows = sorted.map((a) => {
    const classes = [...new Set(a.instances.map((i) => i.metadata?.class).filter((c) => c))];
    return [
      a.path,
      String(a.instanceCount),
      [...new Set(a.instances.map(nodeLabel))].join(","),
      classes.join(",") || "-",
    ];
  });
  const lines = renderTable(["PATH", "INSTANCES", "NODES", "CLASS"], rows, [
    "left",
    "right",
    "left",
    "left",
  ]);
  const instances = sorted.reduce((n, a) => n + a.instanceCount, 0);
  const nodes = new Set(sorted.flatMap((a) => a.instances.map((i) => i.nodeId)));
  lines.push(
    "",
    `${sorted.length} actor(s), ${instances} instance(s) across ${nodes.size} node(s)`,
  );
  console.log(lines.join("\n"));
}

/** One row of `inspect metrics`. */
export interface NodeMetricsRow {
  /** The node's id. */
  nodeId: string;
  /** Its address. */
  addr: string;
  /** Where the figures come from. */
  source: "probe" | "registry" | "gateway";
  /** Actors on the node (null when unknown). */
  actors: number | null;
  /** Named actors on the node. */
  named: number;
  /** Messages handled by its named actors (null when unknown). */
  messages: number | null;
  /** Messages queued in its named actors (null when unknown). */
  mailbox: number | null;
  /** Why the probe failed, for a registry row. */
  error?: string;
}

async function collectMetrics(
  access: ClusterAccess,
  s: AccessSettings,
): Promise<NodeMetricsRow[]> {
  if (access.kind === "gateway") return await Promise.all(s.http.map((u) => scrape(u, s)));
  const system = access.system!;
  const members = (await access.members()).filter((m) => m.status === "alive");
  const actors = await access.actors(true);
  const namedOn = (nodeId: string) =>
    actors.filter((a) => !isProbe(a.path) && a.instances.some((i) => i.nodeId === nodeId)).length;
  return await Promise.all(members.map(async (m): Promise<NodeMetricsRow> => {
    const name = `pulsing/_stats_${crypto.randomUUID().slice(0, 8)}`;
    try {
      const probe = await NodeStats.spawn({ name, placement: m.nodeId, system });
      const snap = await pul.refOf(probe).call("snapshot", [], {
        timeout: s.timeoutMs,
      }) as NodeStatsSnapshot;
      return {
        nodeId: m.nodeId,
        addr: m.addr,
        source: "probe",
        actors: snap.actors,
        named: snap.named,
        messages: snap.messages,
        mailbox: snap.mailbox,
      };
    } catch (e) {
      return {
        nodeId: m.nodeId,
        addr: m.addr,
        source: "registry",
        actors: null,
        named: namedOn(m.nodeId),
        messages: null,
        mailbox: null,
        error: (e as Error)?.message ?? String(e),
      };
    }
  }));
}

function isProbe(path: string): boolean {
  return path.startsWith("pulsing/_stats_");
}

async function scrape(url: string, s: AccessSettings): Promise<NodeMetricsRow> {
  const headers: Record<string, string> = {};
  if (s.token) headers.authorization = `Bearer ${s.token}`;
  const res = await fetch(new URL("/metrics", url), {
    headers,
    signal: AbortSignal.timeout(s.timeoutMs),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new pul.PulsingRuntimeError(`GET ${url}/metrics answered ${res.status}`);
  }
  const samples = parsePrometheus(await res.text());
  const info = samples.find((x) => x.name === "pulsing_node_info")?.labels ?? {};
  return {
    nodeId: info.node_id ?? "?",
    addr: info.addr ?? url,
    source: "gateway",
    actors: sumOf(samples, "pulsing_actors"),
    named: sumOf(samples, "pulsing_named_actors"),
    messages: sumOf(samples, "pulsing_actor_messages_total"),
    mailbox: sumOf(samples, "pulsing_actor_mailbox_depth"),
  };
}

function printMetrics(rows: NodeMetricsRow[], json: boolean): void {
  rows.sort((a, b) => a.addr.localeCompare(b.addr));
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const n = (v: number | null) => v === null ? "-" : String(v);
  const lines = renderTable(
    ["NODE ID", "ADDRESS", "ACTORS", "NAMED", "MESSAGES", "MAILBOX", "SOURCE"],
    rows.map((r) => [
      r.nodeId.slice(0, 8),
      r.addr,
      n(r.actors),
      String(r.named),
      n(r.messages),
      n(r.mailbox),
      r.source,
    ]),
    ["left", "left", "right", "right", "right", "right", "left"],
  );
  const total = (k: "actors" | "messages") => rows.reduce((t, r) => t + (r[k] ?? 0), 0);
  lines.push(
    "",
    `${rows.length} node(s): ${total("actors")} actors, ${total("messages")} messages`,
  );
  const fallback = rows.filter((r) => r.source === "registry");
  if (fallback.length > 0) {
    lines.push(
      `note: ${fallback.length} node(s) could not host the stats probe; named actors from the ` +
        `registry only (${fallback[0].error})`,
    );
  }
  console.log(lines.join("\n"));
}
