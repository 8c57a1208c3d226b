/**
 * Bootstrap with the environment real launchers set, in real processes on 127.0.0.x: torchrun
 * variables, Slurm variables with a compressed node list, a Kubernetes headless service (a stub
 * resolver with several A records, and the system resolver with `localhost`), plain
 * `PULSING_*` variables with TLS, contradictions, timeouts, no env permission, and Node.
 */
import assert from "node:assert/strict";

const FIXTURE = new URL("./fixtures/bootstrap_node.ts", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fixture process and the JSON lines it printed. */
interface Proc {
  child: Deno.ChildProcess;
  lines: Record<string, unknown>[];
  /** Wait for a line with this key (the `n`-th such line, default first). */
  wait(key: string, ms?: number): Promise<Record<string, unknown>>;
  members(): Promise<string[]>;
  stop(): Promise<void>;
}

/** The variables a launcher would not set, but deno needs (cache, path). */
function baseEnv(): Record<string, string> {
  const out: Record<string, string> = { NO_COLOR: "1" };
  for (const k of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function spawn(
  args: string[],
  env: Record<string, string>,
  perms: string[] = ["-A"],
): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...perms, "--quiet", FIXTURE, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { ...baseEnv(), ...env },
  }).spawn();
  const lines: Record<string, unknown>[] = [];
  let ended = false;
  (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        try {
          lines.push(JSON.parse(buf.slice(0, nl)));
        } catch { /* not ours */ }
        buf = buf.slice(nl + 1);
      }
    }
  })().catch(() => {}).finally(() => ended = true);
  child.stderr.cancel().catch(() => {});
  const stdin = child.stdin.getWriter();
  let seen = 0;
  const proc: Proc = {
    child,
    lines,
    async wait(key, ms = 30_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = lines.find((l) => key in l);
        if (hit) return hit;
        if (ended || Date.now() > deadline) {
          throw new Error(`no "${key}" line in ${ms} ms; got ${JSON.stringify(lines)}`);
        }
        await sleep(20);
      }
    },
    async members() {
      const before = seen++;
      await stdin.write(new TextEncoder().encode("members\n"));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const all = lines.filter((l) => "members" in l);
        if (all.length > before) return all[before].members as string[];
        await sleep(20);
      }
      throw new Error("no members answer");
    },
    async stop() {
      await stdin.close().catch(() => {});
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      await child.status;
      clearTimeout(t);
    },
  };
  return proc;
}

function freePort(hostname = "127.0.0.1"): number {
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

/** Every process bootstrapped `true`, called onReady once, and sees the same members. */
async function assertFormed(procs: Proc[], size: number): Promise<void> {
  const addrs: string[] = [];
  for (const p of procs) {
    const b = await p.wait("bootstrapped");
    assert.equal(b.bootstrapped, true, JSON.stringify(p.lines));
    addrs.push(b.addr as string);
  }
  for (const p of procs) {
    await p.wait("onReady");
    assert.deepEqual(await p.members(), [...addrs].sort());
    assert.equal(p.lines.filter((l) => "onReady" in l).length, 1, "onReady once");
  }
  assert.equal(new Set(addrs).size, size);
}

Deno.test("bootstrap: 4 processes with torchrun variables form one cluster around rank 0", async () => {
  const port = freePort();
  const base = { MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port - 1), WORLD_SIZE: "4" };
  const procs = [0, 1, 2, 3].map((rank) =>
    spawn(["bootstrap"], { ...base, RANK: String(rank), LOCAL_RANK: String(rank) })
  );
  try {
    await assertFormed(procs, 4);
    const rank0 = await procs[0].wait("bootstrapped");
    assert.equal(rank0.addr, `127.0.0.1:${port}`, "rank 0 listens at MASTER_PORT + 1");
    const plan = (await procs[2].wait("plan")).plan as Record<string, unknown>;
    assert.equal(plan.source, "torchrun");
    assert.equal(plan.rank, 2);
  } finally {
    await stopAll(procs);
  }
});

Deno.test("bootstrap: Slurm variables with a compressed node list, seed port from SLURM_JOB_ID", async () => {
  let port = 0;
  for (let p = 15000 + Math.floor(Math.random() * 9000); p < 25000; p++) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port: p }).close();
      port = p;
      break;
    } catch { /* taken */ }
  }
  assert.ok(port > 0);
  const base = {
    SLURM_NTASKS: "2",
    SLURM_JOB_NODELIST: "localhost,gpu[02-03]",
    SLURM_JOB_ID: String(4_560_000 + port - 15000),
  };
  const procs = [0, 1].map((id) => spawn(["bootstrap"], { ...base, SLURM_PROCID: String(id) }));
  try {
    await assertFormed(procs, 2);
    assert.equal((await procs[0].wait("bootstrapped")).addr, `127.0.0.1:${port}`);
    const plan = (await procs[1].wait("plan")).plan as {
      source: string;
      node: { seeds: string[] };
    };
    assert.equal(plan.source, "slurm");
    assert.deepEqual(plan.node.seeds, [`localhost:${port}`]);
  } finally {
    await stopAll(procs);
  }
});

Deno.test("bootstrap: Kubernetes headless service with three A records (stub resolver)", async () => {
  const port = freePort();
  const ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
  const pods = ips.map((ip) =>
    spawn([
      "bootstrap",
      "--k8s-service",
      "pulsing-headless",
      "--k8s-port",
      String(port),
      "--dns-stub",
      ips.join(","),
    ], { PULSING_ADDR: `${ip}:${port}` })
  );
  try {
    await assertFormed(pods, 3);
    assert.deepEqual(await pods[0].members(), ips.map((ip) => `${ip}:${port}`));
  } finally {
    await stopAll(pods);
  }
});

