/**
 * Multi-process tests: real `deno` node processes on 127.0.0.1 talking over TCP.
 */
import assert from "node:assert/strict";
import { type NodeProc, startCluster, startNode, stopAll } from "./_cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("cluster: spawn on one node, resolve and call from the others", opts, async () => {
  const nodes = await startCluster(3);
  try {
    const [a, b, c] = nodes;
    await a.run(`await Counter.spawn({ name: "shared", args: [100] });`);
    const t0 = performance.now();
    assert.equal(
      await b.run(`return await (await Counter.resolve("shared", { timeout: 5000 })).incr();`),
      101,
    );
    const resolveMs = performance.now() - t0;
    assert.equal(
      await c.run(`return await (await pul.resolve("shared", { timeout: 5000 })).incr(2);`),
      103,
    );
    assert.ok(resolveMs < 5000);
    const members = await a.run<{ status: string }[]>(`return await system.members();`);
    assert.equal(members.filter((m) => m.status === "alive").length, 3);
    const named = await c.run<{ path: string; instances: { nodeId: string }[] }[]>(
      `return await system.allNamedActors();`,
    );
    const shared = named.find((n) => n.path === "actors/shared");
    assert.deepEqual(shared?.instances.map((i) => i.nodeId), [a.nodeId]);
    // errors keep their class, message, code and details across the wire
    const err = await b.run<{ name: string; code: number; message: string }>(`
      try { await (await Counter.resolve("shared")).fail(418); } catch (e) {
        return { name: e.name, code: e.code, message: e.message, details: e.details };
      }`);
    assert.deepEqual(err, {
      name: "PulsingBusinessError",
      code: 418,
      message: "business says no",
      details: { code: 418 },
    });
    const err2 = await b.run(`
      try { await (await Counter.resolve("shared")).boom(); } catch (e) {
        return [e.name, e.message, e.originalName];
      }`);
    assert.deepEqual(err2, ["PulsingActorError", "out of range", "RangeError"]);
    // stopping removes the name everywhere
    await a.run(`await system.stop("shared");`);
    const gone = await c.run(`
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        if (!(await system.allNamedActors()).some((n) => n.path === "actors/shared")) return true;
        await new Promise((r) => setTimeout(r, 20));
      }
      return false;`);
    assert.equal(gone, true);
    await assert.rejects(
      c.run(`return await pul.resolve("shared");`),
      /Named actor not found: actors\/shared/,
    );
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("cluster: streams across nodes, cancellation reaches the producer", opts, async () => {
  const nodes = await startCluster(2);
  try {
    const [a, b] = nodes;
    await a.run(`await Streamer.spawn({ name: "streamer" });`);
    const n = await b.run(`
      const s = await Streamer.resolve("streamer", { timeout: 5000 });
      let n = 0, last = -1, ordered = true;
      for await (const x of s.count(10000)) { if (x !== last + 1) ordered = false; last = x; n++; }
      return ordered ? n : -1;`);
    assert.equal(n, 10000);
    // break out of a remote endless stream: the generator's finally runs on node a
    await b.run(`
      const s = await Streamer.resolve("streamer");
      for await (const x of s.endless("cancel-me")) if (x === 20) break;`);
    const finals = await a.run<string[]>(`
      const s = await Streamer.resolve("streamer");
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        const f = await s.finalsSeen();
        if (f.includes("cancel-me")) return f;
        await new Promise((r) => setTimeout(r, 10));
      }
      return await s.finalsSeen();`);
    assert.ok(finals.includes("cancel-me"), `finally did not run on the producer: ${finals}`);
    // an error mid-stream arrives after the items produced before it
    const r = await b.run(`
      const s = await Streamer.resolve("streamer");
      const got = [];
      try { for await (const x of s.failAt(3)) got.push(x); } catch (e) { return { got, msg: e.message }; }
      return { got };`);
    assert.deepEqual(r, { got: [0, 1, 2], msg: "stream error at 3" });
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("cluster: a 16 MiB Uint8Array arrives byte for byte", opts, async () => {
  const nodes = await startCluster(2);
  try {
    const [a, b] = nodes;
    await a.run(`await Counter.spawn({ name: "bytes" });`);
    const [remote, local] = await b.run<number[]>(
      `
      const big = new Uint8Array(16 << 20);
      for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
      const c = await Counter.resolve("bytes", { timeout: 5000 });
      const remote = await c.checksum(big);
      let h = 0;
      for (let i = 0; i < big.length; i++) h = (h * 31 + big[i]) >>> 0;
      const back = await c.echo(big);
      if (!(back instanceof Uint8Array) || back.length !== big.length) return [-1, -2];
      for (let i = 0; i < big.length; i += 4093) if (back[i] !== big[i]) return [-3, -4];
      return [remote, h];`,
      60_000,
    );
    assert.equal(remote, local);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test(
  "cluster: kill -9 of the node holding an actor fails calls and streams at once",
  opts,
  async () => {
    const nodes: NodeProc[] = await startCluster(2);
    try {
      const [a, b] = nodes;
      await a.run(
        `await Counter.spawn({ name: "victim" }); await Streamer.spawn({ name: "victim-s" });`,
      );
      await b.run(`
      globalThis.c = await Counter.resolve("victim", { timeout: 5000 });
      globalThis.s = await Streamer.resolve("victim-s", { timeout: 5000 });
      globalThis.callP = globalThis.c.slow(60000).then(() => "ok", (e) => ({ name: e.name, msg: e.message, at: Date.now() }));
      globalThis.streamP = (async () => {
        let n = 0;
        try { for await (const _ of globalThis.s.endless("x")) n++; return "ended"; }
        catch (e) { return { name: e.name, msg: e.message, n, at: Date.now() }; }
      })();
      await new Promise((r) => setTimeout(r, 200));`);
      const killedAt = Date.now();
      a.kill("SIGKILL");
      await a.exited;
      const [call, stream] = await b.run<
        [
          { name: string; msg: string; at: number },
          { name: string; msg: string; n: number; at: number },
        ]
      >(`return [await globalThis.callP, await globalThis.streamP];`, 10_000);
      assert.equal(call.name, "PulsingRuntimeError");
      assert.match(call.msg, /127\.0\.0\.1:\d+/);
      assert.ok(call.at - killedAt < 1000, `call failed ${call.at - killedAt} ms after the kill`);
      assert.equal(stream.name, "PulsingRuntimeError");
      assert.ok(stream.n > 0);
      assert.ok(
        stream.at - killedAt < 1000,
        `stream failed ${stream.at - killedAt} ms after the kill`,
      );
      // restart a node on the same address; the actor can be spawned and resolved again
      const a2 = await startNode({ addr: a.addr, seeds: [b.addr] });
      nodes.push(a2);
      await a2.run(`await Counter.spawn({ name: "victim", args: [7] });`);
      assert.equal(
        await b.run(
          `return await (await Counter.resolve("victim", { timeout: 8000 })).incr();`,
          15_000,
        ),
        8,
      );
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test("cluster: remote placement and unknown classes", opts, async () => {
  const nodes = await startCluster(2);
  try {
    const [a, b] = nodes;
    const where = await a.run(`
      const c = await Counter.spawn({ name: "placed", placement: ${
      JSON.stringify(b.nodeId)
    }, args: [5] });
      return [await c.incr(), pul.refOf(c).nodeId.toString(), pul.refOf(c).isLocal()];`);
    assert.deepEqual(where, [6, b.nodeId, false]);
    const remote = await a.run(`
      const c = await Counter.spawn({ name: "anywhere", placement: "remote" });
      return pul.refOf(c).nodeId.toString();`);
    assert.equal(remote, b.nodeId);
    await assert.rejects(
      a.run(`
        const Ghost = pul.remote(class Ghost { x() { return 1; } });
        await Ghost.spawn({ placement: ${JSON.stringify(b.nodeId)} });`),
      /Class 'Ghost' not found on node/,
    );
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("cluster: garbage on the port closes that connection only", opts, async () => {
  const nodes = await startCluster(2);
  try {
    const [a, b] = nodes;
    await a.run(`await Counter.spawn({ name: "sturdy" });`);
    const [host, port] = a.addr.split(":");
    const random = crypto.getRandomValues(new Uint8Array(4096));
    random[0] = 0xff; // the length prefix then claims more than the frame limit
    // [bytes, whether the node must close the connection by itself]
    const payloads: [Uint8Array, boolean][] = [
      [random, true],
      [new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), true], // a frame claiming 4 GiB
      [new Uint8Array([0, 0, 0, 20, 1, 2, 3]), false], // truncated: the node waits (frame timeout)
      [new Uint8Array([0, 0, 0, 6, 1, 0, 0xc1, 0xc1, 0xc1, 0xc1]), true], // garbage msgpack
      [new Uint8Array([0, 0, 0, 2, 0x7f, 0x00]), true], // unknown frame kind
    ];
    for (const [p, mustClose] of payloads) {
      const conn = await Deno.connect({ hostname: host, port: Number(port) });
      await conn.write(p).catch(() => {});
      const buf = new Uint8Array(64);
      const closed = await Promise.race([
        conn.read(buf).then((n) => n === null, () => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
      ]);
      try {
        conn.close();
      } catch { /* closed by the peer */ }
      assert.equal(closed, mustClose, `payload ${p.slice(0, 8)}: closed by the node`);
      // the node still serves the healthy peer
      assert.equal(
        await b.run(
          `return await (await Counter.resolve("sturdy", { timeout: 5000 })).incr();`,
        ) as number > 0,
        true,
      );
    }
    assert.match(a.stderr(), /closing|malformed|protocol|exceeds|invalid/i);
  } finally {
    await stopAll(nodes);
  }
});

Deno.test(
  "cluster: system/core on every node answers diagnostics from anywhere",
  opts,
  async () => {
    const nodes = await startCluster(2);
    try {
      const [a, b] = nodes;
      await a.run(
        `const c = await Counter.spawn({ name: "diag" }); await c.incr(); await c.incr();`,
      );
      const r = await b.run<
        {
          pong: string;
          metrics: { nodeId: string; messagesTotal: number; namedActorsCount: number };
        }
      >(`
      const core = await pul.resolve("system/core", { nodeId: ${
        JSON.stringify(a.nodeId)
      }, timeout: 5000 });
      return { pong: (await core.ping()).nodeId, metrics: await core.metrics() };`);
      assert.equal(r.pong, a.nodeId);
      assert.equal(r.metrics.nodeId, a.nodeId);
      assert.ok(r.metrics.messagesTotal >= 2);
      // listings leave built-in actors out unless asked
      const paths = await b.run<string[]>(
        `return (await system.allNamedActors()).map((x) => x.path);`,
      );
      assert.ok(!paths.some((p) => p.startsWith("system/")));
      const all = await b.run<{ path: string; instanceCount: number }[]>(
        `return await system.allNamedActors({ includeSystem: true });`,
      );
      assert.equal(all.find((x) => x.path === "system/core")?.instanceCount, 2);
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "cluster: aborting a remote stream with a signal rejects with its reason and stops the producer",
  opts,
  async () => {
    const nodes = await startCluster(2);
    try {
      const [a, b] = nodes;
      await a.run(`await Streamer.spawn({ name: "abortable" });`);
      const r = await b.run<{ n: number; msg: string }>(`
      const s = await Streamer.resolve("abortable", { timeout: 5000 });
      const ac = new AbortController();
      let n = 0;
      try {
        for await (const _ of pul.withOptions(s, { signal: ac.signal }).endless("aborted")) {
          if (++n === 10) ac.abort(new Error("stop now"));
        }
        return { n, msg: "ended normally" };
      } catch (e) {
        return { n, msg: e.message };
      }`);
      assert.deepEqual(r, { n: 10, msg: "stop now" });
      const finals = await a.run<string[]>(`
      const s = await Streamer.resolve("abortable");
      for (let i = 0; i < 100; i++) {
        const f = await s.finalsSeen();
        if (f.includes("aborted")) return f;
        await new Promise((r) => setTimeout(r, 10));
      }
      return await s.finalsSeen();`);
      assert.ok(finals.includes("aborted"));
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "cluster: a lendBytes actor's big byte arguments are reused and detached after the call",
  opts,
  async () => {
    const nodes = await startCluster(2);
    try {
      const [a, b] = nodes;
      await a.run(`
      const make = (lendBytes) => pul.remote(class {
        kept = [];
        take(bytes) {
          this.kept.push(bytes);
          let sum = 0;
          for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i];
          return sum;
        }
        lengths() { return this.kept.map((k) => k.byteLength); }
      }, { name: lendBytes ? "LentKeeper" : "OwnKeeper", lendBytes });
      await make(true).spawn({ name: "lent-keeper" });
      await make(false).spawn({ name: "own-keeper" });`);
      const got = await b.run(`
      const lent = await pul.resolve("lent-keeper", { timeout: 5000 });
      const own = await pul.resolve("own-keeper", { timeout: 5000 });
      const buf = (v) => {
        const x = new Uint8Array(1 << 20);
        for (let i = 0; i < x.length; i += 4096) x[i] = v;
        return x;
      };
      const sums = [
        await lent.take(buf(1)),
        await lent.take(buf(2)),
        await own.take(buf(3)),
        await lent.take(new Uint8Array(100).fill(1)),
      ];
      return { sums, lent: await lent.lengths(), own: await own.lengths() };`);
      assert.deepEqual(got, {
        // every call saw its own bytes, although the second reused the first one's memory
        sums: [256, 512, 768, 1],
        // lent: detached once the call was over (a small argument is never lent)
        lent: [0, 0, 100],
        own: [1 << 20],
      });
    } finally {
      await stopAll(nodes);
    }
  },
);
