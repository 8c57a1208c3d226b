/**
 * The "local" figure of `bench/compare.ts`: an in-process call through a `pul.remote` proxy
 * against a plain `await obj.asyncMethod()` on the same class, in the same process, timed
 * over long loops with no per-call timer (ns per call).
 *
 * Five rounds of (plain × N, proxy × N) after a warm-up, interleaved so that both see the same
 * JIT and GC state; each figure is the median of its rounds. Prints one line:
 * `{"kind":"local","metrics":{"call_ns":<proxy>,"plain_ns":<plain>,"ratio":<proxy ÷ plain>}}`.
 * With `--plain` only the plain call is measured (`call_ns` = plain: the floor column).
 *
 * Runs on Deno (`deno run -A bench/local_compare.ts [--n 200000]`) and, bundled against the
 * npm build, on Node.
 *
 * @module
 */

import * as pul from "../mod.ts";
import { args, exit, printJson, runtimeVersion } from "./_rt.ts";
import { median } from "./_stats.ts";
import { parseFlags } from "./_workload.ts";

class Counter {
  value = 0;
  // deno-lint-ignore require-await
  async incr(): Promise<number> {
    return ++this.value;
  }
}

const Remote = pul.remote(Counter, { name: "BenchLocalCounter" });

async function loop(f: () => Promise<number>, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  return ((performance.now() - t0) * 1e6) / n;
}

async function main(): Promise<void> {
  const f = parseFlags(args());
  const n = Number(f.n ?? 200_000);
  const rounds = Number(f.rounds ?? 5);
  const plainOnly = !!f.plain;
  const plain = new Counter();
  const plainCall = () => plain.incr();
  let proxyCall = plainCall;
  if (!plainOnly) {
    await pul.init();
    const proxy = await Remote.spawn();
    proxyCall = () => proxy.incr();
  }
  await loop(plainCall, n / 4);
  await loop(proxyCall, n / 4);
  const p: number[] = [], x: number[] = [];
  for (let r = 0; r < rounds; r++) {
    p.push(await loop(plainCall, n));
    if (!plainOnly) x.push(await loop(proxyCall, n));
  }
  const plainNs = median(p);
  const callNs = plainOnly ? plainNs : median(x);
  printJson({
    kind: "local",
    runtime: runtimeVersion,
    metrics: { call_ns: callNs, plain_ns: plainNs, ratio: callNs / plainNs },
    rounds: { plain: p, proxy: x },
  });
  if (!plainOnly) await Promise.race([pul.shutdown(), new Promise((r) => setTimeout(r, 500))]);
  exit(0);
}

await main();