Deno.test("bootstrap: Kubernetes service name resolved by the system resolver (localhost)", async () => {
  const port = freePort();
  const args = ["bootstrap", "--k8s-service", "localhost", "--k8s-port", String(port)];
  const first = spawn(args, { PULSING_ADDR: `127.0.0.1:${port}` });
  const procs = [first];
  try {
    assert.equal((await first.wait("bootstrapped")).bootstrapped, true);
    // A second pod (another loopback address) finds the first through DNS alone.
    procs.push(spawn([...args, "--k8s-replicas", "2"], { PULSING_ADDR: `127.0.0.2:${port}` }));
    await assertFormed(procs, 2);
  } finally {
    await stopAll(procs);
  }
});

Deno.test("bootstrap: PULSING_ADDR, PULSING_SEEDS, PULSING_PASSPHRASE form a TLS cluster", async () => {
  const port = freePort();
  const seed = spawn(["bootstrap"], {
    PULSING_ADDR: `127.0.0.1:${port}`,
    PULSING_PASSPHRASE: "s3cret",
  });
  const procs = [seed];
  try {
    await seed.wait("bootstrapped");
    procs.push(spawn(["bootstrap"], {
      PULSING_SEEDS: `127.0.0.1:${port}`,
      PULSING_PASSPHRASE: "s3cret",
      PULSING_WORLD_SIZE: "2",
    }));
    await assertFormed(procs, 2);
    const plan = (await procs[1].wait("plan")).plan as { source: string; variables: string[] };
    assert.equal(plan.source, "env");
    assert.deepEqual(plan.variables.sort(), [
      "PULSING_PASSPHRASE",
      "PULSING_SEEDS",
      "PULSING_WORLD_SIZE",
    ]);
  } finally {
    await stopAll(procs);
  }
});

Deno.test("bootstrap: contradictory environments fail with the variables named", async () => {
  const cases: [Record<string, string>, string[]][] = [
    [{ RANK: "5", WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1", MASTER_PORT: "29500" }, [
      "RANK",
      "WORLD_SIZE",
    ]],
    [{ RANK: "0", WORLD_SIZE: "2" }, ["MASTER_ADDR", "MASTER_PORT"]],
    [{ SLURM_PROCID: "0", SLURM_NTASKS: "2", SLURM_JOB_NODELIST: "n[1-" }, [
      "SLURM_JOB_NODELIST",
    ]],
    [{ PULSING_SEEDS: "127.0.0.1:1", PULSING_HEAD_ADDR: "127.0.0.1:2" }, [
      "PULSING_SEEDS",
      "PULSING_HEAD_ADDR",
    ]],
  ];
  for (const [env, vars] of cases) {
    const p = spawn(["bootstrap"], env);
    try {
      const status = await p.child.status;
      const err = (await p.wait("error")).error as { name: string; message: string };
      assert.equal(status.code, 2);
      assert.equal(err.name, "BootstrapEnvError");
      for (const v of vars) assert.ok(err.message.includes(v), `${v} not in ${err.message}`);
    } finally {
      await p.stop();
    }
  }
});

Deno.test("bootstrap: waitTimeout gives false, onReady fires once the missing rank arrives", async () => {
  const port = freePort();
  const base = { MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port - 1), WORLD_SIZE: "2" };
  const procs = [spawn(["bootstrap", "--wait", "500"], { ...base, RANK: "1" })];
  try {
    const b = await procs[0].wait("bootstrapped");
    assert.equal(b.bootstrapped, false);
    assert.equal(procs[0].lines.filter((l) => "onReady" in l).length, 0);
    procs.push(spawn(["bootstrap"], { ...base, RANK: "0" }));
    assert.equal((await procs[1].wait("bootstrapped")).bootstrapped, true);
    assert.equal((await procs[0].wait("onReady", 20_000)).onReady, 1);
    await sleep(300);
    assert.equal(procs[0].lines.filter((l) => "onReady" in l).length, 1);
  } finally {
    await stopAll(procs);
  }
});

Deno.test("bootstrap: without env permission on Deno the launcher variables are unseen, no crash", async () => {
  const p = spawn(["plan"], { RANK: "0", WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1" }, [
    "--allow-read",
    "--allow-net",
  ]);
  try {
    const plan = (await p.wait("plan")).plan as { source: string };
    assert.equal(plan.source, "none");
    assert.equal((await p.child.status).code, 0);
  } finally {
    await p.stop();
  }
});

Deno.test("bootstrap: the plan on Node 20 reads process.env", async () => {
  try {
    new Deno.Command("node", { args: ["--version"], stdout: "null" }).outputSync();
  } catch {
    console.log("  node not found: skipped");
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    const entry = `${dir}/entry.ts`;
    await Deno.writeTextFile(
      entry,
      `import { planBootstrap } from ${
        JSON.stringify(new URL("../cluster/bootstrap.ts", import.meta.url).href)
      };\nconsole.log(JSON.stringify(planBootstrap()));\n`,
    );
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform=node", "-o", `${dir}/entry.mjs`, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(bundled.success, new TextDecoder().decode(bundled.stderr));
    const run = await new Deno.Command("node", {
      args: [`${dir}/entry.mjs`],
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        SLURM_PROCID: "1",
        SLURM_NTASKS: "3",
        SLURM_JOB_NODELIST: "node[07-09]",
        SLURM_JOB_ID: "42",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(run.success, new TextDecoder().decode(run.stderr));
    const plan = JSON.parse(new TextDecoder().decode(run.stdout));
    assert.equal(plan.source, "slurm");
    assert.deepEqual(plan.node.seeds, ["node07:15042"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
