/**
 * In-process costs of the core, each against a baseline measured in the same run:
 *
 * - group "call": a plain `await obj.method()` (baseline) vs. a raw `ref.ask`, a proxy call of
 *   a sync method and a proxy call of an async method. Target: a proxy call ≤ 4× the plain call.
 * - group "stream": 100k small items through a plain async generator (baseline) vs. through an
 *   `ActorStream` returned by a proxy.
 * - group "spawn": 1k anonymous actors vs. 1k named `pul.remote` actors (memory of 100k actors
 *   is measured by `bench/spawn_100k.ts`).
 *
 * Run: `deno bench -A bench/local_ask_bench.ts`.
 *
 * @module
 */

import * as pul from "../mod.ts";

class Counter {
  value = 0;
  incr(): number {
    return ++this.value;
  }
  async incrAsync(): Promise<number> {
    await Promise.resolve();
    return ++this.value;
  }
  async *items(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
}

const system = await pul.actorSystem();
const Remote = pul.remote(Counter);
const proxy = await Remote.spawn({ system, name: "bench/counter" });
const ref = await system.spawn({ receive: (n: unknown) => (n as number) + 1 });
const plain = new Counter();

const ITEMS = 100_000;

Deno.bench("plain await obj.method()", { group: "call", baseline: true }, async () => {
  await plain.incr();
});
Deno.bench("ref.ask (raw actor)", { group: "call" }, async () => {
  await ref.ask(1);
});
Deno.bench("proxy sync method", { group: "call" }, async () => {
  await proxy.incr();
});
Deno.bench("plain await obj.asyncMethod()", { group: "call-async", baseline: true }, async () => {
  await plain.incrAsync();
});
Deno.bench("proxy async method", { group: "call-async" }, async () => {
  await proxy.incrAsync();
});

Deno.bench(
  "plain async generator, 100k items",
  { group: "stream", baseline: true, n: 20 },
  async () => {
    let sum = 0;
    for await (const x of plain.items(ITEMS)) sum += x;
    if (sum !== (ITEMS * (ITEMS - 1)) / 2) throw new Error("lost items");
  },
);
Deno.bench("ActorStream via proxy, 100k items", { group: "stream", n: 20 }, async () => {
  let sum = 0;
  for await (const x of proxy.items(ITEMS)) sum += x;
  if (sum !== (ITEMS * (ITEMS - 1)) / 2) throw new Error("lost items");
});

Deno.bench(
  "spawn 1k anonymous raw actors",
  { group: "spawn", baseline: true, n: 50 },
  async (b) => {
    const s = new pul.ActorSystem();
    b.start();
    for (let i = 0; i < 1_000; i++) await s.spawn({ receive: () => 0 });
    b.end();
    await s.shutdown();
  },
);
Deno.bench("spawn 1k named pul.remote actors", { group: "spawn", n: 50 }, async (b) => {
  const s = new pul.ActorSystem();
  b.start();
  for (let i = 0; i < 1_000; i++) await Remote.spawn({ system: s, name: `c${i}` });
  b.end();
  await s.shutdown();
});

globalThis.addEventListener("unload", () => void system.shutdown());
