/**
 * `pulsing bench`: a quick latency/throughput probe against a running cluster. `concurrency`
 * callers loop on one method for `seconds`; a progress line updates once per second (stderr),
 * then a report prints (stdout): calls, errors, throughput, latency p50/p90/p99/max.
 *
 * The target is the named actor given by `--name` (method `--method`, default `echo`, called
 * with one string argument of `--payload` bytes), or else an echo actor (`cli/bench_echo.ts`)
 * that the bench places on another node and stops at the end. When no other node can host it
 * the bench says so and measures an actor in its own process.
 *
 * @module
 */

import * as pul from "../mod.ts";
import type { ActorRef } from "../core/actor_ref.ts";
import { numberOption, type OptionSpecs, parseArgs } from "./args.ts";
import {
  ACCESS_HELP,
  ACCESS_OPTIONS,
  accessSettings,
  type ClusterAccess,
  openAccess,
} from "./cluster_access.ts";
import { formatError, UsageError } from "./errors.ts";
import { BenchEcho } from "./bench_echo.ts";
import { stderrIsTerminal, writeStderr } from "./runtime.ts";

/** `pulsing bench --help`. */
export const BENCH_HELP: string = `Usage: pulsing bench --seeds host:port [options]

Measure call latency and throughput against a running cluster. Without --name, an echo actor
is placed on another node for the run and stopped afterwards.

Options:
  --name name         call this named actor instead of a temporary echo actor
  --method m          the method to call (default echo); it gets one string argument
  --payload bytes     size of that string (default 16)
  --seconds s         how long to run (default 5)
  --concurrency n     calls in flight (default 64)
  --json              print the report as JSON
${ACCESS_HELP}

Examples:
  pulsing bench --seeds 127.0.0.1:7000
  pulsing bench --seeds 127.0.0.1:7000 --name counter --method echo --seconds 10 --concurrency 16`;

