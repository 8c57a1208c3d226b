/**
 * Local worker nodes (`startWorkers`): they join, host `placement: "remote"` actors of classes
 * given by module URL, and stop with their parent — gracefully, and on `kill -9` of the parent.
 */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import { startWorkers, type WorkerInfo, type WorkerPool } from "../cluster/workers.ts";
import { Counter } from "./fixtures/classes.ts";

const CLASSES = new URL("./fixtures/classes.ts", import.meta.url).href;
const FIXTURE = new URL("./fixtures/bootstrap_node.ts", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True while `pid` exists and is not a zombie (an orphan's zombie may wait for a reaper). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Kill a leftover worker, only if it still is one of ours (guard against pid reuse). */
function killLeftover(pid: number): void {
  try {
    if (Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("worker_main")) {
      Deno.kill(pid, "SIGKILL");
    }
  } catch { /* gone */ }
}

/** Start one worker and kill it with kill -9 at once (a process this test's node started). */
async function oneWorkerKilled(
  system: pul.ActorSystem,
  pids: number[],
): Promise<{ pool: WorkerPool; first: WorkerInfo }> {
  const pool = await startWorkers(system, 1, { modules: [CLASSES] });
  const first = pool.workers[0];
  pids.push(first.pid);
  Deno.kill(first.pid, "SIGKILL");
  return { pool, first };
}

async function waitGone(pids: number[], ms: number): Promise<number> {
  const start = Date.now();
  while (pids.some(running) && Date.now() - start < ms) await sleep(50);
  return Date.now() - start;
}

Deno.test("workers: 2 workers join, remote placement spreads a module's class over them, shutdown stops them", async () => {
  const system = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  let pids: number[] = [];
  try {
    const pool = await startWorkers(system, 2, { modules: [CLASSES] });
    pids = pool.workers.map((w) => w.pid);
    assert.equal(pool.workers.length, 2);
    assert.ok(pids.every(running));
    let alive: string[] = [];
    for (let i = 0; i < 100; i++) {
      alive = (await system.members()).filter((m) => m.status === "alive").map((m) => m.nodeId);
      if (alive.length === 3) break;
      await sleep(50);
    }
    assert.deepEqual(
      alive.sort(),
      [system.nodeId.value, ...pool.workers.map((w) => w.nodeId)].sort(),
    );
    const workerIds = new Set(pool.workers.map((w) => w.nodeId));
    const used = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const c = await Counter.spawn({ system, placement: "remote", args: [i] });
      const node = pul.refOf(c).nodeId.value;
      assert.ok(workerIds.has(node), `placed on ${node}, not a worker`);
      used.add(node);
      assert.equal(await c.incr(), i + 1);
    }
    assert.equal(used.size, 2, "both workers host actors");
  } finally {
    await system.shutdown();
    const took = await waitGone(pids, 10_000);
    pids.forEach(killLeftover);
    assert.ok(!pids.some(running), `workers still running ${took} ms after shutdown`);
  }
});

Deno.test("workers: a worker killed with kill -9 is replaced by a new one that joins", async () => {
  const system = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  const pids: number[] = [];
  try {
    const { pool, first } = await oneWorkerKilled(system, pids);
    let next = pool.workers[0];
    for (let i = 0; i < 200 && next.pid === first.pid; i++) {
      await sleep(50);
      next = pool.workers[0];
    }
    pids.push(next.pid);
    assert.notEqual(next.pid, first.pid, "no replacement within 10 s");
    assert.notEqual(next.nodeId, first.nodeId);
    assert.equal(pool.restarts, 1);
    assert.ok(running(next.pid));
    // the new worker is a member and hosts remote placements
    let alive: string[] = [];
    for (let i = 0; i < 100; i++) {
      alive = (await system.members()).filter((m) => m.status === "alive").map((m) => m.nodeId);
      if (alive.includes(next.nodeId)) break;
      await sleep(50);
    }
    assert.ok(alive.includes(next.nodeId), "the new worker is not an alive member");
    const c = await Counter.spawn({ system, placement: next.nodeId, args: [41] });
    assert.equal(await c.incr(), 42);
  } finally {
    await system.shutdown();
    await waitGone(pids, 10_000);
    pids.forEach(killLeftover);
    assert.ok(!pids.some(running), "a worker outlived the shutdown");
  }
});

Deno.test({
  name: "workers: a shutdown during a restart's delay cancels it (no timer left, no new worker)",
  sanitizeOps: true, // a restart timer still pending when the test ends fails it
}, async () => {
  const lines: string[] = [];
  const system = await pul.actorSystem({
    addr: "127.0.0.1:0",
    logger: (level, msg) => lines.push(`${level}: ${msg}`),
  });
  const pids: number[] = [];
  try {
    const { pool, first } = await oneWorkerKilled(system, pids);
    for (let i = 0; i < 100 && !lines.some((l) => l.includes("restarting it in")); i++) {
      await sleep(20);
    }
    assert.ok(lines.some((l) => l.includes("restarting it in 500 ms")), lines.join("\n"));
    await system.shutdown(); // within the 500 ms delay, which must be cancelled with it
    assert.equal(pool.restarts, 0);
    assert.equal(pool.workers[0].pid, first.pid);
  } finally {
    await system.shutdown();
    await waitGone(pids, 10_000);
    pids.forEach(killLeftover);
  }
});

Deno.test("workers: refused on an in-process system and for a bad count", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  try {
    await assert.rejects(startWorkers(system, 1), /workers need a networked node/);
    await assert.rejects(startWorkers(system, -1), TypeError);
  } finally {
    await system.shutdown();
  }
});

