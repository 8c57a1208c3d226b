/**
 * SWIM at scale, in the deterministic simulator (`cluster/swim_sim.ts`: the production
 * membership code, virtual time, seeded randomness, 0.2–1 ms links, default timings): for
 * n = 10, 100 and 1000 nodes it measures
 *
 * - the time until every node knows of a crash (kill -9 of a random member; median of a few
 *   seeded runs, and the time of the first "dead" verdict),
 * - false positives at 5% message loss (live nodes declared dead by anyone, over a 60 s
 *   window; plus suspicion episodes per node-minute, the near misses),
 * - messages per node per second with no loss and at 5% loss,
 *
 * then prints whether the scaling targets of the membership issue hold: detection time grows
 * at most logarithmically with n, the per-node message rate stays flat. Verdicts, not
 * assertions. The clusters start formed (see `SwimSim.formed`) so that n = 1000 fits in the
 * time budget; joins are measured by the tests and `bench/join_bench.ts`.
 *
 * Run: deno run -A bench/swim_sim_bench.ts (about 30 s of wall time)
 *
 * @module
 */

import {
  type DetectionResult,
  type FalsePositiveResult,
  measureDetection,
  measureFalsePositives,
  measureMessageRate,
} from "../cluster/swim_sim.ts";
import { DEFAULT_SWIM_CONFIG } from "../cluster/swim.ts";

const SIZES: number[] = [10, 100, 1000];
const RUNS: Record<number, number> = { 10: 7, 100: 5, 1000: 3 };
const LOSS = 0.05;
const WINDOW_MS = 60_000;

interface Row {
  n: number;
  detect: DetectionResult[];
  allMedian: number;
  firstMedian: number;
  fp: FalsePositiveResult;
  rate: number;
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

function s(ms: number): string {
  return (ms / 1000).toFixed(2);
}

const t0 = performance.now();
const rows: Row[] = [];
for (const n of SIZES) {
  const started = performance.now();
  const detect: DetectionResult[] = [];
  for (let i = 0; i < RUNS[n]; i++) {
    detect.push(await measureDetection(n, 1000 * n + i, "crash", {}, "formed"));
  }
  const fp = await measureFalsePositives(n, 7 * n, LOSS, WINDOW_MS, {}, "formed");
  const rate = await measureMessageRate(n, 11 * n, 10_000, 0, {}, "formed");
  const row: Row = {
    n,
    detect,
    allMedian: median(detect.map((d) => d.allMs)),
    firstMedian: median(detect.map((d) => d.firstMs)),
    fp,
    rate,
  };
  rows.push(row);
  console.error(`n=${n} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const c = DEFAULT_SWIM_CONFIG;
console.log(
  `\nSWIM simulator — default timings (period ${c.periodMs} ms, probe timeout ` +
    `${c.probeTimeoutMs} ms, k = ${c.indirectProbes}, suspicion ${c.suspicionMult}·log10(n)·period, ` +
    `up to ×${c.suspicionMaxMult} with one suspecter)\n`,
);
console.log(
  "| n | crash → everyone knows (median, s) | range (s) | first verdict (s) | " +
    "falsely dead @5% loss | suspicions /node/min @5% | msgs /node/s | msgs /node/s @5% |",
);
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const all = r.detect.map((d) => d.allMs);
  console.log(
    `| ${r.n} | ${s(r.allMedian)} | ${s(Math.min(...all))}–${s(Math.max(...all))} | ` +
      `${s(r.firstMedian)} | ${r.fp.falselyDead}/${r.n} (${(100 * r.fp.rate).toFixed(1)}%) | ` +
      `${r.fp.suspicionsPerNodeMin.toFixed(2)} | ${r.rate.toFixed(2)} | ` +
      `${r.fp.msgsPerNodeSec.toFixed(2)} |`,
  );
}

// ---- verdicts on the scaling targets
const [a, b, d] = rows;
const step1 = b.allMedian - a.allMedian;
const step2 = d.allMedian - b.allMedian;
const logRatio = Math.log10(d.n) / Math.log10(a.n); // 3: what pure log growth allows
const growth = d.allMedian / a.allMedian;
const logOk = step2 <= 2 * Math.max(step1, 200) && growth <= logRatio * 1.25;
console.log(
  `\nDetection: ×10 nodes adds ${s(step1)} s, then ${s(step2)} s (linear growth would add ` +
    `~10× more at the second step); n=1000 takes ${growth.toFixed(2)}× n=10 ` +
    `(log10 ratio ${logRatio}). ` +
    `${logOk ? "PASS" : "FAIL"}: grows at most logarithmically.`,
);
const rates = rows.map((r) => r.rate);
const lossRates = rows.map((r) => r.fp.msgsPerNodeSec);
const flat = Math.max(...rates) / Math.min(...rates);
const flatLoss = Math.max(...lossRates) / Math.min(...lossRates);
const flatOk = flat <= 1.25 && flatLoss <= 1.25;
console.log(
  `Per-node message rate: max/min ${flat.toFixed(3)} without loss, ${flatLoss.toFixed(3)} at 5% ` +
    `loss. ${flatOk ? "PASS" : "FAIL"}: flat in n.`,
);
const fpOk = rows.every((r) => r.fp.falselyDead === 0);
console.log(
  `False positives at 5% loss over ${WINDOW_MS / 1000} s: ` +
    `${rows.map((r) => `${r.fp.falselyDead}/${r.n}`).join(", ")}. ${fpOk ? "PASS" : "FAIL"}: none.`,
);
console.log(`\n(wall time ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
