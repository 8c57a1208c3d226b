/**
 * Heap bytes allocated per remote ask, both sides together, against a raw Deno TCP round trip in
 * the same process: two nodes in one process, sequential tiny asks through a `pul.remote` proxy,
 * then the same number of round trips of a 40-byte message over a plain `Deno.connect` echo.
 *
 * The young generation is made big enough that no garbage collection runs during a measured
 * window, so the growth of `heapUsed` over the window is what was allocated. A stable figure for
 * A/B work on the per-message path (garbage is what makes scavenges, and scavenges are part of
 * the p99); CPU per ask is `bench/wire_cpu.ts`'s.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc,--min-semi-space-size=128,--max-semi-space-size=128 \
 *   bench/alloc_ask.ts [--asks 4000]
 * ```
 *
 * Prints one line: `{"kind":"alloc_ask","metrics":{"pulsing_bytes_per_ask","raw_bytes_per_rtt"}}`.
 * To see where the bytes come from, run it under `--inspect` and take a sampling heap profile.
 *
 * @module
 */

import { Echo, TINY } from "./pulsing_node.ts";
import { ActorSystem } from "../core/system.ts";
import { startClusterNode } from "../cluster/node.ts";
import { parseFlags } from "./_workload.ts";
import { args, exit, printJson } from "./_rt.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error(
    "run with --v8-flags=--expose-gc,--min-semi-space-size=128,--max-semi-space-size=128",
  );
  exit(2);
}

/** Heap growth per call of `one`, over `n` calls after a full GC. */
async function perCall(n: number, one: () => Promise<unknown>): Promise<number> {
  gc!();
  gc!();
  const h0 = Deno.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) await one();
  return (Deno.memoryUsage().heapUsed - h0) / n;
}

const f = parseFlags(args());
const n = Number(f.asks ?? 4000);

// pulsing: two nodes, one process
const a = new ActorSystem();
const na = await startClusterNode(a, { addr: "127.0.0.1:0" });
const b = new ActorSystem();
const nb = await startClusterNode(b, { addr: "127.0.0.1:0", seeds: [na.addr] });
await Echo.spawn({ name: "alloc-ask", system: a });
const echo = await Echo.resolve("alloc-ask", { system: b, timeout: 5000 });
const ask = () => echo.echo(TINY);
for (let i = 0; i < 20_000; i++) await ask(); // warm-up: JIT, buffers grown
const pulsing = await perCall(n, ask);
await nb.shutdown();
await na.shutdown();

// raw: a 40-byte message echoed over plain Deno TCP
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const served = (async () => {
  const c = await listener.accept();
  c.setNoDelay(true);
  const buf = new Uint8Array(65536);
  try {
    while (true) {
      const got = await c.read(buf);
      if (got === null) break;
      await c.write(buf.subarray(0, got));
    }
  } catch { /* closed */ }
  c.close();
})();
const conn = await Deno.connect({
  hostname: "127.0.0.1",
  port: (listener.addr as Deno.NetAddr).port,
});
conn.setNoDelay(true);
const msg = new Uint8Array(40);
const rb = new Uint8Array(65536);
const rtt = async () => {
  await conn.write(msg);
  let got = 0;
  while (got < msg.length) got += (await conn.read(rb)) ?? msg.length;
};
for (let i = 0; i < 20_000; i++) await rtt();
const raw = await perCall(n, rtt);
conn.close();
listener.close();
await served;

printJson({
  kind: "alloc_ask",
  metrics: { pulsing_bytes_per_ask: Math.round(pulsing), raw_bytes_per_rtt: Math.round(raw) },
});
