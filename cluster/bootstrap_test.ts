import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import {
  BootstrapEnvError,
  bootstrapWith,
  initInsideTorchrunWith,
  planBootstrap,
  type StartNode,
} from "./bootstrap.ts";
import type { ActorSystem } from "../core/system.ts";

const from = (vars: Record<string, string>) => (k: string): string | undefined => vars[k];
const TORCH = { RANK: "0", WORLD_SIZE: "3", MASTER_ADDR: "10.0.0.1", MASTER_PORT: "29500" };
const SLURM = {
  SLURM_PROCID: "2",
  SLURM_NTASKS: "4",
  SLURM_JOB_NODELIST: "gpu[07-08,10],cpu1",
  SLURM_JOB_ID: "123456",
};

function throwsNaming(fn: () => unknown, vars: string[], text?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BootstrapEnvError, `not a BootstrapEnvError: ${e}`);
    for (const v of vars) {
      assert.ok(e.variables.includes(v), `${v} not in ${e.variables}`);
      assert.ok(e.message.includes(v), `${v} not named in: ${e.message}`);
    }
    if (text) assert.match(e.message, text);
    return true;
  });
}

Deno.test("plan: torchrun rank 0 is the seed at MASTER_PORT+1, others join it", () => {
  const p0 = planBootstrap({ env: from(TORCH) });
  assert.equal(p0.source, "torchrun");
  assert.equal(p0.isSeed, true);
  assert.equal(p0.worldSize, 3);
  assert.deepEqual(p0.node.seeds, []);
  assert.equal(p0.node.addr, "0.0.0.0:29501");
  assert.equal(p0.node.advertiseAddr, "10.0.0.1:29501");
  const p2 = planBootstrap({ env: from({ ...TORCH, RANK: "2", LOCAL_RANK: "0" }) });
  assert.equal(p2.isSeed, false);
  assert.equal(p2.rank, 2);
  assert.equal(p2.localRank, 0);
  assert.deepEqual(p2.node.seeds, ["10.0.0.1:29501"]);
  assert.equal(p2.node.addr, "0.0.0.0:0");
  // loopback master: everything stays on loopback; offset is an option
  const local = planBootstrap({
    env: from({ ...TORCH, MASTER_ADDR: "127.0.0.1", RANK: "1" }),
    torchrun: { portOffset: 7 },
  });
  assert.equal(local.node.addr, "127.0.0.1:0");
  assert.deepEqual(local.node.seeds, ["127.0.0.1:29507"]);
  // PULSING_PASSPHRASE applies; PULSING_ADDR sets the bind host of a seed
  const tls = planBootstrap({
    env: from({ ...TORCH, PULSING_PASSPHRASE: "s3cret", PULSING_ADDR: "10.0.0.1:0" }),
  });
  assert.equal(tls.node.passphrase, "s3cret");
  assert.equal(tls.node.addr, "10.0.0.1:29501");
  assert.deepEqual(tls.variables.sort(), [
    "MASTER_ADDR",
    "MASTER_PORT",
    "PULSING_ADDR",
    "PULSING_PASSPHRASE",
    "RANK",
    "WORLD_SIZE",
  ]);
});

Deno.test("plan: bad or contradictory torchrun variables name the variables", () => {
  throwsNaming(() => planBootstrap({ env: from({ RANK: "1" }) }), [
    "WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
  ]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, RANK: "3" }) }), ["RANK", "WORLD_SIZE"]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, RANK: "-1" }) }), ["RANK"]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, WORLD_SIZE: "two" }) }), ["WORLD_SIZE"]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, MASTER_PORT: "65535" }) }), [
    "MASTER_PORT",
  ]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, MASTER_ADDR: "a b" }) }), [
    "MASTER_ADDR",
  ]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, RANK: "1", LOCAL_RANK: "2" }) }), [
    "LOCAL_RANK",
    "RANK",
  ]);
  throwsNaming(
    () =>
      planBootstrap({
        env: from({ ...TORCH, RANK: "2", LOCAL_RANK: "2", LOCAL_WORLD_SIZE: "2" }),
      }),
    ["LOCAL_RANK", "LOCAL_WORLD_SIZE"],
  );
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, PULSING_SEEDS: "h:1" }) }), [
    "PULSING_SEEDS",
    "RANK",
    "MASTER_ADDR",
  ]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, PULSING_WORLD_SIZE: "4" }) }), [
    "PULSING_WORLD_SIZE",
    "WORLD_SIZE",
  ]);
  throwsNaming(() => planBootstrap({ env: from({ ...TORCH, PULSING_ADDR: "0.0.0.0:9" }) }), [
    "PULSING_ADDR",
  ], /port 29501/);
});

