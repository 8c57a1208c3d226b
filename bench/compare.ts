/**
 * Cross-process benchmark: our runtime against the physical floor (raw TCP echo) and the
 * closest peer (Moleculer 0.14, TCP transporter), same run, same machine, one table. Columns:
 * `raw`, `moleculer`, `pulsing` (Deno), `pulsing-node` (the npm build on Node 22) and `nact`
 * (local and memory figures only).
 *
 * Figures: remote ask latency, 64 in flight, 1/16 MiB payloads, streaming, join; failure
 * detection (`kill -9` and `kill -STOP` of the server until the caller's pending call fails and
 * the server is marked dead, bounded by `failBoundMs`, 15 s; the `kill -STOP` runs of all
 * targets and repetitions run side by side, since they only wait on timers); local (an
 * in-process proxy call vs a plain async call in the same process; nact's `query`); memory (RSS
 * of a node holding 100,000 idle actors).
 *
 * ```sh
 * deno run -A bench/compare.ts            # full run, 3 repetitions, well under 5 minutes
 * deno run -A bench/compare.ts --quick    # about 30 s
 * ```
 * `--quick` shortens every window, runs one repetition (`--reps` overrides; the join, failure,
 * local and memory figures are then still measured once) and bounds failure detection at 3 s.
 * `--pin` runs servers on CPU 0 and clients on CPU 1 via `taskset` (`--pin 0:1` explicit);
 * without it the scheduler places the processes, which on a 2-vCPU VM makes figures bimodal
 * (same core vs different cores, see peers.md §4.5). Pinning a whole process (GC and I/O
 * threads included) to one CPU gives stable medians but p99 of several ms (timeslice waits).
 * Options: `--reps N` (default 3), `--targets raw,moleculer,pulsing,pulsing-node,nact`,
 * `--with-cbor` (adds Moleculer with the CBOR serializer), `--fresh-moleculer` (re-install the
 * peers), `--skip remote,join,fail,local,memory` (leave groups of figures out).
 *
 * Every repetition uses fresh server and client processes on 127.0.0.1, interleaving the
 * targets. All child processes are tracked and stopped by pid, also on error or Ctrl-C.
 * Results: `.bench-out/compare-<time>.json` and `.md` (plus `compare-latest.*`).
 *
 * @module
 */

import { ProcGroup } from "./_proc.ts";
import {
  fmtNum,
  fmtRatio,
  fmtSummary,
  markdownTable,
  type RepSummary,
  summarize,
  writeResult,
} from "./_stats.ts";
import {
  type FailSignal,
  moleculerTarget,
  nactTarget,
  pulsingNodeTarget,
  pulsingTarget,
  rawTarget,
  type Target,
  type TargetContext,
} from "./_targets.ts";
import {
  COMPARE_DEFAULTS,
  FULL_WORKLOAD,
  type KindResult,
  KINDS,
  parseFlags,
  QUICK_WORKLOAD,
} from "./_workload.ts";

/** One row of the table. */
interface Figure {
  key: string;
  kind: string;
  metric: string;
  label: string;
  unit: string;
  better: "lower" | "higher";
  goal: string;
  /** Whether pulsing meets the goal, from the medians (undefined: no goal or no data). */
  check?: (m: Medians) => boolean | undefined;
  /** Ratio columns make no sense (the figure is itself a ratio). */
  noRatios?: boolean;
  /**
   * The figure of the floor and peer columns (raw, moleculer) when they have no mode of this
   * kind: the lent-bytes row compares with their one 1 MiB figure.
   */
  base?: string;
}

/** Medians of one figure for the three columns the goals refer to. */
interface Medians {
  pulsing?: number;
  raw?: number;
  moleculer?: number;
}

const has = (...xs: (number | undefined)[]) => xs.every((x) => x !== undefined && isFinite(x));

/** Goal "≥ `raw`× the floor and ≥ `peer`× Moleculer" (the peer part only when it ran). */
function atLeast(raw: number, peer: number): (m: Medians) => boolean | undefined {
  return (m) =>
    has(m.pulsing, m.raw)
      ? m.pulsing! >= raw * m.raw! && (!has(m.moleculer) || m.pulsing! >= peer * m.moleculer!)
      : undefined;
}

