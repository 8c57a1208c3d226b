/**
 * Multi-core on one machine: a CPU-bound actor method called by 4 callers, with the actors
 * on this process (baseline), on n subprocess workers (`startWorkers`), and on n Web Workers
 * each running a node — plus the time to start the workers and a small-call round trip.
 * Prints ratios against the baseline measured in the same run.
 *
 * Usage: deno run -A bench/workers_compare.ts [--workers n] [--calls k] [--iters m]
 */
import * as pul from "../mod.ts";
import { startWorkers } from "../cluster/workers.ts";

/** A CPU-bound actor: `burn(m)` spins for m iterations of floating-point work. */
export const Burner = pul.remote(
  class Burner {
    burn(iters: number): number {
      let x = 0;
      for (let i = 0; i < iters; i++) x += Math.sqrt(i) * Math.sin(i);
      return x;
    }
    ping(): number {
      return 1;
    }
  },
  { name: "BenchBurner", module: import.meta.url },
);

// deno-lint-ignore no-explicit-any
const inWebWorker = typeof (globalThis as any).WorkerGlobalScope !== "undefined";

if (inWebWorker) {
  // A Web Worker running a node joined to the parent (the alternative to a subprocess).
  // deno-lint-ignore no-explicit-any
  const self = globalThis as any;
  self.onmessage = async (e: MessageEvent<{ seed?: string; stop?: boolean }>) => {
    if (e.data.stop) {
      await pul.shutdown();
      self.postMessage({ stopped: true });
      self.close();
      return;
    }
    const system = await pul.init({ addr: "127.0.0.1:0", seeds: [e.data.seed!] });
    self.postMessage({ nodeId: system.nodeId.value });
  };
} else if (import.meta.main) {
  await main();
}

function arg(name: string, dflt: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
}

async function run(
  system: pul.ActorSystem,
  placements: string[],
  calls: number,
  iters: number,
): Promise<{ ms: number; pingUs: number }> {
  const actors = await Promise.all(
    [0, 1, 2, 3].map((i) => Burner.spawn({ system, placement: placements[i % placements.length] })),
  );
  await Promise.all(actors.map((a) => a.burn(1000))); // warm up
  const t0 = performance.now();
  await Promise.all(actors.map(async (a) => {
    for (let i = 0; i < calls; i++) await a.burn(iters);
  }));
  const ms = performance.now() - t0;
  const p0 = performance.now();
  for (let i = 0; i < 500; i++) await actors[0].ping();
  const pingUs = (performance.now() - p0) * 1000 / 500;
  return { ms, pingUs };
}

async function main(): Promise<void> {
  const n = arg("workers", navigator.hardwareConcurrency);
  const calls = arg("calls", 20);
  const iters = arg("iters", 2_000_000);
  console.log(`cores ${navigator.hardwareConcurrency}, workers ${n}, 4 callers x ${calls} calls`);

  // Baseline: every actor on this process.
  let system = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  const base = await run(system, ["local"], calls, iters);
  await system.shutdown();
  console.log(
    `in-process        ${base.ms.toFixed(0).padStart(6)} ms  1.00x  ping ${
      base.pingUs.toFixed(0)
    } us (local)`,
  );

  // Subprocess workers.
  system = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  let t = performance.now();
  const pool = await startWorkers(system, n, { modules: [import.meta.url] });
  const subStart = performance.now() - t;
  const sub = await run(system, pool.workers.map((w) => w.nodeId), calls, iters);
  await system.shutdown();
  console.log(
    `subprocesses     ${sub.ms.toFixed(0).padStart(6)} ms  ${(base.ms / sub.ms).toFixed(2)}x  ` +
      `ping ${sub.pingUs.toFixed(0)} us  start ${subStart.toFixed(0)} ms`,
  );

  // Web Workers, each running a node.
  system = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  t = performance.now();
  const workers = Array.from({ length: n }, () => new Worker(import.meta.url, { type: "module" }));
  const ids = await Promise.all(workers.map((w) =>
    new Promise<string>((resolve) => {
      w.onmessage = (e) => resolve(e.data.nodeId);
      w.postMessage({ seed: system.addr });
    })
  ));
  const webStart = performance.now() - t;
  for (let i = 0; i < 100; i++) {
    if ((await system.members()).filter((m) => m.status === "alive").length > n) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const web = await run(system, ids, calls, iters);
  await Promise.all(workers.map((w) =>
    new Promise<void>((resolve) => {
      w.onmessage = () => resolve();
      w.postMessage({ stop: true });
    })
  ));
  await system.shutdown();
  console.log(
    `web workers      ${web.ms.toFixed(0).padStart(6)} ms  ${(base.ms / web.ms).toFixed(2)}x  ` +
      `ping ${web.pingUs.toFixed(0)} us  start ${webStart.toFixed(0)} ms`,
  );
}