Deno.test("plan: Slurm expands the node list, the first host is the seed", () => {
  const p = planBootstrap({ env: from(SLURM) });
  assert.equal(p.source, "slurm");
  assert.equal(p.rank, 2);
  assert.equal(p.worldSize, 4);
  assert.equal(p.isSeed, false);
  assert.deepEqual(p.node.seeds, [`gpu07:${15000 + 123456 % 10000}`]);
  const p0 = planBootstrap({ env: from({ ...SLURM, SLURM_PROCID: "0" }), slurm: { port: 7100 } });
  assert.equal(p0.isSeed, true);
  assert.equal(p0.node.addr, "0.0.0.0:7100");
  // with node name and local id: the first task on the first host is the seed, whatever its id
  const byNode = planBootstrap({
    env: from({ ...SLURM, SLURM_PROCID: "3", SLURMD_NODENAME: "gpu07", SLURM_LOCALID: "0" }),
  });
  assert.equal(byNode.isSeed, true);
  // the step list wins over the job list
  const step = planBootstrap({
    env: from({ ...SLURM, SLURM_STEP_NODELIST: "cpu[3-4]" }),
    slurm: { port: 7100 },
  });
  assert.deepEqual(step.node.seeds, ["cpu3:7100"]);
  // torchrun variables come first when both are set
  assert.equal(planBootstrap({ env: from({ ...SLURM, ...TORCH }) }).source, "torchrun");
  assert.equal(
    planBootstrap({ env: from({ ...SLURM, ...TORCH }), sources: ["slurm"] }).source,
    "slurm",
  );
});

Deno.test("plan: bad Slurm variables name the variables", () => {
  throwsNaming(() => planBootstrap({ env: from({ SLURM_PROCID: "0" }) }), [
    "SLURM_NTASKS",
    "SLURM_JOB_NODELIST",
  ]);
  throwsNaming(() => planBootstrap({ env: from({ ...SLURM, SLURM_PROCID: "4" }) }), [
    "SLURM_PROCID",
    "SLURM_NTASKS",
  ]);
  throwsNaming(
    () => planBootstrap({ env: from({ ...SLURM, SLURM_JOB_NODELIST: "gpu[07-" }) }),
    ["SLURM_JOB_NODELIST"],
    /Invalid Slurm host list/,
  );
  throwsNaming(() => planBootstrap({ env: from({ ...SLURM, PULSING_HEAD_ADDR: "h:1" }) }), [
    "PULSING_HEAD_ADDR",
    "SLURM_PROCID",
  ]);
});

Deno.test("plan: plain environment, Kubernetes, none", () => {
  const e = planBootstrap({
    env: from({ PULSING_ADDR: "0.0.0.0:7001", PULSING_SEEDS: "10.0.0.1:7000, 10.0.0.2:7000" }),
  });
  assert.equal(e.source, "env");
  assert.deepEqual(e.node.seeds, ["10.0.0.1:7000", "10.0.0.2:7000"]);
  assert.equal(e.node.addr, "0.0.0.0:7001");
  const head = planBootstrap({ env: from({ PULSING_HEAD_ADDR: "10.0.0.1:7000" }) });
  assert.equal(head.node.headAddr, "10.0.0.1:7000");
  assert.deepEqual(head.node.seeds, ["10.0.0.1:7000"]);
  throwsNaming(() => planBootstrap({ env: from({ PULSING_SEEDS: "nope" }) }), ["PULSING_SEEDS"]);
  throwsNaming(
    () => planBootstrap({ env: from({ PULSING_SEEDS: "a:1", PULSING_HEAD_ADDR: "b:1" }) }),
    ["PULSING_SEEDS", "PULSING_HEAD_ADDR"],
  );
  throwsNaming(() => planBootstrap({ env: from({ PULSING_WORLD_SIZE: "0" }) }), [
    "PULSING_WORLD_SIZE",
  ]);
  const k = planBootstrap({
    env: from({ POD_IP: "10.1.2.3", PULSING_WORLD_SIZE: "3" }),
    kubernetes: { service: "pulsing-headless", port: 7946 },
  });
  assert.equal(k.source, "kubernetes");
  assert.equal(k.node.addr, "0.0.0.0:7946");
  assert.equal(k.node.advertiseAddr, "10.1.2.3:7946");
  assert.equal(k.worldSize, 3);
  throwsNaming(
    () =>
      planBootstrap({
        env: from({ PULSING_WORLD_SIZE: "3" }),
        kubernetes: { service: "s", port: 1, replicas: 2 },
      }),
    ["PULSING_WORLD_SIZE", "kubernetes.replicas"],
  );
  const none = planBootstrap({ env: () => undefined });
  assert.equal(none.source, "none");
  assert.deepEqual(none.node, {});
});

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Start independent systems, remembering them to shut them down. */
function starter(systems: ActorSystem[]): StartNode {
  return async (o) => {
    const s = await pul.actorSystem({ ...o, logger: () => {} });
    systems.push(s);
    return s;
  };
}