const FIGURES: Figure[] = [
  fig(
    "pingpong",
    "p50_us",
    "(a) ask p50, sequential, tiny",
    "µs",
    "lower",
    "≤ 1.3× raw",
    (m) => has(m.pulsing, m.raw) ? m.pulsing! <= 1.3 * m.raw! : undefined,
  ),
  fig("pingpong", "p99_us", "(a) ask p99, sequential, tiny", "µs", "lower", ""),
  fig(
    "pipeline",
    "msgs_per_s",
    "(b) 64 in flight, one connection",
    "msg/s",
    "higher",
    "≥ 0.5× raw, ≥ 10× moleculer",
    atLeast(0.5, 10),
  ),
  fig(
    "bulk1m",
    "mib_per_s",
    "(c) 1 MiB request, tiny reply",
    "MiB/s",
    "higher",
    "≥ 0.6× raw, ≥ 20× moleculer",
    atLeast(0.6, 20),
  ),
  {
    ...fig(
      "bulk1m",
      "lent_mib_per_s",
      "(c) 1 MiB request, `lendBytes: true` actor",
      "MiB/s",
      "higher",
      "≥ 0.6× raw, ≥ 20× moleculer",
      atLeast(0.6, 20),
    ),
    base: "bulk1m.mib_per_s",
  },
  fig("bulk16m", "mib_per_s", "(c) 16 MiB request, tiny reply", "MiB/s", "higher", ""),
  fig(
    "stream",
    "items_per_s",
    "(d) stream of 100k small strings",
    "items/s",
    "higher",
    "≥ 500k/s",
    (m) => has(m.pulsing) ? m.pulsing! >= 500_000 : undefined,
  ),
  fig("stream", "ttfi_us", "(d) stream time to first item", "µs", "lower", ""),
  fig(
    "stream",
    "ttfi_short_us",
    "(d) time to first item, median of 21 streams of 10",
    "µs",
    "lower",
    "",
  ),
  fig(
    "join",
    "join_ms",
    "join: fresh process → callable from other",
    "ms",
    "lower",
    "< 100 ms",
    (m) => has(m.pulsing) ? m.pulsing! < 100 : undefined,
  ),
  fig("join", "join_reverse_ms", "join: fresh process → can call other", "ms", "lower", ""),
  fig("fail_kill", "call_failed_ms", "kill -9 of server → pending call fails", "ms", "lower", ""),
  fig("fail_kill", "dead_ms", "kill -9 of server → marked dead", "ms", "lower", ""),
  fig(
    "fail_stop",
    "call_failed_ms",
    "kill -STOP of server → pending call fails",
    "ms",
    "lower",
    "< 5 s",
    (m) => has(m.pulsing) ? m.pulsing! < 5000 : undefined,
  ),
  fig(
    "fail_stop",
    "dead_ms",
    "kill -STOP of server → marked dead",
    "ms",
    "lower",
    "< 5 s (moleculer: never)",
    (m) => has(m.pulsing) ? m.pulsing! < 5000 : undefined,
  ),
  fig("local", "call_ns", "local call, in process (raw: plain async call)", "ns", "lower", ""),
  {
    ...fig(
      "local",
      "ratio",
      "local call ÷ plain async call, same process",
      "×",
      "lower",
      "≤ 4× (nact ~40×)",
      (m) => has(m.pulsing) ? m.pulsing! <= 4 : undefined,
    ),
    noRatios: true,
  },
  fig(
    "memory",
    "rss_mb",
    "memory: RSS of a node with 100k idle actors",
    "MB",
    "lower",
    "< 200 MB",
    (m) => has(m.pulsing) ? m.pulsing! < 200 : undefined,
  ),
  fig("memory", "bytes_per_actor", "memory: RSS growth per idle actor", "B", "lower", ""),
];

/** Figures whose "not seen within the bound" is recorded as Infinity. */
const BOUNDED = new Set(["fail_kill", "fail_stop"]);

function fig(
  kind: string,
  metric: string,
  label: string,
  unit: string,
  better: "lower" | "higher",
  goal: string,
  check?: (m: Medians) => boolean | undefined,
): Figure {
  return { key: `${kind}.${metric}`, kind, metric, label, unit, better, goal, check };
}

const flags = { ...COMPARE_DEFAULTS.flags, ...parseFlags(Deno.args) };
const quick = !!flags.quick;
const reps = Math.max(1, Math.min(10, Number(flags.reps ?? (quick ? 1 : 3))));
const workload = quick ? QUICK_WORKLOAD : FULL_WORKLOAD;
const bound = workload.failBoundMs;
const budgetMs = quick ? 90_000 : 280_000; // hard stop for new work; full run < 5 min
const wanted = (flags.targets ?? "raw,moleculer,pulsing,pulsing-node,nact").split(",")
  .map((s) => s.trim());
