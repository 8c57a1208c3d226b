/**
 * Passphrase mutual TLS between real node processes.
 */
import assert from "node:assert/strict";
import { startNode, stopAll } from "./_cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return pred();
}

Deno.test(
  "tls: same passphrase joins and talks; another passphrase or plaintext is refused clearly",
  opts,
  async () => {
    const a = await startNode({
      passphrase: "correct horse battery staple",
      env: { PULSING_LOG: "info" },
    });
    const nodes = [a];
    try {
      const b = await startNode({ passphrase: "correct horse battery staple", seeds: [a.addr] });
      nodes.push(b);
      await a.run(`await Counter.spawn({ name: "secure", args: [1] });`);
      assert.equal(
        await b.run(`return await (await Counter.resolve("secure", { timeout: 5000 })).incr();`),
        2,
      );
      // streams and bytes over TLS
      assert.equal(
        await b.run(`
        await Streamer.spawn({ name: "tls-s" });
        const s = await Streamer.resolve("tls-s");
        let n = 0; for await (const _ of s.count(1000)) n++;
        const big = new Uint8Array(1 << 20).fill(7);
        return n + (await (await Counter.resolve("secure")).size(big));`),
        1000 + (1 << 20),
      );

      // queue and topic across the TLS cluster
      await b.run(`
      globalThis.events = [];
      const r = await system.topic.read("tls-events");
      r.onMessage((m) => globalThis.events.push(m));
      await r.start();`);
      const delivered = await a.run(`
      const w = await system.queue.write("tls-q", { numBuckets: 2 });
      await w.put([{ id: "a", n: 1 }, { id: "b", n: 2 }, { id: "c", n: 3 }]);
      await w.flush();
      const t = await system.topic.write("tls-events");
      return (await t.publish({ hello: "tls" }, { mode: "wait_all_acks" })).delivered;`);
      assert.equal(delivered, 1);
      assert.equal(
        await b.run(`
        const r = await system.queue.read("tls-q", { numBuckets: 2 });
        return (await r.get({ limit: 10 })).length;`),
        3,
      );
      assert.deepEqual(await b.run(`return globalThis.events;`), [{ hello: "tls" }]);
      // the startup log reports the certificate generation time
      assert.match(a.stderr(), /TLS on: cluster CA [0-9a-f]{16}, certificates in \d+ ms/);

      // a node with another passphrase cannot join nor call
      const c = await startNode({ passphrase: "wrong passphrase", seeds: [a.addr] });
      nodes.push(c);
      await assert.rejects(
        c.run(`return await (await pul.resolve("secure", { timeout: 1500 })).incr();`),
        /Named actor not found/,
      );
      const members = await a.run<{ addr: string; status: string }[]>(
        `return await system.members();`,
      );
      assert.ok(!members.some((m) => m.addr === c.addr && m.status === "alive"));
      assert.ok(
        await waitFor(() => /passphrase mismatch/.test(c.stderr()), 5000),
        `the refused node says why:\n${c.stderr()}`,
      );
      assert.ok(
        await waitFor(() => /passphrase mismatch/.test(a.stderr()), 5000),
        `the cluster node says why:\n${a.stderr()}`,
      );

      // a plaintext node dialling the TLS cluster is refused too
      const d = await startNode({ seeds: [a.addr] });
      nodes.push(d);
      await assert.rejects(
        d.run(`return await (await pul.resolve("secure", { timeout: 1500 })).incr();`),
        /Named actor not found/,
      );
      assert.ok(
        await waitFor(() => /TLS|plaintext|not TLS|speaks/i.test(a.stderr() + d.stderr()), 5000),
        `someone says why:\nA:${a.stderr()}\nD:${d.stderr()}`,
      );
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "tls: requireJoin makes init fail with the reason when the passphrase is wrong",
  opts,
  async () => {
    const a = await startNode({ passphrase: "right one" });
    try {
      const pul = await import("../mod.ts");
      await assert.rejects(
        pul.actorSystem({
          addr: "127.0.0.1:0",
          seeds: [a.addr],
          passphrase: "wrong one",
          requireJoin: true,
          logger: () => {},
        }),
        (e: Error) => /Could not join the cluster: .*passphrase mismatch/.test(e.message),
      );
      // without requireJoin the node runs alone instead
      const alone = await pul.actorSystem({
        addr: "127.0.0.1:0",
        seeds: [a.addr],
        passphrase: "wrong one",
        logger: () => {},
      });
      assert.equal((await alone.members()).length, 1);
      await alone.shutdown();
    } finally {
      await stopAll([a]);
    }
  },
);
