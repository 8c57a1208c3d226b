/**
 * A minimal reader of the Prometheus text format, enough for the figures `pulsing inspect
 * metrics --http` shows.
 *
 * @module
 */

/** One sample: metric name, labels, value. */
export interface Sample {
  /** Metric name. */
  name: string;
  /** Label values by label name. */
  labels: Record<string, string>;
  /** The value. */
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parse exposition text into samples (comments and malformed lines skipped).
 *
 * @example
 * ```ts
 * import { parsePrometheus } from "./prometheus.ts";
 * const s = parsePrometheus('# HELP x y\nm{a="1"} 3\nn 4');
 * console.log(s[0].labels.a, s[1].value); // "1" 4
 * ```
 */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) {
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== "NaN") continue; // not a sample line
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/**
 * Sum the values of every sample of a metric.
 *
 * @example
 * ```ts
 * import { parsePrometheus, sumOf } from "./prometheus.ts";
 * console.log(sumOf(parsePrometheus("m{a=\"1\"} 3\nm{a=\"2\"} 4"), "m")); // 7
 * ```
 */
export function sumOf(samples: readonly Sample[], name: string): number {
  let n = 0;
  for (const s of samples) if (s.name === name) n += s.value;
  return n;
}