const skip = new Set((flags.skip ?? "").split(",").map((s) => s.trim()).filter((s) => s));

const group = new ProcGroup();
const ctx: TargetContext = {
  group,
  workload,
  quick,
  clientTimeoutMs: quick ? 40_000 : 90_000,
  fresh: !!flags["fresh-moleculer"],
  pin: flags.pin ? pinSpec(flags.pin) : undefined,
};

/** `--pin` → server on CPU 0 and client on CPU 1; `--pin 0:1-3` → explicit `taskset` lists. */
function pinSpec(v: string): { server: string; client: string } {
  if (v === "1") return { server: "0", client: "1" };
  const [server, client] = v.split(":");
  if (!server || !client) throw new Error("--pin expects SERVER_CPUS:CLIENT_CPUS, e.g. 0:1");
  return { server, client };
}

let cleaning = false;
async function cleanupAndExit(code: number): Promise<never> {
  if (!cleaning) {
    cleaning = true;
    await group.stopAll();
  }
  Deno.exit(code);
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    console.error(`\n${sig}: stopping child processes ${group.pids.join(", ") || "(none)"}`);
    cleanupAndExit(130);
  });
}

const all: Target[] = [];
for (const name of wanted) {
  if (name === "raw") all.push(rawTarget());
  else if (name === "moleculer") all.push(moleculerTarget("json"));
  else if (name === "moleculer-cbor") all.push(moleculerTarget("cbor"));
  else if (name === "pulsing") all.push(pulsingTarget());
  else if (name === "pulsing-tls") all.push(pulsingTarget(true));
  else if (name === "pulsing-node") all.push(pulsingNodeTarget());
  else if (name === "nact") all.push(nactTarget());
  else {
    console.error(
      `unknown target ${name} (known: raw, moleculer, moleculer-cbor, pulsing, pulsing-tls, pulsing-node, nact)`,
    );
  }
}
if (flags["with-cbor"] && !wanted.includes("moleculer-cbor")) all.push(moleculerTarget("cbor"));

/** Per target: figure key → value per repetition (NaN when missing). */
const values = new Map<string, Map<string, number[]>>();
/** Per target: notes (unsupported kinds, errors, skip reason). */
const notes = new Map<string, Set<string>>();
const unavailable = new Map<string, string>();
const note = (t: string, s: string) => {
  if (!notes.has(t)) notes.set(t, new Set());
  notes.get(t)!.add(s);
};

function record(t: string, rep: number, r: KindResult): void {
  if (r.unsupported) note(t, `${r.kind}: ${r.unsupported}`);
  if (r.error) note(t, `${r.kind} (rep ${rep + 1}): error: ${r.error.slice(0, 300)}`);
  for (const [m, v] of Object.entries(r.metrics ?? {})) {
    const key = `${r.kind}.${m}`;
    const per = values.get(t) ?? new Map<string, number[]>();
    values.set(t, per);
    const arr = per.get(key) ?? [];
    per.set(key, arr);
    arr[rep] = v;
  }
}

