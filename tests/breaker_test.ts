/**
 * The circuit breaker per remote node, with real `deno` processes on 127.0.0.1: a caller keeps
 * calling an actor by a pinned reference while the actor's node is killed (or stopped) and
 * comes back. The only timing bound is the issue's: an open circuit fails a call in < 5 ms.
 */
import assert from "node:assert/strict";
import { startNode, stopAll } from "./_cluster.ts";
import type { NodeProc } from "./_cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

interface Attempt {
  ok: boolean;
  msg: string;
  ms: number;
}

/** Snippet: call `globalThis.ref.incr()` `n` times in a row; what each did and how long. */
function callLoop(n: number): string {
  return `
    const out = [];
    for (let i = 0; i < ${n}; i++) {
      const t0 = performance.now();
      try {
        const v = await globalThis.ref.incr();
        out.push({ ok: true, msg: String(v), ms: performance.now() - t0 });
      } catch (e) {
        out.push({ ok: false, msg: e.name + ": " + e.message, ms: performance.now() - t0 });
      }
    }
    return out;`;
}

Deno.test(
  "breaker: after 5 refused calls to a killed node, calls by a pinned ref fail fast with 'circuit open'; a restart at the same address closes it",
  opts,
  async () => {
    const nodes: NodeProc[] = [];
    try {
      const caller = await startNode();
      nodes.push(caller);
      const target = await startNode({ seeds: [caller.addr] });
      nodes.push(target);
      await target.run(`await Counter.spawn({ name: "svc", args: [0] });`);
      assert.equal(
        await caller.run(`
          globalThis.ref = await Counter.resolve("svc", { timeout: 5000 });
          return await globalThis.ref.incr();`),
        1,
      );
      target.kill("SIGKILL");
      await target.exited;
      const attempts = await caller.run<Attempt[]>(callLoop(30));
      const open = attempts.findIndex((a) => /circuit open/.test(a.msg));
      console.log(
        `  after kill -9: ${open} connection failures, then fail-fast calls of ` +
          `${attempts.slice(open).map((a) => a.ms.toFixed(2)).join(", ")} ms`,
      );
      assert.ok(attempts.every((a) => !a.ok && a.msg.startsWith("PulsingRuntimeError")));
      // 5 connection-level failures (fewer if membership declared it dead first), then open
      assert.ok(open >= 0 && open <= 5, `opened after ${open} calls`);
      for (const a of attempts.slice(0, open)) assert.doesNotMatch(a.msg, /circuit/);
      assert.match(
        attempts[open].msg,
        new RegExp(
          `circuit open for node ${target.addr} (after 5 failures|\\(declared dead\\)); ` +
            `retrying in \\d+\\.\\d s`,
        ),
      );
      for (const a of attempts.slice(open)) {
        assert.match(a.msg, /circuit open/);
        assert.ok(a.ms < 5, `a fail-fast call took ${a.ms} ms`);
      }
      assert.equal(
        await caller.run(`return system.cluster.circuit(${JSON.stringify(target.addr)});`),
        "open",
      );
      // The node comes back at the same address: membership sees it up and closes the circuit.
      const fresh = await startNode({ addr: target.addr, seeds: [caller.addr] });
      nodes.push(fresh);
      await fresh.run(`await Counter.spawn({ name: "svc", args: [100] });`);
      const after = await caller.run<{ state: string; pinned: string; fresh: number }>(
        `
        const until = Date.now() + 10000;
        while (system.cluster.circuit(${JSON.stringify(target.addr)}) !== "closed") {
          if (Date.now() > until) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const state = system.cluster.circuit(${JSON.stringify(target.addr)});
        // the pinned ref names the old process's actor: the node answers (not the circuit)
        const pinned = await globalThis.ref.incr().then(String, (e) => e.message);
        const fresh = await (await Counter.resolve("svc", { timeout: 5000 })).incr();
        return { state, pinned, fresh };`,
        20_000,
      );
      console.log(`  after the restart: circuit ${after.state}; pinned ref → ${after.pinned}`);
      assert.equal(after.state, "closed");
      assert.match(after.pinned, /Actor not found/);
      assert.equal(after.fresh, 101);
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "breaker: a stopped node declared dead opens the circuit (calls fail fast instead of hanging); after SIGCONT the same pinned ref works again",
  opts,
  async () => {
    const nodes: NodeProc[] = [];
    try {
      const caller = await startNode();
      nodes.push(caller);
      const target = await startNode({ seeds: [caller.addr] });
      nodes.push(target);
      const third = await startNode({ seeds: [caller.addr] });
      nodes.push(third);
      await target.run(`await Counter.spawn({ name: "svc", args: [10] });`);
      assert.equal(
        await caller.run(`
          globalThis.ref = await Counter.resolve("svc", { timeout: 5000 });
          return await globalThis.ref.incr();`),
        11,
      );
      target.kill("SIGSTOP");
      // the first call hangs until membership declares the node dead (its socket stays open)
      const first = await caller.run<Attempt[]>(callLoop(1), 20_000);
      const rest = await caller.run<Attempt[]>(callLoop(10));
      console.log(
        `  SIGSTOP: first call failed after ${first[0].ms.toFixed(0)} ms (${first[0].msg}); ` +
          `then ${rest.map((a) => a.ms.toFixed(2)).join(", ")} ms`,
      );
      assert.equal(first[0].ok, false);
      assert.ok(first[0].ms < 5000, `the hung call took ${first[0].ms} ms`);
      for (const a of rest) {
        assert.match(
          a.msg,
          new RegExp(`circuit open for node ${target.addr} \\(declared dead\\); retrying in`),
        );
        assert.ok(a.ms < 5, `a fail-fast call took ${a.ms} ms`);
      }
      target.kill("SIGCONT");
      const back = await caller.run<{ v: number; waited: number }>(
        `
        const t0 = Date.now();
        for (;;) {
          try {
            return { v: await globalThis.ref.incr(), waited: Date.now() - t0 };
          } catch (e) {
            if (Date.now() - t0 > 10000) throw e;
            await new Promise((r) => setTimeout(r, 20));
          }
        }`,
        20_000,
      );
      console.log(`  SIGCONT: the pinned ref answered again after ${back.waited} ms`);
      // 12, or 13 when the call that failed had reached the stopped process's socket and ran on
      // resume (a connection-level failure may have run: that is why it is never retried)
      assert.ok(back.v === 12 || back.v === 13, `value ${back.v}`);
      assert.equal(
        await caller.run(`return system.cluster.circuit(${JSON.stringify(target.addr)});`),
        "closed",
      );
    } finally {
      await stopAll(nodes);
    }
  },
);
