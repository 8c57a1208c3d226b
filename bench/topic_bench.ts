/**
 * Pub/sub across two processes on 127.0.0.1: 4 publishers in process P (each awaiting its
 * `fire_and_forget` publishes) and 1 or 10 subscribers in process S; messages/s delivered =
 * callback invocations summed over the subscribers ÷ the time from the first publish to the
 * last delivery. Two layouts, the broker being pinned on one side:
 *
 * - broker on S (with the subscribers): each publish is a remote ask, the pulls are local;
 * - broker on P (with the publishers): the publishes are local, each subscriber pulls over
 *   the network (up to 256 messages per pull).
 *
 * Baseline in the same run: raw remote asks/s from P to an echo actor on S (`pul.remote`
 * class) with 4 in flight, like the 4 publishers; every figure is printed with its ratio to it.
 *
 * ```sh
 * deno run -A bench/topic_bench.ts                 # 3 repetitions, ~15 s
 * deno run -A bench/topic_bench.ts --reps 1        # quicker
 * ```
 *
 * @module
 */

import { type NodeProc, startNode, waitMembers } from "../tests/_cluster.ts";

const TOPIC = new URL("../topic/mod.ts", import.meta.url).href;
const PUBLISHERS = 4;

/** One delivery run as measured. */
interface Run {
  published: number;
  delivered: number;
  publishMs: number;
  deliverMs: number;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US").padStart(10);
}

/** Pin the broker of `name` on `node`, start `subs` subscribers on `s` expecting `total`. */
async function prepare(
  node: NodeProc,
  s: NodeProc,
  name: string,
  subs: number,
  total: number,
): Promise<void> {
  await node.run(
    `const topic = await import(${JSON.stringify(TOPIC)});
    await topic.TopicBrokerActor.spawn({ system, name: "topics/${name}/broker", args: [${
      JSON.stringify(name)
    }] });
    return true;`,
  );
  await s.run(
    `const topic = await import(${JSON.stringify(TOPIC)});
    const g = globalThis;
    g.count = 0;
    g.doneAt = 0;
    g.readers = [];
    for (let k = 0; k < ${subs}; k++) {
      const r = await topic.read(${JSON.stringify(name)}, {
        system, readerId: "s" + k, brokerBufferSize: ${total + 16}, bufferSize: 4096,
      });
      r.onMessage(() => { if (++g.count === ${total * subs}) g.doneAt = Date.now(); });
      await r.start();
      g.readers.push(r);
    }
    return true;`,
  );
}

/** Publish `total` messages from P, wait for S to have them all (bounded). */
async function deliver(
  p: NodeProc,
  s: NodeProc,
  name: string,
  total: number,
): Promise<Run> {
  const sent = await p.run<{ t0: number; t1: number }>(
    `const topic = await import(${JSON.stringify(TOPIC)});
    const writers = await Promise.all(Array.from({ length: ${PUBLISHERS} }, (_, w) =>
      topic.write(${JSON.stringify(name)}, { system, writerId: "w" + w })));
    const t0 = Date.now();
    await Promise.all(writers.map(async (writer, w) => {
      for (let i = 0; i < ${
      total / PUBLISHERS
    }; i++) await writer.publish({ w, i, pad: "0123456789abcdef" });
    }));
    return { t0, t1: Date.now() };`,
    120_000,
  );
  const got = await s.run<{ count: number; doneAt: number }>(
    `const g = globalThis;
    const end = Date.now() + 30_000;
    while (!g.doneAt && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    const out = { count: g.count, doneAt: g.doneAt || Date.now() };
    await Promise.all(g.readers.map((r) => r.stop()));
    return out;`,
    60_000,
  );
  return {
    published: total,
    delivered: got.count,
    publishMs: sent.t1 - sent.t0,
    deliverMs: got.doneAt - sent.t0,
  };
}

async function main(): Promise<void> {
  const at = Deno.args.indexOf("--reps");
  const reps = at >= 0 ? Number(Deno.args[at + 1]) : 3;
  const nodes: NodeProc[] = [];
  try {
    const s = await startNode();
    nodes.push(s);
    const p = await startNode({ seeds: [s.addr] });
    nodes.push(p);
    await waitMembers(nodes, 2);
    await s.run(`await Counter.spawn({ system, name: "bench/echo" }); return true;`);
    const raw: number[] = [];
    const cases = [
      { layout: "broker on S", host: s, subs: 1, total: 60_000 },
      { layout: "broker on S", host: s, subs: 10, total: 24_000 },
      { layout: "broker on P", host: p, subs: 1, total: 60_000 },
      { layout: "broker on P", host: p, subs: 10, total: 24_000 },
    ];
    const runs: Run[][] = cases.map(() => []);
    for (let rep = 0; rep < reps; rep++) {
      raw.push(
        await p.run<number>(
          `const echo = await system.resolve("bench/echo", { timeout: 5000 });
          const msg = { w: 0, i: 0, pad: "0123456789abcdef" };
          let n = 0;
          const t0 = performance.now();
          const end = t0 + 1000;
          await Promise.all(Array.from({ length: ${PUBLISHERS} }, async () => {
            while (performance.now() < end) {
              await echo.call("echo", [msg]);
              n++;
            }
          }));
          return n / ((performance.now() - t0) / 1000);`,
        ),
      );
      for (const [k, c] of cases.entries()) {
        const name = `tbench_${k}_${rep}`;
        await prepare(c.host, s, name, c.subs, c.total);
        runs[k].push(await deliver(p, s, name, c.total));
      }
    }
    const base = median(raw);
    console.log(
      `topic across two processes: ${PUBLISHERS} publishers in P (fire_and_forget, each awaited), ` +
        `subscribers in S; median of ${reps}`,
    );
    console.log(`${"raw remote ask (echo), 4 in flight".padEnd(52)} ${fmt(base)} asks/s`);
    for (const [k, c] of cases.entries()) {
      const r = runs[k];
      const lost = r.some((x) => x.delivered < x.published * c.subs);
      const deliveredPerS = median(r.map((x) => x.delivered / (x.deliverMs / 1000)));
      const publishPerS = median(r.map((x) => x.published / (x.publishMs / 1000)));
      const label = `${c.layout}, ${c.subs} subscriber${c.subs > 1 ? "s" : ""}`;
      console.log(
        `${(label + ": delivered").padEnd(52)} ${fmt(deliveredPerS)} msg/s  ${
          (deliveredPerS / base).toFixed(2).padStart(6)
        }× raw asks${lost ? "  (some messages were not delivered!)" : ""}`,
      );
      console.log(
        `${(label + ": published").padEnd(52)} ${fmt(publishPerS)} msg/s  ${
          (publishPerS / base).toFixed(2).padStart(6)
        }× raw asks`,
      );
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

if (import.meta.main) await main();