const t0 = performance.now();
const log = (s: string) =>
  console.error(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}`);

try {
  const ready: Target[] = [];
  for (const t of all) {
    const why = await t.prepare(ctx);
    if (why) {
      unavailable.set(t.name, why);
      log(`${t.name}: ${why}`);
    } else {
      ready.push(t);
      log(`${t.name}: ${t.description}`);
    }
  }
  let stoppedEarly = false;
  const overBudget = (t: Target, rep: number, what: string) => {
    if (performance.now() - t0 <= budgetMs) return false;
    stoppedEarly = true;
    note(t.name, `time budget reached: ${what} stopped before repetition ${rep + 1}`);
    return true;
  };
  /** `--quick` measures the orchestrated figures in the first repetition only. */
  const once = (t: Target, rep: number, what: string) => {
    if (!quick || rep === 0) return false;
    note(t.name, `${what}: --quick measures it in the first repetition only`);
    return true;
  };
  for (let rep = 0; rep < reps && !stoppedEarly; rep++) {
    for (const t of ready) {
      if (t.startServer && t.runClient && !skip.has("remote")) {
        if (overBudget(t, rep, "remote")) break;
        log(`rep ${rep + 1}/${reps} ${t.name}: server + client`);
        let server;
        try {
          server = await t.startServer(ctx);
          const res = await t.runClient(ctx, server.addr, KINDS);
          for (const r of res) record(t.name, rep, r);
        } catch (e) {
          note(t.name, `rep ${rep + 1}: ${e instanceof Error ? e.message : e}`);
        } finally {
          await server?.stop();
        }
      }
      if (!skip.has("join") && t.startServer) {
        if (once(t, rep, "join")) { /* noted */ }
        else if (t.measureJoin) {
          log(`rep ${rep + 1}/${reps} ${t.name}: join`);
          record(t.name, rep, await t.measureJoin(ctx));
        } else {
          note(t.name, "join: not measured by this target");
        }
      }
      if (!skip.has("fail") && t.measureFailure && !once(t, rep, "kill -9")) {
        log(`rep ${rep + 1}/${reps} ${t.name}: kill -9`);
        record(t.name, rep, await t.measureFailure(ctx, "SIGKILL", bound));
      }
      if (!skip.has("local") && t.measureLocal && !once(t, rep, "local")) {
        log(`rep ${rep + 1}/${reps} ${t.name}: local`);
        record(t.name, rep, await t.measureLocal(ctx));
      }
      if (!skip.has("memory") && t.measureMemory && !once(t, rep, "memory")) {
        log(`rep ${rep + 1}/${reps} ${t.name}: memory`);
        record(t.name, rep, await t.measureMemory(ctx));
      }
    }
  }
  // kill -STOP only waits on the targets' timers (heartbeats, probes, request timeouts) with
  // idle processes: every repetition of every target runs side by side, one bound in all.
  const stoppers = ready.filter((t) => t.measureFailure);
  if (!skip.has("fail") && stoppers.length > 0) {
    const n = quick ? 1 : reps;
    log(
      `kill -STOP: ${n} repetition(s) × ${stoppers.map((t) => t.name).join(", ")} ` +
        `side by side (bound ${bound / 1000} s)`,
    );
    const sig: FailSignal = "SIGSTOP";
    const jobs = stoppers.flatMap((t) =>
      Array.from(
        { length: n },
        (_, rep) => t.measureFailure!(ctx, sig, bound).then((r) => record(t.name, rep, r)),
      )
    );
    await Promise.all(jobs);
  }
} finally {
  await group.stopAll();
}

// ---------------------------------------------------------------------------------------------
// Report

function summaryOf(t: string, key: string): RepSummary | null {
  const arr = values.get(t)?.get(key);
  if (!arr) return null;
  const vs = Array.from({ length: reps }, (_, i) => arr[i] ?? NaN);
  const s = summarize(vs);
  const undetected = vs.filter((v) => v === Infinity).length;
  if (undetected === 0) return s;
  // Not detected within the bound counts as the largest value (medians stay honest).
  const sorted = vs.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: sorted[0], median, max: Infinity, values: vs };
}

/** A table cell: `min / **median**`, or "not detected in 15 s" for bounded figures. */
function cell(t: string, f: Figure): string {
  const s = summaryOf(t, f.key);
  if (!s || !BOUNDED.has(f.kind)) return fmtSummary(s, f.unit);
  const miss = s.values.filter((v) => v === Infinity).length;
  const got = s.values.filter((v) => Number.isFinite(v)).length;
  const none = `not detected in ${bound / 1000} s`;
  if (got === 0) return miss > 0 ? none : "–";
  const fin = summarize(s.values.filter((v) => Number.isFinite(v)));
  return miss > 0 ? `${fmtSummary(fin, f.unit)} (${miss}× ${none})` : fmtSummary(s, f.unit);
}

const names = all.map((t) => t.name);
const med = (t: string, key: string) => summaryOf(t, key)?.median;
const hasNode = names.includes("pulsing-node");
const headers = [
  "figure",
  "unit",
  ...names.map((n) => `${n} min / **med**`),
  "pulsing ÷ raw",
  "pulsing ÷ moleculer",
  ...(hasNode ? ["pulsing-node ÷ raw", "pulsing-node ÷ moleculer"] : []),
  "moleculer ÷ raw",
  "goal (issue 9)",
  hasNode ? "met (deno · node)" : "met",
];
/** Ratio of medians; bounded figures never detected give no ratio. */
const ratio = (f: Figure, a: string, b: string) => {
  if (f.noRatios) return "";
  const x = med(a, f.key), y = med(b, baseKey(f, b));
  if (x === Infinity || y === Infinity) return "–";
  return fmtRatio(x, y);
};
const rows = FIGURES.map((f) => [
  f.label,
  `${f.unit} (${f.better === "lower" ? "↓" : "↑"})`,
  ...names.map((n) => unavailable.has(n) ? "n/a" : cell(n, f)),
  ratio(f, "pulsing", "raw"),
  ratio(f, "pulsing", "moleculer"),
  ...(hasNode ? [ratio(f, "pulsing-node", "raw"), ratio(f, "pulsing-node", "moleculer")] : []),
  ratio(f, "moleculer", "raw"),
  f.goal,
  hasNode ? `${verdict(f)} · ${verdict(f, "pulsing-node")}` : verdict(f),
]);
/** The key of figure `f` in target `t`'s results (the floor and peers may use `f.base`). */
function baseKey(f: Figure, t: string): string {
  return f.base !== undefined && (t === "raw" || t === "moleculer") ? f.base : f.key;
}
function verdict(f: Figure, who = "pulsing"): string {
  if (!f.check) return "";
  const ok = f.check({
    pulsing: med(who, f.key),
    raw: med("raw", baseKey(f, "raw")),
    moleculer: med("moleculer", baseKey(f, "moleculer")),
  });
  return ok === undefined ? "–" : ok ? "yes" : "**no**";
}
const elapsedS = (performance.now() - t0) / 1000;
const machine = `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} CPUs, ` +
  `Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`;

let md = `## Cross-process benchmark (${quick ? "quick" : "full"}, ${reps} repetitions)\n\n`;
md += `${machine}; separate server and client processes on 127.0.0.1; ` +
  `${elapsedS.toFixed(0)} s in all; ` +
  (ctx.pin
    ? `pinned: servers on CPU ${ctx.pin.server}, clients on CPU ${ctx.pin.client}`
    : "not pinned") +
  `. Ratios use medians; ↓ lower is better, ↑ higher.\n\n`;
