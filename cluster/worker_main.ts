/**
 * The entry of a local worker node started by `startWorkers` (`pul.init({ workers })`): joins
 * its parent node as seed, imports the user's modules (so their `pul.remote` classes are
 * registered here), prints one JSON line `{"pulsingWorker":"ready",...}` on stdout, and stops
 * when its parent does: stdin (a pipe from the parent) reaching its end — which the kernel
 * does for us when the parent dies, even by `kill -9` — or the parent pid changing.
 *
 * Usage (by `startWorkers`, not by hand):
 * `deno run -A worker_main.ts --seed HOST:PORT --addr HOST:0 --parent PID [--module URL]...`
 * with the passphrase, if any, in `PULSING_PASSPHRASE`.
 *
 * @module
 */

import * as pul from "../mod.ts";
import { readEnv } from "../core/log.ts";
import { IS_DENO as isDeno } from "../core/runtime.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const argv: string[] = isDeno ? g.Deno.args : g.process.argv.slice(2);

const seeds: string[] = [];
const modules: string[] = [];
let addr = "127.0.0.1:0";
let parentPid: number | undefined;
for (let i = 0; i < argv.length; i += 2) {
  const [k, v] = [argv[i], argv[i + 1]];
  if (k === "--seed") seeds.push(v);
  else if (k === "--module") modules.push(v);
  else if (k === "--addr") addr = v;
  else if (k === "--parent") parentPid = Number(v);
}

function ppid(): number | undefined {
  try {
    return isDeno ? g.Deno.ppid : g.process.ppid;
  } catch {
    return undefined;
  }
}

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    const force = setTimeout(() => exit(code), 5_000);
    try {
      await pul.shutdown();
    } catch { /* exiting anyway */ }
    clearTimeout(force);
  }
  return exit(code);
}

function exit(code: number): never {
  if (isDeno) g.Deno.exit(code);
  g.process.exit(code);
  throw new Error("unreachable");
}

// Watch the parent before anything else: a parent killed during our start-up must not leave us.
(async () => {
  if (isDeno) {
    const reader = g.Deno.stdin.readable.getReader();
    while (!(await reader.read()).done) { /* the parent never writes; EOF means it is gone */ }
  } else {
    await new Promise<void>((resolve) => {
      g.process.stdin.on("end", resolve);
      g.process.stdin.on("close", resolve);
      g.process.stdin.on("error", resolve);
      g.process.stdin.resume();
    });
  }
  await stop(0);
})().catch(() => stop(0));
if (parentPid !== undefined) {
  const poll = setInterval(() => {
    if (ppid() !== parentPid) {
      clearInterval(poll);
      stop(0);
    }
  }, 1_000);
}

try {
  const system = await pul.init({ addr, seeds, passphrase: readEnv("PULSING_PASSPHRASE") });
  for (const m of modules) await import(m);
  console.log(JSON.stringify({
    pulsingWorker: "ready",
    addr: system.addr,
    nodeId: system.nodeId.value,
    pid: isDeno ? g.Deno.pid : g.process.pid,
  }));
} catch (e) {
  console.error(`[pulsing] ERROR worker failed to start: ${(e as Error)?.stack ?? e}`);
  await stop(1);
}