const OPTIONS: OptionSpecs = {
  ...ACCESS_OPTIONS,
  name: { type: "string" },
  method: { type: "string" },
  payload: { type: "string" },
  seconds: { type: "string" },
  concurrency: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** The bench's result. */
export interface BenchReport {
  /** What was called. */
  target: string;
  /** Where it ran: `"remote"` or `"local"`. */
  placement: "remote" | "local";
  /** The method called. */
  method: string;
  /** Calls in flight. */
  concurrency: number;
  /** Measured duration, in seconds. */
  seconds: number;
  /** Calls that answered. */
  calls: number;
  /** Calls that failed. */
  errors: number;
  /** The first failure, if any. */
  firstError?: string;
  /** Successful calls per second. */
  throughput: number;
  /** Latency percentiles in milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

/**
 * Run `bench` with the arguments after the command name.
 *
 * @returns The exit code (1 when every call failed).
 * @throws {UsageError} on a bad command line.
 */
export async function runBench(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, OPTIONS, "bench");
  if (args.flags.has("help")) {
    console.log(BENCH_HELP);
    return 0;
  }
  if (args.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${args.positionals[0]}'`, "bench");
  }
  const seconds = numberOption(args, "seconds", 5, "bench", 0.1);
  const concurrency = Math.floor(numberOption(args, "concurrency", 64, "bench", 1));
  const payload = "x".repeat(Math.floor(numberOption(args, "payload", 16, "bench", 0)));
  const method = args.strings.get("method") ?? "echo";
  const name = args.strings.get("name");
  const settings = accessSettings(args, "bench");
  if (name === undefined && settings.http.length > 0) {
    throw new UsageError("with --http, give the actor to call with --name", "bench");
  }
  const access = await openAccess(settings);
  let owned: ActorRef | undefined;
  try {
    let ref: ActorRef;
    let placement: "remote" | "local" = "remote";
    if (name !== undefined) {
      ref = await access.ref(name);
      placement = ref.isLocal() ? "local" : "remote";
    } else {
      ({ ref, placement } = await placeEcho(access));
      owned = ref;
    }
    await ref.call(method, [payload], { timeout: settings.timeoutMs }); // fails fast if wrong
    const report = await measure(ref, method, payload, seconds, concurrency, settings.timeoutMs);
    report.target = `${ref.name ?? ref.actorId.value} on node ${ref.nodeId.value.slice(0, 8)}`;
    report.placement = placement;
    printReport(report, args.flags.has("json"));
    if (report.calls === 0) {
      throw new pul.PulsingRuntimeError(`every call failed: ${report.firstError}`);
    }
  } finally {
    if (owned) await owned.call("done", [], { timeout: 2_000 }).catch(() => {});
    await access.close();
  }
  return 0;
}

async function placeEcho(
  access: ClusterAccess,
): Promise<{ ref: ActorRef; placement: "remote" | "local" }> {
  const system = access.system!;
  const name = `pulsing/_bench_${crypto.randomUUID().slice(0, 8)}`;
  try {
    const proxy = await BenchEcho.spawn({ name, placement: "remote", system });
    const ref = pul.refOf(proxy);
    return { ref, placement: ref.isLocal() ? "local" : "remote" };
  } catch (e) {
    console.error(
      `note: no other node could host the echo actor (${formatError(e)}); ` +
        `measuring an actor in this process instead`,
    );
    const proxy = await BenchEcho.spawn({ name, system });
    return { ref: pul.refOf(proxy), placement: "local" };
  }
}

async function measure(
  ref: ActorRef,
  method: string,
  payload: string,
  seconds: number,
  concurrency: number,
  timeoutMs: number,
): Promise<BenchReport> {
  const all = new Samples();
  let window = new Samples();
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + seconds * 1000;
  const tty = stderrIsTerminal();
  let lastLine = "";
  let lastTick = 0;
  const tick = (): void => {
    const elapsed = (performance.now() - start) / 1000;
    const w = window;
    window = new Samples();
    const rate = Math.round(w.length / Math.max(0.001, elapsed - lastTick));
    lastTick = elapsed;
    lastLine = `[${elapsed.toFixed(0).padStart(3)}/${seconds}s] ${all.length} calls  ` +
      `${rate}/s  p50 ${fmtMs(w.quantile(0.5))}  p99 ${fmtMs(w.quantile(0.99))}  ` +
      `errors ${errors}`;
    if (tty) writeStderr(`\r${lastLine.padEnd(78)}`);
    else writeStderr(lastLine + "\n");
  };
  const progress = setInterval(tick, 1000);
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await ref.call(method, [payload], { timeout: timeoutMs });
        const ms = performance.now() - t0;
        all.push(ms);
        window.push(ms);
      } catch (e) {
        errors++;
        firstError ??= formatError(e);
        if (errors > 1000 && all.length === 0) return; // nothing works: stop hammering
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    clearInterval(progress);
    if (window.length > 0 || lastLine === "") tick(); // the last partial second
    if (tty) writeStderr("\n");
  }
  const elapsed = (performance.now() - start) / 1000;
  return {
    target: "",
    placement: "remote",
    method,
    concurrency,
    seconds: round(elapsed, 3),
    calls: all.length,
    errors,
    firstError,
    throughput: round(all.length / elapsed, 1),
    latencyMs: {
      p50: round(all.quantile(0.5), 3),
      p90: round(all.quantile(0.9), 3),
      p99: round(all.quantile(0.99), 3),
      max: round(all.quantile(1), 3),
    },
  };
}

function printReport(r: BenchReport, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return;
  }
  const l = r.latencyMs;
  console.log([
    `target       ${r.target} (${r.placement}), method ${r.method}, concurrency ${r.concurrency}`,
    `calls        ${r.calls} in ${r.seconds.toFixed(2)} s, errors ${r.errors}` +
    (r.firstError ? ` (first: ${r.firstError})` : ""),
    `throughput   ${r.throughput} calls/s`,
    `latency      p50 ${fmtMs(l.p50)}  p90 ${fmtMs(l.p90)}  p99 ${fmtMs(l.p99)}  max ${
      fmtMs(l.max)
    }`,
  ].join("\n"));
}

/** Latency samples in a growable typed array. */
class Samples {
  #a = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.#a.length) {
      const b = new Float64Array(this.#a.length * 2);
      b.set(this.#a);
      this.#a = b;
    }
    this.#a[this.length++] = v;
  }
  quantile(q: number): number {
    if (this.length === 0) return 0;
    const s = this.#a.slice(0, this.length).sort();
    return s[Math.min(this.length - 1, Math.max(0, Math.ceil(q * this.length) - 1))];
  }
}

function fmtMs(ms: number): string {
  return ms >= 100
    ? `${ms.toFixed(0)} ms`
    : ms >= 1
    ? `${ms.toFixed(2)} ms`
    : `${ms.toFixed(3)} ms`;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
