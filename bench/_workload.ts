/**
 * The workload of the cross-process benchmark suite: which figures exist, their parameters
 * (identical for every target) and the shape of the JSON lines a client process prints.
 *
 * @module
 */

/** One measured workload. A client process runs one or more of these in order. */
export type Kind = "pingpong" | "pipeline" | "bulk1m" | "bulk16m" | "stream";

/**
 * Figures the orchestrator measures with dedicated processes: join time, failure detection
 * (`kill -9` / `kill -STOP`), local call cost and memory of idle actors.
 */
export type OrchestratedKind = "join" | "fail_kill" | "fail_stop" | "local" | "memory";

/**
 * Short streams after the 100k-item one: the first-item figure is the median of their first-item
 * times (one sample, the 100k stream's, is at the mercy of a GC or a scheduler tick).
 */
export const SHORT_STREAMS = 21;
/** Items of each short stream. */
export const SHORT_STREAM_ITEMS = 10;

/** All client-side kinds, in the order a client runs them. */
export const KINDS: readonly Kind[] = ["pingpong", "pipeline", "bulk1m", "bulk16m", "stream"];

/** Parameters of every workload. Passed to client processes as JSON (`--params`). */
export interface Workload {
  /** (a) tiny requests sent before the measured ping-pong. */
  pingpongWarmup: number;
  /** (a) measured sequential round trips. */
  pingpongIters: number;
  /** (a) tiny payload size for the raw echo, bytes. */
  tinyBytes: number;
  /** (b) requests kept in flight on one connection. */
  pipelineInflight: number;
  /** (b) warm-up time before the measured window, ms. */
  pipelineWarmupMs: number;
  /** (b) measured window, ms. */
  pipelineMs: number;
  /** (c) requests in flight for bulk payloads (1 = sequential asks). */
  bulkInflight: number;
  /** (c) warm-up requests before the measured 1 MiB window. */
  bulkWarmup: number;
  /** (c) warm-up requests before the measured 16 MiB window. */
  bulk16mWarmup: number;
  /** (c) measured window for 1 MiB payloads, ms (at least `bulkMinReqs` requests). */
  bulk1mMs: number;
  /** (c) measured window for 16 MiB payloads, ms (at least `bulkMinReqs` requests). */
  bulk16mMs: number;
  /** (c) minimum measured requests per bulk figure. */
  bulkMinReqs: number;
  /** (d) items in the measured stream. */
  streamItems: number;
  /** (d) items in the warm-up stream. */
  streamWarmupItems: number;
  /** (d) credit window in items; the consumer re-grants when half of it is consumed. */
  streamWindow: number;
  /** Local figure: calls per timed loop (5 interleaved rounds of plain and actor calls). */
  localCalls: number;
  /** Failure detection: how long to wait for each event after the signal, ms. */
  failBoundMs: number;
}

/** Full run: the figures named in issue 9 (20,000 round trips, 100,000 stream items). */
export const FULL_WORKLOAD: Workload = {
  pingpongWarmup: 2000,
  pingpongIters: 20000,
  tinyBytes: 16,
  pipelineInflight: 64,
  pipelineWarmupMs: 500,
  pipelineMs: 2000,
  bulkInflight: 1,
  bulkWarmup: 3,
  bulk16mWarmup: 1,
  bulk1mMs: 2000,
  bulk16mMs: 2000,
  bulkMinReqs: 3,
  streamItems: 100000,
  streamWarmupItems: 20000,
  streamWindow: 256,
  localCalls: 200_000,
  failBoundMs: 15_000,
};

/** `--quick` run (about 30 s in all): same shapes, shorter windows. */
export const QUICK_WORKLOAD: Workload = {
  ...FULL_WORKLOAD,
  pingpongWarmup: 1000,
  pingpongIters: 5000,
  pipelineWarmupMs: 200,
  pipelineMs: 500,
  bulkWarmup: 1,
  bulk1mMs: 500,
  bulk16mMs: 400,
  bulkMinReqs: 1,
  streamWarmupItems: 10000,
  localCalls: 100_000,
  failBoundMs: 3_000,
};

/**
 * What a client prints for one kind: a single JSON line. Metric names end in their unit:
 * `_us`, `_ms`, `_per_s`, `mib_per_s`.
 */
export interface KindResult {
  /** The workload this line belongs to. */
  kind: Kind | OrchestratedKind;
  /** Measured metrics, e.g. `{ p50_us: 48.1, p99_us: 250 }`. */
  metrics?: Record<string, number>;
  /** Set when the target cannot do this workload; the reason is shown in the report. */
  unsupported?: string;
  /** Set when the workload failed. */
  error?: string;
}

/** Parses `--name value` pairs from argv (values are strings; flags without value are "1"). */
export function parseFlags(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) continue;
    const eq = a.indexOf("=");
    if (eq > 0) {
      out[a.slice(2, eq)] = a.slice(eq + 1);
    } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
      out[a.slice(2)] = args[++i];
    } else {
      out[a.slice(2)] = "1";
    }
  }
  return out;
}

/**
 * Defaults an entry point sets before it imports `compare.ts` dynamically (see
 * `remote_bench.ts`): flags (command-line flags override them) and the result file name.
 */
export const COMPARE_DEFAULTS: { flags: Record<string, string>; resultName: string } = {
  flags: {},
  resultName: "compare",
};
