/**
 * The things `bench/compare.ts` measures, behind one adapter interface, {@link Target}.
 *
 * A target runs as separate OS processes on 127.0.0.1: a server process, a client process
 * that runs the workloads of `_workload.ts` against it and prints one JSON line per kind
 * ({@link KindResult}), and for the join figure an observer plus a fresh joiner process.
 * Most targets are therefore just four command lines: see {@link processTarget}.
 *
 * Implemented: `raw` (the physical floor, `raw_echo.ts`), `moleculer` (Moleculer 0.14, TCP
 * transporter, JSON), optionally `moleculer-cbor`, and `pulsing` (our runtime through its
 * public API, `pulsing_node.ts`).
 *
 * @module
 */

import { freePort, type Proc, type ProcGroup } from "./_proc.ts";
import { wallMs } from "./_stats.ts";
import type { Kind, KindResult, Workload } from "./_workload.ts";
import { ensureMoleculer } from "./moleculer/install.ts";

export type { Kind, KindResult, Workload } from "./_workload.ts";
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
  /** Starts a fresh server process and waits until it accepts requests. */
  startServer(ctx: TargetContext): Promise<ServerHandle>;
  /**
   * Runs the client workloads in a fresh client process against `addr`, in order.
   * @returns one result per kind (`metrics`, `unsupported` or `error`)
   */
  runClient(ctx: TargetContext, addr: string, kinds: readonly Kind[]): Promise<KindResult[]>;
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
    async startServer(ctx) {
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
    async runClient(ctx, addr, kinds) {
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
  };
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
  });
}

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
  });
}

/**
 * The Pulsing runtime across processes: `bench/pulsing_node.ts` (a `pul.remote` class `Echo`
 * with `echo`, `ack(bytes)` and an async generator `items(n)`, built on the public API only).
 * The client resolves the named actor `echo` through the cluster, so every figure includes the
 * whole path: proxy → remote ref → RPC (codec, framing, batching) → actor mailbox and back.
 */
export function pulsingTarget(): Target {
  const script = here("./pulsing_node.ts");
  const run = (role: string, port: number, extra: string[] = []): [string, string[]] => [
    deno,
    ["run", "-A", script, role, "--port", `${port}`, ...extra],
  ];
  return processTarget({
    name: "pulsing",
    description: `Pulsing remote actors, Deno ${Deno.version.deno} (pul.init + pul.remote proxy ` +
      "calls over the default Deno TCP transport, plaintext)",
    serverPicksPort: true,
    server: (port) => run("server", port, ["--watch-stdin"]),
    client: (port, kinds, wl) =>
      run("client", port, ["--kinds", kinds.join(","), "--params", JSON.stringify(wl)]),
    joinObserver: (port) => run("join-observer", port),
    joiner: (port) => run("joiner", port),
    joinerReportsReverse: true,
  });
}
