/**
 * The queue across real node processes on 127.0.0.1: buckets spread over three nodes, a
 * writer on A and rank-partitioned readers on B and C read everything exactly once (one of
 * them without `numBuckets`: it is discovered); when a node holding buckets is killed
 * (`kill -9`), the next put finds the new owner — the memory backend loses that bucket's
 * records, readers restart it at 0 — and with sqlite the records are all read back after the
 * node is restarted on the same address. Topics across processes: topic_cluster_test.ts.
 */
import assert from "node:assert/strict";
import {
  type NodeProc,
  startCluster,
  startNode,
  stopAll,
  waitMembers,
  withCluster,
} from "./_cluster.ts";

const QUEUE = new URL("../queue/mod.ts", import.meta.url).href;

/** Prefix of every snippet: the queue module in scope. */
const USE = `const queue = await import(${JSON.stringify(QUEUE)});
const g = globalThis;`;

Deno.test({
  name: "cluster: queue buckets spread over 3 nodes; ranked readers on two nodes read all once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster(3, async (nodes) => {
      const [a, b, c] = nodes;
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

      // B names the number of buckets, C does not (it is discovered from the queue)
      const readOn = (node: NodeProc, rank: number, opts: string) =>
        node.run<string[]>(
          `${USE}
          const r = await queue.read("orders", { system, ${opts} rank: ${rank}, worldSize: 2 });
          if (r.numBuckets !== 12) throw new Error("numBuckets " + r.numBuckets);
          const ids = [];
          for (;;) {
            const batch = await r.get({ limit: 64, wait: true, timeout: 500 });
            if (batch.length === 0) break;
            for (const x of batch) ids.push(x.id);
          }
          return ids;`,
          30_000,
        );
      const [fromB, fromC] = await Promise.all([
        readOn(b, 0, "numBuckets: 12,"),
        readOn(c, 1, ""),
      ]);
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
    }),
});

/** Which node hosts each bucket of `topic` (bucket id → node id), as A sees the registry. */
function bucketHosts(node: NodeProc, topic: string): Promise<Record<number, string>> {
  return node.run<Record<number, string>>(
    `const out = {};
    for (const info of await system.allNamedActors()) {
      const m = /^queues\\/${topic}\\/bucket_(\\d+)$/.exec(info.path);
      if (m) out[Number(m[1])] = info.instances[0].nodeId;
    }
    return out;`,
  );
}

/** The node among `candidates` that hosts the most buckets, and those buckets. */
function pickVictim(
  hosts: Record<number, string>,
  candidates: NodeProc[],
): { victim: NodeProc; lost: number[] } {
  const lostOf = (n: NodeProc) =>
    Object.entries(hosts).filter(([, id]) => id === n.nodeId).map(([b]) => Number(b));
  const victim = [...candidates].sort((x, y) => lostOf(y).length - lostOf(x).length)[0];
  return { victim, lost: lostOf(victim) };
}

