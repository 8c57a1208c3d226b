/**
 * Small statistics and reporting helpers shared by the cross-process benchmark suite.
 *
 * Everything here is dependency-free so that the benchmark processes start fast.
 *
 * @module
 */

/** Summary of one figure over several repetitions. */
export interface RepSummary {
  /** Smallest value seen. */
  min: number;
  /** Median of the values (mean of the two middle values for an even count). */
  median: number;
  /** Largest value seen. */
  max: number;
  /** Every repetition's value, in the order measured. */
  values: number[];
}

/**
 * Percentile by nearest rank over an ascending-sorted array.
 *
 * @param sorted values sorted ascending (not modified)
 * @param p percentile in [0, 100]
 * @returns the value at that rank, or NaN for an empty array
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.ceil((p / 100) * n);
  const idx = Math.min(n - 1, Math.max(0, rank - 1));
  return sorted[idx];
}

/**
 * Percentiles of a latency sample.
 *
 * @param samples raw samples (copied, then sorted)
 * @param ps the percentiles wanted, e.g. `[50, 99]`
 * @returns one value per requested percentile, in the same order
 */
export function percentiles(samples: ArrayLike<number>, ps: readonly number[]): number[] {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  return ps.map((p) => percentileSorted(sorted, p));
}

/**
 * Median of a list of numbers (NaN values are ignored).
 *
 * @param values any numbers
 * @returns the median, or NaN when there is no finite value
 */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * Min / median / max over repetitions.
 *
 * @param values one value per repetition; non-finite values are ignored
 * @returns the summary, or `null` when no repetition produced a finite value
 */
export function summarize(values: readonly number[]): RepSummary | null {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  return { min: Math.min(...v), median: median(v), max: Math.max(...v), values: [...values] };
}

/**
 * Formats a number compactly for a table: `955k`, `1.55M`, `49.0`, `2,216`.
 *
 * @param x the value
 * @param unit optional hint: counts per second use k/M suffixes
 * @returns a short human-readable string, `–` for NaN/undefined
 */
export function fmtNum(x: number | undefined | null, unit = ""): string {
  if (x === undefined || x === null || !Number.isFinite(x)) return "–";
  const perSecond = unit.endsWith("/s") && !unit.startsWith("MiB") && !unit.startsWith("MB");
  if (perSecond) {
    if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
    if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)}k`;
  }
  if (x >= 1000) return Math.round(x).toLocaleString("en-US");
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/**
 * Formats a ratio `a / b` as `1.23×`.
 *
 * @param a numerator
 * @param b denominator
 * @returns e.g. `0.45×`, or `–` when either side is missing or b is 0
 */
export function fmtRatio(a: number | undefined | null, b: number | undefined | null): string {
  if (a === undefined || a === null || b === undefined || b === null) return "–";
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "–";
  const r = a / b;
  if (r >= 100) return `${r.toFixed(0)}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  return `${r.toFixed(2)}×`;
}

/**
 * Formats a summary as `min / **median**` (Markdown bold median).
 *
 * @param s summary or null
 * @param unit unit hint passed to {@link fmtNum}
 * @returns the cell text, or `–`
 */
export function fmtSummary(s: RepSummary | null | undefined, unit = ""): string {
  if (!s) return "–";
  return `${fmtNum(s.min, unit)} / **${fmtNum(s.median, unit)}**`;
}

/** Column alignment for {@link markdownTable}. */
export type Align = "left" | "right";

/**
 * Renders a GitHub-flavoured Markdown table.
 *
 * @param headers column headers
 * @param rows cell texts (pipes are escaped)
 * @param align per-column alignment (default: first column left, others right)
 * @returns the table, one line per row, with a trailing newline
 */
export function markdownTable(headers: string[], rows: string[][], align?: Align[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  const al = align ?? headers.map((_, i) => (i === 0 ? "left" : "right"));
  const lines = [
    `| ${headers.map(esc).join(" | ")} |`,
    `|${al.map((a) => (a === "right" ? "---:" : ":---")).join("|")}|`,
    ...rows.map((r) => `| ${headers.map((_, i) => esc(r[i] ?? "")).join(" | ")} |`),
  ];
  return lines.join("\n") + "\n";
}

/** Directory (repo-root `.bench-out/`, git-ignored) where result files are written. */
export const BENCH_OUT_DIR: URL = new URL("../.bench-out/", import.meta.url);

/**
 * Writes a result file into `.bench-out/` twice: `<name>-<UTC timestamp>.<ext>` and
 * `<name>-latest.<ext>`.
 *
 * @param name base file name, e.g. `compare`
 * @param content JSON-serialisable value (for `.json`) or text
 * @param ext `json` (pretty-printed) or any text extension such as `md`
 * @returns the path of the timestamped file
 */
export async function writeResult(
  name: string,
  content: unknown,
  ext = "json",
): Promise<string> {
  await Deno.mkdir(BENCH_OUT_DIR, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(":", "").replace(/\.\d+Z$/, "Z");
  const text = ext === "json" ? JSON.stringify(content, null, 2) + "\n" : String(content);
  const file = new URL(`${name}-${stamp}.${ext}`, BENCH_OUT_DIR);
  await Deno.writeTextFile(file, text);
  await Deno.writeTextFile(new URL(`${name}-latest.${ext}`, BENCH_OUT_DIR), text);
  return file.pathname;
}

/**
 * Writes a JSON result file into `.bench-out/` (see {@link writeResult}).
 *
 * @param name base file name
 * @param value JSON-serialisable value
 * @returns the path of the timestamped file
 */
export function writeJsonResult(name: string, value: unknown): Promise<string> {
  return writeResult(name, value, "json");
}

/** Absolute wall-clock time in milliseconds with sub-millisecond resolution. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
