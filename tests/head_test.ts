/**
 * Head mode with real `deno` processes on 127.0.0.1 and the default head timings (heartbeat
 * 500 ms, a worker or head silent for 3 s is gone, re-registration backoff 250 ms … 5 s).
 */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import { freePort, type NodeProc, startNode, stopAll } from "./_cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const env = { PULSING_LOG: "info" };

async function startHeadCluster(workers: number, headAddr?: string): Promise<NodeProc[]> {
  const head = await startNode({ isHead: true, addr: headAddr, env });
  const ws = await Promise.all(
    Array.from({ length: workers }, () => startNode({ headAddr: head.addr, env })),
  );
  return [head, ...ws];
}

function waitFor(cond: string, ms: number): string {
  return `
    const until = Date.now() + ${ms};
    while (Date.now() < until) {
      if (await (async () => { ${cond} })()) return Date.now();
      await new Promise((r) => setTimeout(r, 10));
    }
    return -1;`;
}

const hasName = (path: string) =>
  `return (await system.allNamedActors()).some((x) => x.path === ${JSON.stringify(path)});`;

Deno.test("head: isHeadNode with headAddr or seeds is a TypeError", async () => {
  await assert.rejects(
    pul.actorSystem({ addr: "127.0.0.1:0", isHeadNode: true, seeds: ["127.0.0.1:1"] }),
    TypeError,
  );
  await assert.rejects(
    pul.actorSystem({ addr: "127.0.0.1:0", isHeadNode: true, headAddr: "127.0.0.1:1" }),
    TypeError,
  );
  await assert.rejects(
    pul.actorSystem({ addr: "127.0.0.1:0", headAddr: "127.0.0.1:1", seeds: ["127.0.0.1:2"] }),
    TypeError,
  );
});

