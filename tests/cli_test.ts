/**
 * The `pulsing` CLI (cli/main.ts) run as a real subprocess against a live two-node cluster:
 * inspect (tables and JSON), call (plain, streaming, errors), the actor launcher (started,
 * called from another node, SIGTERM → graceful leave and exit 0), bench, usage errors and
 * help texts. Every process started here is stopped here, by its own handle.
 */
import assert from "node:assert/strict";
import { type NodeProc, startCluster, stopAll } from "./_cluster.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
const MOD = new URL("../mod.ts", import.meta.url).href;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cliCommand(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "" },
  });
}

/** Run the CLI to completion (killed after 60 s). */
async function cli(...args: string[]): Promise<CliResult> {
  const child = cliCommand(args).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A CLI process whose stdout is read line by line while it runs. */
class LiveCli {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  stderr = "";
  #waiters: (() => void)[] = [];
  #done: Promise<void>;

  constructor(args: string[]) {
    const child = cliCommand(args).spawn();
    this.child = child;
    const dec = new TextDecoder();
    this.#done = (async () => {
      let buf = "";
      for await (const c of child.stdout) {
        buf += dec.decode(c, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
        for (const w of this.#waiters.splice(0)) w();
      }
      for (const w of this.#waiters.splice(0)) w();
    })();
    (async () => {
      for await (const c of child.stderr) this.stderr += dec.decode(c, { stream: true });
    })().catch(() => {});
  }

  /** Wait until `n` lines were printed (fails after `ms`). */
  async waitLines(n: number, ms = 20_000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (this.lines.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `waited ${ms} ms for ${n} lines; got ${this.lines}; stderr: ${this.stderr}`,
        );
      }
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => t = setTimeout(r, Math.min(left, 200))),
      ]);
      clearTimeout(t);
    }
    return this.lines.slice(0, n);
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch { /* gone */ }
  }

  /** Wait for exit (SIGKILL after `ms`). */
  async exit(ms = 15_000): Promise<number> {
    const timer = setTimeout(() => this.kill("SIGKILL"), ms);
    const status = await this.child.status;
    clearTimeout(timer);
    await this.#done;
    return status.code;
  }
}

/** Poll `check` until it returns true (bounded). */
async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