Deno.test({
  name: "cluster: kill -9 of a bucket's node (memory) — the next put finds the new owner, " +
    "that bucket's records are lost, readers restart it at 0",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster(3, async (nodes) => {
      const [a, b, c] = nodes;
      const N = 240;
      // writer and a reader on A; the reader has read everything before the kill
      const read = await a.run<number>(
        `${USE}
        g.q = await queue.write("fo_mem", { system, numBuckets: 12 });
        await g.q.put(Array.from({ length: ${N} }, (_, i) => ({ id: "r" + i })));
        g.r = await queue.read("fo_mem", { system });
        let n = 0;
        for (;;) { const got = await g.r.get({ limit: 1000 }); if (!got.length) return n; n += got.length; }`,
        30_000,
      );
      assert.equal(read, N);
      const hosts = await bucketHosts(a, "fo_mem");
      assert.equal(Object.keys(hosts).length, 12);
      const { victim, lost } = pickVictim(hosts, [b, c]);
      assert.ok(lost.length > 0, `no bucket on B or C: ${JSON.stringify(hosts)}`);
      const survivor = victim === b ? c : b;
      const kept = await a.run<number>(
        `const g = globalThis;
        let n = 0;
        for (let i = 0; i < ${N}; i++) if (!${
          JSON.stringify(lost)
        }.includes(g.q.getBucketId("r" + i))) n++;
        return n;`,
      );

      victim.kill("SIGKILL");
      await victim.exited;
      // one new record per lost bucket: each put waits for the failover, then lands on the new owner
      const fresh = await a.run<string[]>(
        `const g = globalThis;
        const ids = [];
        for (const bucket of ${JSON.stringify(lost)}) {
          let i = 0;
          while (g.q.getBucketId("n" + i) !== bucket) i++;
          await g.q.put({ id: "n" + i });
          ids.push("n" + i);
        }
        return ids;`,
        30_000,
      );
      assert.equal(fresh.length, lost.length);
      const after = await bucketHosts(a, "fo_mem");
      for (const bucket of lost) {
        assert.ok(
          [a.nodeId, survivor.nodeId].includes(after[bucket]),
          `bucket ${bucket} on ${after[bucket]}`,
        );
      }
      // the reader that had read everything gets exactly the new records (restarted at 0)
      const next = await a.run<string[]>(
        `const g = globalThis;
        const ids = [];
        for (let i = 0; i < 20; i++) {
          const got = await g.r.get({ limit: 1000, wait: true, timeout: 300 });
          if (got.length === 0) break;
          for (const x of got) ids.push(x.id);
        }
        return ids;`,
        30_000,
      );
      assert.deepEqual(next.sort(), [...fresh].sort());
      // a new reader on the survivor: the kept records and the new ones; the lost ones are gone
      const all = await survivor.run<string[]>(
        `${USE}
        const r = await queue.read("fo_mem", { system });
        const ids = [];
        for (;;) { const got = await r.get({ limit: 1000 }); if (!got.length) return ids; for (const x of got) ids.push(x.id); }`,
        30_000,
      );
      assert.equal(all.length, kept + fresh.length);
      assert.equal(new Set(all).size, all.length);
      for (const id of fresh) assert.ok(all.includes(id));
      // the client that noticed the move said that the records were lost
      assert.match(
        a.stderr(),
        /memory backend: the records stored in the previous bucket are lost/,
      );
    }),
});

Deno.test({
  name: "cluster: sqlite queue — kill -9 of a bucket's node, puts go on meanwhile, the node " +
    "restarts on the same address and storagePath, everything is read back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pulsing_fo_sql_" });
    const nodes = await startCluster(3);
    try {
      const [a, b, c] = nodes;
      await waitMembers(nodes, 3);
      const opts = `{ system, numBuckets: 8, backend: "sqlite", storagePath: ${
        JSON.stringify(`${dir}/q`)
      } }`;
      const N = 160;
      await a.run(
        `${USE}
        g.q = await queue.write("fo_sql", ${opts});
        await g.q.put(Array.from({ length: ${N} }, (_, i) => ({ id: "r" + i })));
        await g.q.flush();
        return true;`,
        30_000,
      );
      const hosts = await bucketHosts(a, "fo_sql");
      const { victim, lost } = pickVictim(hosts, [b, c]);
      assert.ok(lost.length > 0, `no bucket on B or C: ${JSON.stringify(hosts)}`);
      const survivor = victim === b ? c : b;

      victim.kill("SIGKILL");
      await victim.exited;
      // puts to every bucket while the node is gone: its buckets reopen their files on the
      // new owner (all nodes share this file system here)
      await a.run(
        `const g = globalThis;
        await g.q.put(Array.from({ length: 40 }, (_, i) => ({ id: "d" + i })));
        await g.q.flush();
        return true;`,
        30_000,
      );
      // the node comes back on the same address
      const back = await startNode({ addr: victim.addr, seeds: [a.addr] });
      nodes[nodes.indexOf(victim)] = back;
      await waitMembers([a, survivor, back], 3);
      await a.run(
        `const g = globalThis; await g.q.put({ id: "last" }); await g.q.flush(); return true;`,
        30_000,
      );
      // read everything back from the restarted node, options discovered from the queue
      const all = await back.run<string[]>(
        `${USE}
        const r = await queue.read("fo_sql", { system });
        if (r.numBuckets !== 8) throw new Error("numBuckets " + r.numBuckets);
        const ids = [];
        for (;;) { const got = await r.get({ limit: 1000 }); if (!got.length) return ids; for (const x of got) ids.push(x.id); }`,
        30_000,
      );
      assert.equal(all.length, N + 40 + 1);
      assert.equal(new Set(all).size, all.length);
      for (let i = 0; i < N; i++) assert.ok(all.includes(`r${i}`), `r${i} missing`);
    } finally {
      await stopAll(nodes);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
