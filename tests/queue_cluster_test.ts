/**
 * The queue and the topic across three real node processes on 127.0.0.1: buckets spread over
 * the nodes, a writer on A and rank-partitioned readers on B and C read everything exactly
 * once, a topic publish on A reaches subscribers on B and C, and a subscriber whose process
 * dies is evicted without stopping delivery to the others.
 */
import assert from "node:assert/strict";
import { type NodeProc, startCluster, stopAll } from "./_cluster.ts";

const QUEUE = new URL("../queue/mod.ts", import.meta.url).href;
const TOPIC = new URL("../topic/mod.ts", import.meta.url).href;

/** Prefix of every snippet: the queue and topic modules in scope. */
const USE = `const queue = await import(${JSON.stringify(QUEUE)});
const topic = await import(${JSON.stringify(TOPIC)});
const g = globalThis;`;

async function waitMembers(nodes: NodeProc[], n: number): Promise<void> {
  for (const node of nodes) {
    await node.run(
      `for (let i = 0; i < 200; i++) {
        const m = (await system.members()).filter((x) => x.status === "alive");
        if (m.length >= ${n}) return m.length;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("cluster did not converge");`,
      20_000,
    );
  }
}

Deno.test({
  name: "cluster: queue buckets spread over 3 nodes; ranked readers on two nodes read all once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await startCluster(3);
    try {
      const [a, b, c] = nodes;
      await waitMembers(nodes, 3);
      const N = 600;
      await a.run(
        `${USE}
        const q = await queue.write("orders", { system, numBuckets: 12, batchSize: 50 });
        const recs = Array.from({ length: ${N} }, (_, i) => ({ id: "o" + i, i }));
        await q.put(recs.slice(0, 300));
        await Promise.all(recs.slice(300).map((r) => q.put(r)));
        await q.flush();
        return true;`,
        30_000,
      );
      // where do the buckets live?
      const hosts = await a.run<Record<string, number>>(
        `const out = {};
        for (const info of await system.allNamedActors()) {
          if (!info.path.startsWith("queues/orders/")) continue;
          for (const inst of info.instances) out[inst.nodeId] = (out[inst.nodeId] ?? 0) + 1;
        }
        return out;`,
      );
      const used = Object.keys(hosts);
      assert.ok(used.length >= 2, `buckets on ${JSON.stringify(hosts)}`);
      assert.equal(Object.values(hosts).reduce((x, y) => x + y, 0), 12);
      for (const id of used) assert.ok([a.nodeId, b.nodeId, c.nodeId].includes(id));

      const readOn = (node: NodeProc, rank: number) =>
        node.run<string[]>(
          `${USE}
          const r = await queue.read("orders", { system, numBuckets: 12, rank: ${rank}, worldSize: 2 });
          const ids = [];
          for (;;) {
            const batch = await r.get({ limit: 64, wait: true, timeout: 500 });
            if (batch.length === 0) break;
            for (const x of batch) ids.push(x.id);
          }
          return ids;`,
          30_000,
        );
      const [fromB, fromC] = await Promise.all([readOn(b, 0), readOn(c, 1)]);
      const all = [...fromB, ...fromC];
      assert.equal(all.length, N, `B read ${fromB.length}, C read ${fromC.length}`);
      assert.equal(new Set(all).size, N);
      assert.ok(fromB.length > 0 && fromC.length > 0);

      // a reader waiting on B wakes up when A writes
      const waiting = b.run<number>(
        `${USE}
        const r = await queue.read("orders", { system, numBuckets: 12 });
        r.setOffset(0);
        await r.get({ limit: 10000 });
        const t0 = Date.now();
        const got = await r.get({ wait: true, timeout: 10000 });
        if (got.length === 0 || got[0].id !== "late") throw new Error("wrong record");
        return Date.now() - t0;`,
        30_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      await a.run(
        `${USE}
        const q = await queue.write("orders", { system, numBuckets: 12 });
        await q.put({ id: "late" });`,
      );
      assert.ok((await waiting) < 5_000);
    } finally {
      await stopAll(nodes);
    }
  },
});

Deno.test({
  name: "cluster: topic publish on A reaches subscribers on B and C; a dead subscriber is evicted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await startCluster(3);
    try {
      const [a, b, c] = nodes;
      await waitMembers(nodes, 3);
      const subscribe = (node: NodeProc, id: string) =>
        node.run(
          `${USE}
          g.got = [];
          g.reader = await topic.read("news", { system, readerId: ${
            JSON.stringify(id)
          }, heartbeatMs: 200 });
          g.reader.onMessage((m) => { g.got.push(m); });
          await g.reader.start();
          return true;`,
        );
      await subscribe(b, "b");
      await subscribe(c, "c");
      const result = await a.run<{ delivered: number; subscriberCount: number }>(
        `${USE}
        g.w = await topic.write("news", { system, writerId: "a" });
        let last;
        for (let i = 0; i < 100; i++) last = await g.w.publish({ i });
        return await g.w.publish({ i: 100 }, { mode: "wait_all_acks", timeout: 10000 });`,
        30_000,
      );
      assert.equal(result.subscriberCount, 2);
      assert.equal(result.delivered, 2);
      for (const node of [b, c]) {
        const got = await node.run<{ i: number }[]>(`return globalThis.got;`);
        assert.deepEqual(got.map((m) => m.i), Array.from({ length: 101 }, (_, i) => i));
      }
      // a subscriber's process dies without unsubscribing (the one not hosting the broker):
      // the other keeps receiving, the dead one is evicted after its lease
      const brokerNode = await a.run<string>(
        `const info = (await system.allNamedActors()).find((x) => x.path === "topics/news/broker");
        return info.instances[0].nodeId;`,
      );
      const [victim, survivor] = brokerNode === c.nodeId ? [b, c] : [c, b];
      victim.kill("SIGKILL");
      await victim.exited;
      const after = await a.run<{ count: number; delivered: number }>(
        `const g = globalThis;
        let r;
        for (let i = 0; i < 60; i++) {
          r = await g.w.publish({ i: 1000 + i });
          if (r.subscriberCount === 1) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        return { count: r.subscriberCount, delivered: r.delivered };`,
        30_000,
      );
      assert.equal(after.count, 1);
      const gotSurvivor = await survivor.run<{ i: number }[]>(
        `await new Promise((r) => setTimeout(r, 300)); return globalThis.got;`,
      );
      assert.ok(gotSurvivor.some((m) => m.i >= 1000));
      await survivor.run(`await globalThis.reader.stop(); return true;`);
    } finally {
      await stopAll(nodes);
    }
  },
});