function assertOneLineError(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.match(lines[0], pattern);
  assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace: ${r.stderr}`);
  assert.ok(lines.length <= (code === 2 ? 2 : 1), `short error: ${r.stderr}`);
}

Deno.test("cli: commands against a live two-node cluster", async (t) => {
  const nodes: NodeProc[] = await startCluster(2);
  const [n0, n1] = nodes;
  const seeds = ["--seeds", n0.addr];
  try {
    await n0.run(`await Counter.spawn({ name: "counter", args: [5] }); return null;`);
    await n1.run(`await Streamer.spawn({ name: "streamer" }); return null;`);
    await n0.run(`await pul.resolve("streamer", { timeout: 5000 }); return null;`);
    await n1.run(`await pul.resolve("counter", { timeout: 5000 }); return null;`);

    await t.step("inspect members: table and --json, the observer left out", async () => {
      const r = await cli("inspect", "members", ...seeds);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert.match(lines[0], /^NODE ID\s+ADDRESS\s+STATUS$/);
      for (const n of nodes) {
        assert.ok(
          lines.some((l) => l.startsWith(n.nodeId) && l.includes(n.addr) && l.endsWith("alive")),
          r.stdout,
        );
      }
      assert.match(lines.at(-1)!, /^2 member\(s\): 2 alive$/);

      const j = await cli("inspect", "members", "--json", ...seeds);
      assert.equal(j.code, 0, j.stderr);
      const members = JSON.parse(j.stdout) as { nodeId: string; addr: string; status: string }[];
      assert.deepEqual(
        members.map((m) => m.nodeId).sort(),
        [n0.nodeId, n1.nodeId].sort(),
      );
      assert.ok(members.every((m) => m.status === "alive"));
    });

    await t.step("inspect actors: path, instances, nodes, class; --json", async () => {
      const r = await cli("inspect", "actors", ...seeds);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert.match(lines[0], /^PATH\s+INSTANCES\s+NODES\s+CLASS$/);
      const row = (path: string) => lines.find((l) => l.startsWith(path + " "))?.split(/\s+/);
      assert.deepEqual(row("actors/counter"), ["actors/counter", "1", n0.addr, "Counter"]);
      assert.deepEqual(row("actors/streamer"), ["actors/streamer", "1", n1.addr, "Streamer"]);
      assert.equal(lines.at(-1), "2 actor(s), 2 instance(s) across 2 node(s)");

      const j = await cli("inspect", "actors", "--json", ...seeds);
      assert.equal(j.code, 0, j.stderr);
      const actors = JSON.parse(j.stdout) as {
        path: string;
        instanceCount: number;
        instances: { nodeId: string; metadata?: Record<string, string> }[];
      }[];
      const counter = actors.find((a) => a.path === "actors/counter");
      assert.equal(counter?.instanceCount, 1);
      assert.equal(counter?.instances[0].nodeId, n0.nodeId);
      assert.equal(counter?.instances[0].metadata?.class, "Counter");

      const f = await cli("inspect", "actors", "--filter", "stream", "--json", ...seeds);
      assert.deepEqual((JSON.parse(f.stdout) as { path: string }[]).map((a) => a.path), [
        "actors/streamer",
      ]);
    });

    await t.step("call: plain result as JSON", async () => {
      const r = await cli("call", "counter", "incr", "2", ...seeds);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "7\n");
      const e = await cli("call", "counter", "echo", '{"a":[1,"x",null]}', ...seeds);
      assert.equal(e.code, 0, e.stderr);
      assert.deepEqual(JSON.parse(e.stdout), { a: [1, "x", null] });
      const neg = await cli("call", "counter", "incr", "-3", ...seeds);
      assert.equal(neg.stdout, "4\n", neg.stderr);
    });

    await t.step("inspect metrics: per-node actors and messages from the probe", async () => {
      const r = await cli("inspect", "metrics", "--json", ...seeds);
      assert.equal(r.code, 0, r.stderr);
      const rows = JSON.parse(r.stdout) as {
        nodeId: string;
        source: string;
        actors: number;
        named: number;
        messages: number;
      }[];
      assert.equal(rows.length, 2);
      const r0 = rows.find((x) => x.nodeId === n0.nodeId)!;
      assert.equal(r0.source, "probe");
      assert.equal(r0.named, 1); // counter (the probe itself is left out)
      assert.ok(r0.messages >= 3, `counter handled the 3 calls: ${r.stdout}`);
      const tbl = await cli("inspect", "metrics", ...seeds);
      assert.equal(tbl.code, 0, tbl.stderr);
      assert.match(
        tbl.stdout,
        /^NODE ID\s+ADDRESS\s+ACTORS\s+NAMED\s+MESSAGES\s+MAILBOX\s+SOURCE$/m,
      );
      assert.match(
        tbl.stdout,
        new RegExp(`^${n0.nodeId.slice(0, 8)}\\s+${n0.addr}\\s+\\d+\\s+1\\s`, "m"),
      );
    });

    await t.step("call: a stream prints one line per item", async () => {
      const r = await cli("call", "streamer", "count", "4", ...seeds);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "0\n1\n2\n3\n");
    });

    await t.step("call: errors are one line and exit 1", async () => {
      assertOneLineError(
        await cli("call", "counter", "fail", "404", ...seeds),
        1,
        /^error: PulsingBusinessError \[404\]: business says no$/,
      );
      assertOneLineError(
        await cli("call", "counter", "boom", ...seeds),
        1,
        /^error: PulsingActorError \(RangeError\): out of range$/,
      );
      assertOneLineError(
        await cli("call", "nobody", "x", ...seeds),
        1,
        /^error: PulsingRuntimeError: Named actor not found: actors\/nobody$/,
      );
      assertOneLineError(
        await cli("call", "streamer", "failAt", "2", ...seeds),
        1,
        /^error: .*stream error at 2/,
      );
    });

    await t.step("bench: places an echo actor on a node and reports", async () => {
      const r = await cli(
        "bench",
        "--seconds",
        "1",
        "--concurrency",
        "4",
        "--json",
        ...seeds,
      );
      assert.equal(r.code, 0, r.stderr);
      const rep = JSON.parse(r.stdout) as {
        calls: number;
        errors: number;
        placement: string;
        latencyMs: { p50: number; p99: number };
      };
      assert.ok(rep.calls > 0);
      assert.equal(rep.errors, 0);
      assert.equal(rep.placement, "remote");
      assert.ok(rep.latencyMs.p50 > 0 && rep.latencyMs.p99 >= rep.latencyMs.p50);
      assert.match(r.stderr, /calls .*\/s {2}p50 /); // the progress line
      // The temporary echo actor stopped at the end.
      await eventually("bench echo actor gone", async () => {
        const names = await n1.run<string[]>(
          `return (await system.allNamedActors()).map((a) => a.path);`,
        );
        return !names.some((p) => p.startsWith("pulsing/_bench_"));
      });
    });

    await t.step("actor: hosts a named actor until SIGTERM, then leaves and exits 0", async () => {
      const dir = await Deno.makeTempDir({ prefix: "pulsing_cli_" });
      try {
        const mod = `${dir}/greeter.ts`;
        await Deno.writeTextFile(
          mod,
          `import * as pul from ${JSON.stringify(MOD)};
export const Greeter = pul.remote(class Greeter {
  greeting: string;
  constructor(greeting: string) { this.greeting = greeting; }
  greet(name: string): string { return this.greeting + " " + name; }
});
`,
        );
        const proc = new LiveCli([
          "actor",
          mod,
          "Greeter",
          "--name",
          "greeter",
          "--args",
          '["hi"]',
          "--http",
          "0",
          ...seeds,
        ]);
        try {
          const [gwLine, line] = await proc.waitLines(2);
          const gw = /^\[greeter\] HTTP gateway at (http:\/\/127\.0\.0\.1:\d+)$/.exec(gwLine);
          assert.ok(gw, `gateway line: ${gwLine}`);
          const m = /^\[greeter\] Started at (127\.0\.0\.1:\d+)$/.exec(line);
          assert.ok(m, `started line: ${line}`);
          const addr = m[1];
          assert.equal(
            await n1.run(
              `return await (await pul.resolve("greeter", { timeout: 5000 })).greet("bo");`,
            ),
            "hi bo",
          );
          const r = await cli("call", "greeter", "greet", '"cli"', ...seeds);
          assert.equal(r.stdout, '"hi cli"\n', r.stderr);

          // Through its gateway (--http): a call reaching another node, a stream, the metrics.
          const viaGw = await cli("call", "counter", "get_", "--http", gw[1]);
          assert.equal(viaGw.code, 0, viaGw.stderr);
          assert.match(viaGw.stdout, /^\d+\n$/);
          const streamGw = await cli("call", "streamer", "count", "2", "--http", gw[1]);
          assert.equal(streamGw.stdout, "0\n1\n", streamGw.stderr);
          assertOneLineError(
            await cli("call", "counter", "fail", "409", "--http", gw[1]),
            1,
            /^error: PulsingBusinessError \[409\]: business says no$/,
          );
          const mj = await cli("inspect", "metrics", "--json", "--http", gw[1]);
          assert.equal(mj.code, 0, mj.stderr);
          const [row] = JSON.parse(mj.stdout) as { addr: string; named: number; source: string }[];
          assert.deepEqual([row.addr, row.named, row.source], [addr, 1, "gateway"]);
          const members = await cli("inspect", "members", "--json", "--http", gw[1]);
          assert.ok(
            (JSON.parse(members.stdout) as { addr: string }[]).some((x) => x.addr === n0.addr),
          );

          proc.kill("SIGTERM");
          assert.equal(await proc.exit(), 0, proc.stderr);
          assert.match(proc.stderr, /\[greeter\] SIGTERM: stopping/);
          await eventually("the actor node is 'left' on n1", async () => {
            const ms = await n1.run<{ addr: string; status: string }[]>(
              `return await system.members();`,
            );
            return ms.some((x) => x.addr === addr && x.status === "left");
          });
          const gone = await n1.run<boolean>(
            `try { await pul.resolve("greeter"); return false; } catch { return true; }`,
          );
          assert.equal(gone, true, "its name is gone");
        } finally {
          proc.kill("SIGKILL");
          await proc.exit();
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("actor: a second signal while stopping forces exit 1", async () => {
      const dir = await Deno.makeTempDir({ prefix: "pulsing_cli_" });
      try {
        const mod = `${dir}/idle.ts`;
        await Deno.writeTextFile(
          mod,
          `import * as pul from ${JSON.stringify(MOD)};
export const Idle = pul.remote(class Idle {
  // onStop takes a while, so the second signal lands during the graceful stop.
  async onStop() { await new Promise((r) => setTimeout(r, 3000)); }
  ping() { return "pong"; }
});
`,
        );
        const proc = new LiveCli(["actor", mod, "Idle", "--name", "idle", ...seeds]);
        try {
          await proc.waitLines(1);
          proc.kill("SIGINT");
          await eventually(
            "graceful stop began",
            () => Promise.resolve(/stopping/.test(proc.stderr)),
          );
          proc.kill("SIGTERM");
          assert.equal(await proc.exit(), 1, proc.stderr);
          assert.match(proc.stderr, /SIGTERM again: forced exit/);
        } finally {
          proc.kill("SIGKILL");
          await proc.exit();
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("actor: errors before start are one line", async () => {
      const dir = await Deno.makeTempDir({ prefix: "pulsing_cli_" });
      try {
        const mod = `${dir}/plain.ts`;
        await Deno.writeTextFile(mod, `export class Plain { f() { return 1; } }\n`);
        assertOneLineError(
          await cli("actor", mod, "Plain", "--name", "p", ...seeds),
          1,
          /^error: PulsingRuntimeError: Plain in .* is a plain class: export it wrapped/,
        );
        assertOneLineError(
          await cli("actor", mod, "Missing", "--name", "p", ...seeds),
          1,
          /^error: PulsingRuntimeError: .* exports no pul.remote class 'Missing'/,
        );
        assertOneLineError(
          await cli("actor", `${dir}/absent.ts`, "X", "--name", "p", ...seeds),
          1,
          /^error: PulsingRuntimeError: cannot import /,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("call: stream items show as they arrive (endless stream)", async () => {
      const proc = new LiveCli(["call", "streamer", "endless", '"cli"', ...seeds]);
      try {
        const first = await proc.waitLines(3);
        assert.deepEqual(first, ["0", "1", "2"]);
      } finally {
        proc.kill("SIGKILL");
        await proc.exit();
      }
      // The caller vanished: the generator is cancelled on the node and its finally runs.
      await eventually("endless generator finalized", async () => {
        const f = await n1.run<string[]>(
          `return await (await pul.resolve("streamer")).finalsSeen();`,
        );
        return f.includes("cli");
      });
    });
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("cli: a cluster with a passphrase needs it", async () => {
  const nodes = await startCluster(2, { passphrase: "cli-s3cret" });
  try {
    const ok = await cli(
      "inspect",
      "members",
      "--json",
      "--seeds",
      nodes[0].addr,
      "--passphrase",
      "cli-s3cret",
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as unknown[]).length, 2);
    assertOneLineError(
      await cli("inspect", "members", "--seeds", nodes[0].addr, "--passphrase", "wrong"),
      1,
      /^error: PulsingRuntimeError: cannot reach any seed \(.*\): .*passphrase mismatch/,
    );
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("cli: usage errors exit 2 with a hint, runtime failures exit 1", async () => {
  const none = await cli();
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: pulsing <command>/);

  assertOneLineError(await cli("frobnicate"), 2, /^error: unknown command 'frobnicate'/);
  const near = await cli("inspekt");
  assert.match(near.stderr, /did you mean 'inspect'\?/);
  assert.match(near.stderr, /run 'pulsing --help' for usage/);

  assertOneLineError(await cli("inspect", "members"), 2, /needs --seeds/);
  assertOneLineError(
    await cli("inspect", "nodes", "--seeds", "127.0.0.1:1"),
    2,
    /^error: unknown subcommand 'inspect nodes' \(expected members, actors, metrics\)$/,
  );
  assertOneLineError(
    await cli("inspect", "members", "--seeds", "127.0.0.1:1", "--bogus"),
    2,
    /unknown option '--bogus'/,
  );
  assertOneLineError(await cli("inspect", "members", "--seeds", "nohost"), 2, /invalid seed/);
  assertOneLineError(await cli("call", "counter", "--seeds", "127.0.0.1:1"), 2, /<method>/);
  assertOneLineError(
    await cli("call", "counter", "echo", "hello", "--seeds", "127.0.0.1:1"),
    2,
    /argument 1 is not JSON: hello/,
  );
  assertOneLineError(
    await cli("bench", "--seconds", "abc", "--seeds", "127.0.0.1:1"),
    2,
    /--seconds' expects a number/,
  );
  assertOneLineError(await cli("actor", "./x.ts", "X"), 2, /needs --name/);
  const usage = await cli("call", "x");
  assert.match(usage.stderr, /run 'pulsing call --help' for usage/);

  // Nothing listens on port 1: the join times out and the command fails cleanly.
  assertOneLineError(
    await cli("inspect", "members", "--seeds", "127.0.0.1:1"),
    1,
    /^error: PulsingRuntimeError: cannot reach any seed \(127\.0\.0\.1:1\)$/,
  );
});

Deno.test("cli: --help at the top level and on each command", async () => {
  for (const args of [["--help"], ["-h"], ["help"]]) {
    const r = await cli(...args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: pulsing <command>/);
    for (const c of ["inspect", "call", "actor", "bench"]) {
      assert.match(r.stdout, new RegExp(`\\n  ${c} `));
    }
  }
  const expect: Record<string, RegExp> = {
    inspect: /members.*actors.*metrics/s,
    call: /streaming .* one JSON line per item/s,
    actor: /SIGINT\/SIGTERM/,
    bench: /--concurrency n/,
  };
  for (const [c, re] of Object.entries(expect)) {
    const r = await cli(c, "--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: pulsing ${c}`));
    assert.match(r.stdout, re);
    const h = await cli("help", c);
    assert.equal(h.stdout, r.stdout);
  }
});