md += markdownTable(headers, rows, headers.map((_, i) => (i === 0 ? "left" : "right")));
md += "\nTargets:\n";
for (const t of all) {
  md += `- **${t.name}**: ${unavailable.get(t.name) ?? t.description}\n`;
  for (const n of notes.get(t.name) ?? []) md += `  - ${n}\n`;
}
md += `\nWorkload: ${JSON.stringify(workload)}\n`;
md += "\nAll repetitions (per figure, in order):\n";
for (const t of all) {
  if (unavailable.has(t.name)) continue;
  const cells = FIGURES.map((f) => {
    const s = summaryOf(t.name, f.key);
    const fmt = (v: number) => v === Infinity ? "not detected" : fmtNum(v, f.unit);
    return s ? `${f.key}=${s.values.map(fmt).join(", ")}` : null;
  }).filter((x) => x);
  md += `- ${t.name}: ${cells.join("; ")}\n`;
}
console.log(md);

/** JSON has no Infinity: "not detected" instead. */
function jsonSummary(t: string, key: string) {
  const s = summaryOf(t, key);
  if (!s) return null;
  const j = (v: number) => (v === Infinity ? "not detected" : Number.isNaN(v) ? null : v);
  return { min: j(s.min), median: j(s.median), max: j(s.max), values: s.values.map(j) };
}

const json = {
  date: new Date().toISOString(),
  failBoundMs: bound,
  mode: quick ? "quick" : "full",
  pin: ctx.pin ?? null,
  reps,
  elapsedS,
  machine,
  workload,
  targets: all.map((t) => ({
    name: t.name,
    description: t.description,
    unavailable: unavailable.get(t.name) ?? null,
    notes: [...(notes.get(t.name) ?? [])],
    figures: Object.fromEntries(FIGURES.map((f) => [f.key, jsonSummary(t.name, f.key)])),
  })),
  figures: FIGURES.map(({ check: _check, ...f }) => ({
    ...f,
    met: verdict({ ...f, check: _check }),
    ...(hasNode ? { metNode: verdict({ ...f, check: _check }, "pulsing-node") } : {}),
  })),
};
const jsonPath = await writeResult(COMPARE_DEFAULTS.resultName, json, "json");
const mdPath = await writeResult(COMPARE_DEFAULTS.resultName, md, "md");
console.error(`results: ${jsonPath}\n         ${mdPath}`);
if (group.pids.length > 0) console.error(`warning: still running: ${group.pids.join(", ")}`);
Deno.exit(0);
