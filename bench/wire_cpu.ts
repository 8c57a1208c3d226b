/**
 * CPU per remote ask, both sides together: two nodes in one process talking over loopback TCP
 * (the default transport), `--inflight` asks kept in flight through a `pul.remote` proxy, for
 * `--ms` milliseconds. Prints asks/s and the process's CPU µs per ask (all threads: JS, I/O,
 * GC). One process means one event loop does both sides' work, so this is not a throughput
 * figure (`bench/compare.ts` is); it is a stable measure of per-message work for A/B runs,
 * much less sensitive to other load on the machine than msgs/s.
 *
 * ```sh
 * deno run -A bench/wire_cpu.ts [--inflight 64] [--ms 3000] [--payload tiny|1m] [--lend]
 * ```
 *
 * @module
 */

import { Echo, LentEcho, TINY } from "./pulsing_node.ts";
import { ActorSystem } from "../core/system.ts";
import { startClusterNode } from "../cluster/node.ts";
import { parseFlags } from "./_workload.ts";
import { receivePool } from "../cluster/rpc.ts";
import { args, cpuMicros, exit, printJson } from "./_rt.ts";

const f = parseFlags(args());
const inflight = Number(f.inflight ?? 64);
const ms = Number(f.ms ?? 3000);
const big = f.payload === "1m";
const lend = !!f.lend;

const a = new ActorSystem();
const na = await startClusterNode(a, { addr: "127.0.0.1:0" });
const b = new ActorSystem();
await startClusterNode(b, { addr: "127.0.0.1:0", seeds: [na.addr] });
await Echo.spawn({ name: "wire-cpu-echo", system: a });
await LentEcho.spawn({ name: "wire-cpu-lent", system: a });
const echo = await Echo.resolve("wire-cpu-echo", { system: b, timeout: 5000 });
const lent = await LentEcho.resolve("wire-cpu-lent", { system: b, timeout: 5000 });

const BIG = new Uint8Array(1 << 20);
let done = 0;
let stop = false;
const loop = async () => {
  while (!stop) {
    if (big) await (lend ? lent : echo).ack(BIG);
    else await echo.echo(TINY);
    done++;
  }
};
const loops = Array.from({ length: big ? 1 : inflight }, loop);
await new Promise((r) => setTimeout(r, 500));
const d0 = done;
const c0 = cpuMicros();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, ms));
const n = done - d0;
const c1 = cpuMicros();
const t1 = performance.now();
stop = true;
await Promise.all(loops);
const cpu = c1 - c0;
printJson({
  kind: "wire_cpu",
  metrics: {
    asks_per_s: n / ((t1 - t0) / 1000),
    cpu_us_per_ask: cpu / n,
    pool_reused: receivePool.reused,
  },
});
await Promise.race([
  Promise.all([b.shutdown(), a.shutdown()]),
  new Promise((r) => setTimeout(r, 300)),
]);
exit(0);
