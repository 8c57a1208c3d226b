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
    const a = await startNode({ passphrase: "correct horse battery staple" });
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
