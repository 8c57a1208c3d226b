/**
 * Topics across three real node processes on 127.0.0.1: a publish on A reaches subscribers on
 * B and C and a dead subscriber is evicted; 5 publishers × 10 subscribers spread over the
 * three processes deliver every message to every subscriber in per-publisher order; a
 * subscriber process killed mid-storm does not stop delivery to the others; when the broker's
 * node is killed, readers re-subscribe to the new broker and a publish after the failover
 * reaches them.
 */
import assert from "node:assert/strict";
import { type NodeProc, startCluster, stopAll, waitMembers, withCluster } from "./_cluster.ts";

const TOPIC = new URL("../topic/mod.ts", import.meta.url).href;

/** Prefix of every snippet: the topic module and the globals in scope. */
const USE = `const topic = await import(${JSON.stringify(TOPIC)});
const g = globalThis;`;

/** Start subscribers `ids` on `node`; each keeps what it receives in `g.got[id]`. */
function subscribe(node: NodeProc, name: string, ids: string[], heartbeatMs = 1000) {
  return node.run(
    `${USE}
    g.got ??= {};
    g.readers ??= {};
    for (const id of ${JSON.stringify(ids)}) {
      g.got[id] = [];
      const r = await topic.read(${
      JSON.stringify(name)
    }, { system, readerId: id, heartbeatMs: ${heartbeatMs} });
      r.onMessage((m) => { g.got[id].push(m); });
      await r.start();
      g.readers[id] = r;
    }
    return true;`,
    20_000,
  );
}

/** Wait (bounded) until every subscriber on `node` has `n` messages; return their messages. */
function collect(
  node: NodeProc,
  n: number,
  ms = 15_000,
): Promise<Record<string, { w: number; seq: number }[]>> {
  return node.run(
    `const g = globalThis;
    const end = Date.now() + ${ms};
    while (Date.now() < end && Object.values(g.got).some((l) => l.length < ${n})) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return g.got;`,
    ms + 10_000,
  );
}

async function brokerNode(node: NodeProc, name: string): Promise<string> {
  return await node.run<string>(
    `const info = (await system.allNamedActors()).find((x) => x.path === "topics/${name}/broker");
    return info.instances[0].nodeId;`,
  );
}

/** Every publisher's messages, complete and in order, in one subscriber's list. */
function assertComplete(
  got: { w: number; seq: number }[],
  publishers: number,
  perPublisher: number,
  who: string,
): void {
  assert.equal(got.length, publishers * perPublisher, `${who} got ${got.length}`);
  for (let w = 0; w < publishers; w++) {
    const seqs = got.filter((m) => m.w === w).map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: perPublisher }, (_, i) => i), `${who}, w${w}`);
  }
}

Deno.test({
  name: "cluster topic: publish on A reaches subscribers on B and C; a dead subscriber is evicted",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster(3, async (nodes) => {
      const [a, b, c] = nodes;
      await subscribe(b, "news", ["b"], 200);
      await subscribe(c, "news", ["c"], 200);
      const result = await a.run<{ delivered: number; subscriberCount: number }>(
        `${USE}
        g.w = await topic.write("news", { system, writerId: "a" });
        for (let i = 0; i < 100; i++) await g.w.publish({ w: 0, seq: i });
        return await g.w.publish({ w: 0, seq: 100 }, { mode: "wait_all_acks", timeout: 10000 });`,
        30_000,
      );
      assert.equal(result.subscriberCount, 2);
      assert.equal(result.delivered, 2);
      for (const node of [b, c]) {
        for (const got of Object.values(await collect(node, 101))) {
          assertComplete(got, 1, 101, "sub");
        }
      }
      // a subscriber's process dies without unsubscribing (the one not hosting the broker):
      // the other keeps receiving, the dead one is evicted after its lease
      const host = await brokerNode(a, "news");
      const [victim, survivor] = host === c.nodeId ? [b, c] : [c, b];
      victim.kill("SIGKILL");
      await victim.exited;
      const after = await a.run<{ count: number; delivered: number }>(
        `const g = globalThis;
        let r;
        for (let i = 0; i < 60; i++) {
          r = await g.w.publish({ w: 1, seq: i });
          if (r.subscriberCount === 1) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        return { count: r.subscriberCount, delivered: r.delivered };`,
        30_000,
      );
      assert.equal(after.count, 1);
      const gotSurvivor = await survivor.run<{ w: number }[][]>(
        `await new Promise((r) => setTimeout(r, 300)); return Object.values(globalThis.got);`,
      );
      assert.ok(gotSurvivor[0].some((m) => m.w === 1));
    }),
});