Deno.test("workers: a worker that cannot start fails startWorkers and leaves nothing running", async () => {
  const system = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  try {
    await assert.rejects(
      startWorkers(system, 2, { modules: ["file:///nonexistent/module.ts"], startTimeout: 20_000 }),
      /exited before joining/,
    );
    assert.equal((await system.members()).filter((m) => m.status === "alive").length, 1);
  } finally {
    await system.shutdown();
  }
});

async function startParent(): Promise<{
  child: Deno.ChildProcess;
  workers: { pid: number; nodeId: string }[];
  stdin: WritableStreamDefaultWriter<Uint8Array>;
}> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", FIXTURE, "workers", "--count", "2", "--module", CLASSES],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const deadline = Date.now() + 30_000;
  while (!buf.includes("\n") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const first = JSON.parse(buf.slice(0, buf.indexOf("\n")));
  assert.ok(first.workers, `parent did not start workers: ${buf}`);
  return { child, workers: first.workers, stdin: child.stdin.getWriter() };
}

Deno.test("workers: kill -9 of the parent process stops its workers within seconds", async () => {
  const { child, workers, stdin } = await startParent();
  const pids = workers.map((w) => w.pid);
  try {
    assert.equal(pids.length, 2);
    assert.ok(pids.every(running), "workers run");
    child.kill("SIGKILL");
    await child.status;
    const took = await waitGone(pids, 10_000);
    assert.ok(!pids.some(running), `workers still running ${took} ms after kill -9 of the parent`);
    console.log(`  workers gone ${took} ms after kill -9 of their parent`);
  } finally {
    await stdin.close().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    pids.forEach(killLeftover);
  }
});

Deno.test("workers: a parent that exits normally takes its workers with it", async () => {
  const { child, workers, stdin } = await startParent();
  const pids = workers.map((w) => w.pid);
  try {
    await stdin.close();
    const status = await child.status;
    assert.equal(status.code, 0);
    const took = await waitGone(pids, 10_000);
    assert.ok(!pids.some(running), `workers still running ${took} ms after the parent exited`);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    pids.forEach(killLeftover);
  }
});

Deno.test("workers: on Node 20 (bundled), workers join, stop on shutdown and on kill -9", async () => {
  try {
    new Deno.Command("node", { args: ["--version"], stdout: "null" }).outputSync();
  } catch {
    console.log("  node not found: skipped");
    return;
  }
  const dir = await Deno.makeTempDir();
  const pids: number[] = [];
  try {
    const root = new URL("../", import.meta.url);
    await Deno.writeTextFile(
      `${dir}/parent.ts`,
      `import * as pul from ${JSON.stringify(new URL("mod.ts", root).href)};
import { startWorkers } from ${JSON.stringify(new URL("cluster/workers.ts", root).href)};
const system = await pul.init({ addr: "127.0.0.1:0" });
const pool = await startWorkers(system, 2, { entry: new URL("./worker_main.mjs", import.meta.url) });
for (let i = 0; i < 100 && (await system.members()).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
console.log(JSON.stringify({ pids: pool.workers.map((w) => w.pid), members: (await system.members()).length }));
if (process.argv[2] === "hang") await new Promise(() => setInterval(() => {}, 1000));
await pul.shutdown();
console.log(JSON.stringify({ codes: await Promise.all(pool.workers.map((w) => w.exited)) }));
`,
    );
    for (
      const [src, out] of [
        [new URL("cluster/worker_main.ts", root).pathname, "worker_main.mjs"],
        [`${dir}/parent.ts`, "parent.mjs"],
      ]
    ) {
      const b = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--config",
          new URL("deno.json", root).pathname,
          "--platform=node",
          "-o",
          `${dir}/${out}`,
          src,
        ],
        stderr: "piped",
      }).output();
      assert.ok(b.success, new TextDecoder().decode(b.stderr));
    }
    // Graceful: pul.shutdown() stops the workers.
    const graceful = await new Deno.Command("node", {
      args: [`${dir}/parent.mjs`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const lines = new TextDecoder().decode(graceful.stdout).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(lines[0].members, 3);
    assert.deepEqual(lines[1].codes, [0, 0]);
    // kill -9 of the Node parent.
    const child = new Deno.Command("node", {
      args: [`${dir}/parent.mjs`, "hang"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    pids.push(...JSON.parse(buf.slice(0, buf.indexOf("\n"))).pids);
    assert.equal(pids.length, 2);
    assert.ok(pids.every(running));
    child.kill("SIGKILL");
    await child.status;
    const took = await waitGone(pids, 10_000);
    assert.ok(!pids.some(running), `Node workers still running ${took} ms after kill -9`);
    console.log(`  Node workers gone ${took} ms after kill -9 of their parent`);
  } finally {
    for (const pid of pids) {
      try {
        if (Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("worker_main")) {
          Deno.kill(pid, "SIGKILL");
        }
      } catch { /* gone */ }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