Deno.test(
  "head: workers see each other's names through the head and call each other",
  opts,
  async () => {
    const nodes = await startHeadCluster(3);
    try {
      const [head, w1, w2, w3] = nodes;
      await w1.run(`await Counter.spawn({ name: "on-w1", args: [10] });`);
      await head.run(`await Counter.spawn({ name: "on-head", args: [20] });`);
      assert.equal(
        await w2.run(`return await (await Counter.resolve("on-w1", { timeout: 10000 })).incr();`),
        11,
      );
      assert.equal(
        await w3.run(`return await (await Counter.resolve("on-head", { timeout: 10000 })).incr();`),
        21,
      );
      const members = await w3.run<{ nodeId: string; status: string }[]>(
        `return await system.members();`,
      );
      assert.deepEqual(
        members.filter((m) => m.status === "alive").map((m) => m.nodeId).sort(),
        [head, w1, w2, w3].map((n) => n.nodeId).sort(),
      );
      // a stopped actor's name vanishes on every worker
      await w1.run(`await system.stop("on-w1");`);
      assert.ok(
        await w3.run<number>(
          waitFor(`return !(await (async () => { ${hasName("actors/on-w1")} })());`, 3000),
        ) > 0,
      );
      // graceful leave of a worker: gone at once from the others
      await w1.run(`await Counter.spawn({ name: "w1-again" });`);
      await w2.run(`await pul.resolve("w1-again", { timeout: 10000 });`);
      const t0 = Date.now();
      await w1.stop();
      const at = await w2.run<number>(waitFor(
        `
      const m = (await system.members()).find((x) => x.nodeId === ${JSON.stringify(w1.nodeId)});
      return m?.status === "left";`,
        3000,
      ));
      console.log(`  worker graceful stop → left on another worker after ${at - t0} ms`);
      assert.ok(at > 0);
      await assert.rejects(w2.run(`await pul.resolve("w1-again");`), /Named actor not found/);
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "head: a silent worker (kill -STOP) is dropped: names gone, callers fail; it comes back after SIGCONT",
  opts,
  async () => {
    const nodes = await startHeadCluster(2);
    try {
      const [head, w1, w2] = nodes;
      await w1.run(`await Counter.spawn({ name: "sleepy", args: [1] });`);
      await w2.run(`
      const c = await Counter.resolve("sleepy", { timeout: 10000 });
      globalThis.callP = c.slow(60000).then(() => "ok", (e) => ({ name: e.name, at: Date.now() }));
      await new Promise((r) => setTimeout(r, 100));`);
      const stoppedAt = Date.now();
      w1.kill("SIGSTOP");
      const call = await w2.run<{ name: string; at: number }>(
        `return await globalThis.callP;`,
        15_000,
      );
      console.log(`  silent worker → its pending call failed after ${call.at - stoppedAt} ms`);
      assert.equal(call.name, "PulsingRuntimeError");
      assert.ok(call.at - stoppedAt < 6000);
      assert.equal(await w2.run(hasName("actors/sleepy")), false);
      assert.equal(await head.run(hasName("actors/sleepy")), false);
      assert.match(head.stderr(), /dropped: silent/);
      w1.kill("SIGCONT");
      assert.equal(
        await w2.run(
          `return await (await Counter.resolve("sleepy", { timeout: 8000 })).incr();`,
          15_000,
        ),
        2,
      );
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "head: head crash → workers keep serving and say so; a restarted head gets everything back",
  opts,
  async () => {
    const headAddr = `127.0.0.1:${freePort()}`;
    const nodes = await startHeadCluster(2, headAddr);
    try {
      const [head, w1, w2] = nodes;
      await w1.run(`await Counter.spawn({ name: "keeps", args: [0] });`);
      await w2.run(`await pul.resolve("keeps", { timeout: 10000 });`);
      head.kill("SIGKILL");
      await head.exited;
      // the worker says it lost the head, and its own actors keep working
      assert.ok(
        await w1.run<number>(
          waitFor(`return (await system.members()).some((m) => m.status === "dead");`, 5000),
        ) > 0,
      );
      await new Promise((r) => setTimeout(r, 200));
      assert.match(w1.stderr(), /lost the head at/);
      assert.equal(await w1.run(`return await (await Counter.resolve("keeps")).incr();`), 1);
      // other workers stay reachable directly while the head is away
      assert.equal(await w2.run(`return await (await Counter.resolve("keeps")).incr();`), 2);
      // the head comes back (new process, same address): workers register again
      const head2 = await startNode({ isHead: true, addr: headAddr, env });
      nodes.push(head2);
      const t0 = Date.now();
      const seen = await head2.run<number>(waitFor(hasName("actors/keeps"), 15_000), 20_000);
      console.log(`  restarted head → worker names back on it after ${seen - t0} ms`);
      assert.ok(seen > 0);
      await head2.run(`await Counter.spawn({ name: "new-head-actor", args: [50] });`);
      assert.equal(
        await w2.run(
          `return await (await Counter.resolve("new-head-actor", { timeout: 8000 })).incr();`,
          15_000,
        ),
        51,
      );
      assert.ok(
        await w1.run<number>(waitFor(
          `
        const ms = await system.members();
        return ms.some((m) => m.nodeId === ${
            JSON.stringify(head2.nodeId)
          } && m.status === "alive");`,
          8000,
        )) > 0,
      );
      assert.match(w1.stderr(), /regained the head at/);
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "head: a worker started before its head runs alone, says so, and registers later",
  opts,
  async () => {
    const headAddr = `127.0.0.1:${freePort()}`;
    const nodes: NodeProc[] = [];
    try {
      const w = await startNode({ headAddr, env });
      nodes.push(w);
      await w.run(`await Counter.spawn({ name: "early", args: [3] });`);
      assert.equal(await w.run(`return await (await Counter.resolve("early")).incr();`), 4);
      assert.match(w.stderr(), /running alone and retrying/);
      const head = await startNode({ isHead: true, addr: headAddr, env });
      nodes.push(head);
      assert.equal(
        await head.run(
          `return await (await Counter.resolve("early", { timeout: 10000 })).incr();`,
          15_000,
        ),
        5,
      );
    } finally {
      await stopAll(nodes);
    }
  },
);

Deno.test(
  "head: stress — rounds of spawn/stop with workers joining, crashing and leaving; every view converges",
  opts,
  async () => {
    const nodes = await startHeadCluster(3);
    const all = [...nodes];
    try {
      const [head] = nodes;
      const live: NodeProc[] = [...nodes];
      const owned = new Map<NodeProc, string[]>(live.map((n) => [n, []]));
      let seq = 0;
      const ROUNDS = 5;
      for (let r = 0; r < ROUNDS; r++) {
        // Membership churn in the middle of the name churn (registration races with deltas).
        const churn: Promise<void>[] = [];
        if (r === 1 || r === 3) {
          churn.push(
            startNode({ headAddr: head.addr, env }).then(async (n) => {
              all.push(n);
              live.push(n);
              const fresh = [0, 1, 2].map(() => `st-${r}-${seq++}`);
              owned.set(n, fresh);
              await n.run(
                `for (const name of ${
                  JSON.stringify(fresh)
                }) await Counter.spawn({ name, args: [1] });`,
              );
            }),
          );
        }
        if (r === 2) {
          const victim = live.splice(1, 1)[0]; // a worker crashes: its names must vanish
          owned.delete(victim);
          victim.kill("SIGKILL");
        }
        if (r === 4) {
          const leaver = live.splice(1, 1)[0]; // a worker leaves gracefully
          owned.delete(leaver);
          churn.push(leaver.stop());
        }
        // Every node spawns three names and stops the older half of its own.
        await Promise.all([...owned].map(async ([n, names]) => { // (not the joining node)
          const fresh = [0, 1, 2].map(() => `st-${r}-${seq++}`);
          const old = names.splice(0, Math.floor(names.length / 2));
          names.push(...fresh);
          await n.run(`
            for (const name of ${JSON.stringify(fresh)}) await Counter.spawn({ name, args: [1] });
            for (const name of ${JSON.stringify(old)}) await system.stop(name);`);
        }));
        await Promise.all(churn);
        const want = [...owned].flatMap(([n, names]) => names.map((x) => `actors/${x}@${n.nodeId}`))
          .sort();
        const ids = live.map((n) => n.nodeId).sort();
        const t0 = Date.now();
        const views = await Promise.all(
          live.map((n) =>
            n.run<{ at: number; have: string[]; alive: string[] }>(
              `
          const want = ${JSON.stringify(want)}, ids = ${JSON.stringify(ids)};
          const until = Date.now() + 15000;
          while (true) {
            const have = (await system.allNamedActors())
              .filter((x) => x.path.startsWith("actors/st-"))
              .flatMap((x) => x.instances.map((i) => x.path + "@" + i.nodeId)).sort();
            const alive = (await system.members()).filter((m) => m.status === "alive")
              .map((m) => m.nodeId).sort();
            const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
            if (same(have, want) && same(alive, ids)) return { at: Date.now(), have, alive };
            if (Date.now() > until) return { at: -1, have, alive };
            await new Promise((r) => setTimeout(r, 20));
          }`,
              25_000,
            )
          ),
        );
        views.forEach((v, i) => {
          assert.ok(
            v.at > 0,
            `round ${r}: node ${i} (${live[i].addr}) did not converge in 15 s:\n` +
              `  names missing ${JSON.stringify(want.filter((x) => !v.have.includes(x)))}, ` +
              `extra ${JSON.stringify(v.have.filter((x) => !want.includes(x)))}\n` +
              `  members missing ${JSON.stringify(ids.filter((x) => !v.alive.includes(x)))}, ` +
              `extra ${JSON.stringify(v.alive.filter((x) => !ids.includes(x)))}`,
          );
        });
        // Every node calls a name of the next node (what failed under load before).
        await Promise.all(live.map(async (n, i) => {
          const next = live[(i + 1) % live.length];
          const name = owned.get(next)!.at(-1)!;
          assert.ok(
            await n.run<number>(
              `return await (await Counter.resolve(${JSON.stringify(name)})).incr();`,
            ) >= 2,
          );
        }));
        console.log(
          `  round ${r}: ${want.length} names on ${live.length} nodes converged after ` +
            `${Math.max(...views.map((v) => v.at)) - t0} ms`,
        );
      }
      const resyncs = all.reduce((k, n) => k + (n.stderr().match(/resyncing/g)?.length ?? 0), 0);
      console.log(`  heartbeat resyncs (divergence repaired) across workers: ${resyncs}`);
    } finally {
      await stopAll(all);
    }
  },
);