Deno.test({
  name: "cluster topic: 5 publishers × 10 subscribers over 3 processes — every message, in order",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster(3, async (nodes) => {
      const [a, b, c] = nodes;
      const subs: [NodeProc, string[]][] = [
        [a, ["s0", "s1", "s2", "s3"]],
        [b, ["s4", "s5", "s6"]],
        [c, ["s7", "s8", "s9"]],
      ];
      for (const [node, ids] of subs) await subscribe(node, "storm", ids);
      const M = 60;
      // publishers 0,1 on A, 2,3 on B, 4 on C, all at once; each awaits its own publishes
      const publish = (node: NodeProc, ws: number[]) =>
        node.run<number>(
          `${USE}
          const counts = await Promise.all(${JSON.stringify(ws)}.map(async (w) => {
            const writer = await topic.write("storm", { system, writerId: "w" + w });
            let n = 0;
            for (let seq = 0; seq < ${M}; seq++) {
              const r = await writer.publish({ w, seq });
              n += r.subscriberCount;
            }
            return n;
          }));
          return counts.reduce((x, y) => x + y, 0);`,
          30_000,
        );
      const counts = await Promise.all([publish(a, [0, 1]), publish(b, [2, 3]), publish(c, [4])]);
      assert.equal(counts.reduce((x, y) => x + y, 0), 5 * M * 10); // 10 subscribers each time
      for (const [node] of subs) {
        for (const [id, got] of Object.entries(await collect(node, 5 * M))) {
          assertComplete(got, 5, M, id);
        }
      }
    }),
});

Deno.test({
  name: "cluster topic: a subscriber process killed mid-storm does not stop delivery to the others",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster(3, async (nodes) => {
      const [a, b, c] = nodes;
      const ids: Record<string, string[]> = {
        [a.nodeId]: ["a0", "a1", "a2"],
        [b.nodeId]: ["b0", "b1", "b2"],
        [c.nodeId]: ["c0", "c1", "c2"],
      };
      for (const node of nodes) await subscribe(node, "mid", ids[node.nodeId], 200);
      // publishers on A; the victim is a subscriber process hosting neither them nor the broker
      const host = await brokerNode(a, "mid");
      const victim = host === b.nodeId ? c : b;
      const survivors = nodes.filter((n) => n !== victim);
      const M = 150;
      const storm = a.run<number>(
        `${USE}
        g.sent = 0;
        const counts = await Promise.all([0, 1, 2, 3, 4].map(async (w) => {
          const writer = await topic.write("mid", { system, writerId: "w" + w });
          let failed = 0;
          for (let seq = 0; seq < ${M}; seq++) {
            const r = await writer.publish({ w, seq });
            failed += r.failed;
            g.sent++;
            if (seq % 5 === 4) await new Promise((res) => setTimeout(res, 10));
          }
          return failed;
        }));
        return g.sent;`,
        60_000,
      );
      // kill the victim once the storm is well under way
      await a.run(
        `const g = globalThis;
        for (let i = 0; i < 400 && (g.sent ?? 0) < ${(5 * M) / 4}; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        return g.sent ?? 0;`,
        20_000,
      );
      victim.kill("SIGKILL");
      await victim.exited;
      assert.equal(await storm, 5 * M); // no publish failed or hung
      for (const node of survivors) {
        for (const [id, got] of Object.entries(await collect(node, 5 * M))) {
          assertComplete(got, 5, M, id);
        }
      }
      // the dead subscribers are evicted after their lease
      const count = await a.run<number>(
        `${USE}
        const w = await topic.write("mid", { system });
        for (let i = 0; i < 100; i++) {
          const s = await w.stats();
          if (s.subscriberCount === 6) return 6;
          await new Promise((r) => setTimeout(r, 100));
        }
        return (await w.stats()).subscriberCount;`,
        30_000,
      );
      assert.equal(count, 6);
    }),
});

Deno.test({
  name: "cluster topic: kill -9 of the broker's node — readers re-subscribe to the new broker " +
    "and a publish after the failover reaches them",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await startCluster(3);
    try {
      const [a] = nodes;
      await waitMembers(nodes, 3);
      for (const node of nodes) await subscribe(node, "moving", [`r_${node.addr}`], 200);
      const host = await brokerNode(a, "moving");
      const victim = nodes.find((n) => n.nodeId === host)!;
      const survivors = nodes.filter((n) => n !== victim);
      const [w] = survivors;
      const before = await w.run<number>(
        `${USE}
        g.w = await topic.write("moving", { system, writerId: "w" });
        return (await g.w.publish({ w: 0, seq: 0 }, { mode: "wait_all_acks", timeout: 10000 })).delivered;`,
        20_000,
      );
      assert.equal(before, 3);

      victim.kill("SIGKILL");
      await victim.exited;
      // publish until both surviving readers are subscribed to the new broker (bounded)
      const r = await w.run<{ subscriberCount: number; delivered: number; host: string }>(
        `const g = globalThis;
        let r;
        for (let i = 0; i < 150; i++) {
          try {
            r = await g.w.publish({ w: 1, seq: -1 });
            if (r.subscriberCount === 2) break;
          } catch { /* the broker is moving */ }
          await new Promise((res) => setTimeout(res, 100));
        }
        r = await g.w.publish({ w: 2, seq: 0 }, { mode: "wait_all_acks", timeout: 10000 });
        const info = (await system.allNamedActors()).find((x) => x.path === "topics/moving/broker");
        return { ...r, host: info.instances[0].nodeId };`,
        30_000,
      );
      assert.equal(r.subscriberCount, 2);
      assert.equal(r.delivered, 2);
      assert.notEqual(r.host, victim.nodeId);
      assert.ok(survivors.some((n) => n.nodeId === r.host));
      for (const node of survivors) {
        const got = Object.values(await collect(node, 0, 0))[0];
        assert.ok(got.some((m) => m.w === 2 && m.seq === 0), `${node.addr} missed the marker`);
      }
    } finally {
      await stopAll(nodes);
    }
  },
});