Deno.test("bootstrapWith: no launcher, in-process node, ready at once, onReady once", async () => {
  const systems: ActorSystem[] = [];
  let calls = 0;
  try {
    const ok = await bootstrapWith(starter(systems), {
      env: () => undefined,
      onReady: () => void calls++,
    });
    assert.equal(ok, true);
    assert.equal(systems.length, 1);
    assert.equal(systems[0].addr, "");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(calls, 1);
  } finally {
    await Promise.all(systems.map((s) => s.shutdown()));
  }
});

Deno.test("bootstrapWith: waitTimeout gives false, onReady fires once when the world completes later", async () => {
  const systems: ActorSystem[] = [];
  const ready: ActorSystem[] = [];
  try {
    const port = freePort();
    const env = { ...TORCH, MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port - 1) };
    const started = Date.now();
    const ok = await bootstrapWith(starter(systems), {
      env: from({ ...env, WORLD_SIZE: "2" }),
      waitTimeout: 400,
      onReady: (s) => void ready.push(s),
    });
    assert.equal(ok, false);
    assert.ok(Date.now() - started >= 380);
    assert.equal(ready.length, 0);
    assert.equal(
      await bootstrapWith(starter(systems), {
        env: from({ ...env, WORLD_SIZE: "2", RANK: "1" }),
        waitTimeout: 0,
      }),
      true,
      "waitTimeout 0 answers at once: rank 1 joined rank 0 while starting",
    );
    for (let i = 0; i < 100 && ready.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(ready.length, 1);
    assert.equal(ready[0], systems[0]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ready.length, 1, "onReady fires once");
  } finally {
    await Promise.all(systems.map((s) => s.shutdown()));
  }
});

Deno.test("bootstrapWith: Kubernetes service with several A records re-resolved as pods appear", async () => {
  const systems: ActorSystem[] = [];
  const port = freePort();
  // The stub DNS lists pods as they come up, as a headless service does.
  const published: string[] = [];
  const resolve = (name: string): Promise<string[]> => {
    assert.equal(name, "pulsing-headless");
    return Promise.resolve([...published]);
  };
  try {
    const pods = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    const results = await Promise.all(
      pods.map((ip, i) =>
        new Promise((r) => setTimeout(r, i * 150)).then(() => {
          published.push(ip);
          return bootstrapWith(starter(systems), {
            env: from({ PULSING_ADDR: `${ip}:${port}` }),
            kubernetes: { service: "pulsing-headless", port, resolve, intervalMs: 200 },
            waitTimeout: 15_000,
          });
        })
      ),
    );
    assert.deepEqual(results, [true, true, true]);
    for (const s of systems) {
      const alive = (await s.members()).filter((m) => m.status === "alive").map((m) => m.addr);
      assert.deepEqual(alive.sort(), pods.map((ip) => `${ip}:${port}`));
    }
  } finally {
    await Promise.all(systems.map((s) => s.shutdown()));
  }
});

Deno.test("bootstrapWith: Kubernetes pods that all start alone find each other when DNS catches up", async () => {
  const systems: ActorSystem[] = [];
  const port = freePort();
  const pods = ["127.0.0.4", "127.0.0.5", "127.0.0.6"];
  let published: string[] = [];
  const timer = setTimeout(() => published = pods, 500);
  try {
    const results = await Promise.all(pods.map((ip) =>
      bootstrapWith(starter(systems), {
        env: from({ PULSING_ADDR: `${ip}:${port}` }),
        kubernetes: {
          service: "svc",
          port,
          replicas: 3,
          resolve: () => Promise.resolve([...published]),
          intervalMs: 200,
        },
        waitTimeout: 15_000,
      })
    ));
    assert.deepEqual(results, [true, true, true]);
  } finally {
    clearTimeout(timer);
    await Promise.all(systems.map((s) => s.shutdown()));
  }
});

Deno.test("initInsideTorchrunWith: starts one node; without torchrun variables it says which", async () => {
  assert.throws(
    () => initInsideTorchrunWith(pul.actorSystem, { env: () => undefined }),
    /RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT/,
  );
  const port = freePort();
  const s = await initInsideTorchrunWith((o) => pul.actorSystem({ ...o, logger: () => {} }), {
    env: from({ ...TORCH, MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port - 1) }),
  });
  try {
    assert.equal(s.addr, `127.0.0.1:${port}`);
  } finally {
    await s.shutdown();
  }
});
