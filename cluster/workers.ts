/**
 * Multi-core on one machine: a Deno or Node process runs JavaScript on one core, so
 * {@linkcode startWorkers} starts extra local nodes as subprocesses that join this one.
 * `placement: "remote"` and rendezvous-placed queue buckets and topic brokers then spread over
 * them. The workers stop with their parent, even when the parent is killed with `kill -9`:
 * each one watches a pipe from the parent (the kernel closes it when the parent dies) and the
 * parent's pid.
 *
 * Subprocesses, not Web Workers: `bench/workers_compare.ts` measures both. A Web Worker that
 * runs a node starts in about the same time (60-200 ms for 2) and its calls cost the same TCP
 * hop (~100 us round trip), and CPU-bound throughput was the same within noise; subprocesses
 * also run on Node, and isolate crashes, heaps and event-loop stalls from the parent.
 *
 * @module
 */

import type { ActorSystem } from "../core/system.ts";
import { PulsingRuntimeError } from "../core/errors.ts";
import { parseAddr } from "./addr.ts";
import { IS_DENO as isDeno } from "../core/runtime.ts";

/** Options of {@linkcode startWorkers}. */
export interface StartWorkersOptions {
  /**
   * Module URLs each worker imports after joining (use `import.meta.url` of the modules that
   * define your `pul.remote` classes). Such modules should only define classes: top-level
   * code runs in every worker.
   */
  modules?: (string | URL)[];
  /** Bind address of the workers (default: this node's host, port 0). */
  addr?: string;
  /** The cluster passphrase, when this node has one (passed in the environment, not argv). */
  passphrase?: string;
  /** Extra environment variables for the workers (the parent's environment is inherited). */
  env?: Record<string, string>;
  /**
   * Deno only: arguments before the entry (default `["run", "-A", "--quiet"]`). Pass
   * narrower permissions here to run workers with less than everything.
   */
  denoArgs?: string[];
  /** The worker entry script (default: `worker_main` beside this module, `.ts` or `.js`). */
  entry?: string | URL;
  /** How long to wait for all workers to join, in ms (default 30 000). */
  startTimeout?: number;
  /** On stop, how long to wait for a worker's graceful exit before SIGKILL, in ms (default 5000). */
  stopTimeout?: number;
  /**
   * Start a new worker in place of one that exits while this node runs (default `true`): after
   * 0.5 s, doubling up to 30 s while workers keep dying within a minute of their start. Its
   * actors are gone with it; named ones are re-created by whoever spawned them, or by
   * `placement: "remote"` spawns landing on the new worker.
   */
  restart?: boolean;
}

/** One worker subprocess. */
export interface WorkerInfo {
  /** Its process id. */
  pid: number;
  /** Its node id. */
  nodeId: string;
  /** Its node address. */
  addr: string;
  /** Resolves with its exit code when it has exited. */
  exited: Promise<number | null>;
}

/** The running workers. */
export interface WorkerPool {
  /** The workers, in start order (a restarted worker takes the place of the one it replaces). */
  readonly workers: WorkerInfo[];
  /** How many workers were started again after they exited. */
  readonly restarts: number;
  /** Stop every worker (graceful, then SIGKILL after `stopTimeout`). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Start `n` local worker nodes as subprocesses joined to `system` (which must be a networked
 * node), importing `options.modules` in each. They stop when `system` shuts down, and on their
 * own when this process dies, however it dies.
 *
 * Deno runs them with `Deno.execPath()` (`deno run -A --quiet`); Node with
 * `process.execPath` and the compiled `worker_main.js`.
 *
 * @param system A networked system (`pul.init({ addr })`).
 * @param n How many workers (0 starts none).
 * @param options Modules to import, passphrase, bind address, timeouts.
 * @returns The pool, once every worker has joined.
 * @throws {PulsingRuntimeError} when `system` is not networked, or a worker fails to start
 * (the others are stopped).
 *
 * @example
 * ```ts ignore
 * import * as pul from "@pulsing/pulsing";
 * import { startWorkers } from "./workers.ts";
 * const system = await pul.init({ addr: "127.0.0.1:0" });
 * await startWorkers(system, 2, { modules: [new URL("./my_actors.ts", import.meta.url)] });
 * console.log((await system.members()).length); // 3
 * await pul.shutdown(); // the workers stop too
 * ```
 */
export async function startWorkers(
  system: ActorSystem,
  n: number,
  options: StartWorkersOptions = {},
): Promise<WorkerPool> {
  if (!Number.isInteger(n) || n < 0) {
    throw new TypeError(`workers must be a non-negative integer, got ${n}`);
  }
  if (!system.addr) {
    throw new PulsingRuntimeError(
      "workers need a networked node: start it with an addr (e.g. pul.init({ addr: '127.0.0.1:0', workers }))",
    );
  }
  const host = parseAddr(system.addr).hostname;
  const addr = options.addr ?? (host.includes(":") ? `[${host}]:0` : `${host}:0`);
  const args = [
    "--seed",
    system.addr,
    "--addr",
    addr,
    "--parent",
    String(ownPid()),
    ...(options.modules ?? []).flatMap((m) => ["--module", String(m)]),
  ];
  const env: Record<string, string> = { ...options.env };
  if (options.passphrase !== undefined) env.PULSING_PASSPHRASE = options.passphrase;
  const children = Array.from({ length: n }, () => spawnWorker(args, env, options));
  const stopTimeout = options.stopTimeout ?? 5_000;
  const pool = makePool(children, stopTimeout);
  const timeout = options.startTimeout ?? 30_000;
  try {
    const infos = await readyWithin(
      Promise.all(children.map((c) => c.ready)),
      timeout,
      `workers did not start within ${timeout} ms`,
    );
    pool.workers.push(...infos.map((w, i) => ({ ...w, exited: children[i].exited })));
  } catch (e) {
    await pool.stop();
    throw e;
  }
  // Restart: a worker that exits while we run is replaced in its slot, with a backoff of its
  // own (a slot whose worker keeps dying waits longer; the others are not delayed by it).
  const restart = options.restart ?? true;
  const stopped = () => pool.stopping || system.isShutdown;
  const watch = (slot: number, c: Child, startedAt: number, backoffMs: number): void => {
    c.exited.then(async (code) => {
      if (stopped()) return;
      if (!restart) {
        system.log("warn", `worker ${c.pid} exited (code ${code}); it is not restarted`);
        return;
      }
      // a worker that ran for a while resets the backoff; one that keeps dying doubles it
      const delay = Date.now() - startedAt > RESTART_RESET_MS ? RESTART_MIN_MS : backoffMs;
      system.log("warn", `worker ${c.pid} exited (code ${code}); restarting it in ${delay} ms`);
      await pool.sleep(delay); // never resolves once the pool stops
      if (stopped()) return;
      const next = spawnWorker(args, env, options);
      children[slot] = next;
      try {
        const info = await readyWithin(next.ready, timeout, `not joined within ${timeout} ms`);
        if (stopped()) return;
        pool.workers[slot] = { ...info, exited: next.exited };
        pool.restarts++;
        system.log("info", `worker ${next.pid} (${info.addr}) replaces worker ${c.pid}`);
      } catch (e) {
        if (stopped()) return; // stopped while it started: not a failure
        system.log("warn", `restarted worker ${next.pid} failed: ${(e as Error).message}`);
        next.kill();
      }
      watch(slot, next, Date.now(), Math.min(delay * 2, RESTART_MAX_MS));
    });
  };
  const t0 = Date.now();
  children.forEach((c, i) => watch(i, c, t0, RESTART_MIN_MS));
  system.onShutdown(() => pool.stop());
  return pool;
}

/** First restart delay of a worker, ms. */
const RESTART_MIN_MS = 500;
/** Longest restart delay, ms. */
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before exiting resets the restart delay, ms. */
const RESTART_RESET_MS = 60_000;

/** `ready`, or a `PulsingRuntimeError` with `message` after `ms`. */
async function readyWithin<T>(ready: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      ready,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new PulsingRuntimeError(message)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- subprocesses, on Deno and Node ----

type Ready = Omit<WorkerInfo, "exited">;

interface Child {
  pid: number;
  ready: Promise<Ready>;
  exited: Promise<number | null>;
  closeStdin(): void;
  kill(): void;
}

function makePool(
  children: Child[],
  stopTimeout: number,
): WorkerPool & { stopping: boolean; restarts: number; sleep(ms: number): Promise<void> } {
  let stopped: Promise<void> | undefined;
  const delays = new Set<ReturnType<typeof setTimeout>>();
  const pool = {
    workers: [] as WorkerInfo[],
    restarts: 0,
    stopping: false,
    /** A restart delay; `stop` cancels it (the promise then never resolves). */
    sleep(ms: number): Promise<void> {
      return new Promise<void>((r) => {
        const t = setTimeout(() => {
          delays.delete(t);
          r();
        }, ms);
        delays.add(t);
      });
    },
    stop(): Promise<void> {
      pool.stopping = true;
      for (const t of delays) clearTimeout(t);
      delays.clear();
      stopped ??= Promise.all(children.map(async (c) => {
        c.closeStdin();
        let t: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<void>((r) =>
          t = setTimeout(() => {
            c.kill();
            r();
          }, stopTimeout)
        );
        await Promise.race([c.exited.then(() => {}), late]);
        clearTimeout(t);
        await c.exited;
      })).then(() => {});
      return stopped;
    },
  };
  return pool;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

function ownPid(): number {
  return isDeno ? g.Deno.pid : g.process.pid;
}

function entryUrl(options: StartWorkersOptions): URL {
  if (options.entry !== undefined) return new URL(String(options.entry), import.meta.url);
  const ext = /\.(ts|js|mjs)$/.exec(new URL(import.meta.url).pathname)?.[1] ?? "js";
  return new URL(`./worker_main.${ext}`, import.meta.url);
}

function spawnWorker(
  args: string[],
  env: Record<string, string>,
  options: StartWorkersOptions,
): Child {
  const entry = entryUrl(options);
  return isDeno ? spawnDeno(entry, args, env, options) : spawnNode(entry, args, env);
}

function spawnDeno(
  entry: URL,
  args: string[],
  env: Record<string, string>,
  options: StartWorkersOptions,
): Child {
  const script = entry.protocol === "file:" ? decodeURIComponent(entry.pathname) : entry.href;
  const child = new g.Deno.Command(g.Deno.execPath(), {
    args: [...(options.denoArgs ?? ["run", "-A", "--quiet"]), script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    env,
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines = readLines(child.stdout as ReadableStream<Uint8Array>);
  return {
    pid: child.pid,
    ready: awaitReady(lines, child.pid),
    exited: child.status.then((s: { code: number }) => s.code),
    closeStdin: () => void stdin.close().catch(() => {}),
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    },
  };
}

function spawnNode(entry: URL, args: string[], env: Record<string, string>): Child {
  const cp = g.process.getBuiltinModule("node:child_process");
  const { fileURLToPath } = g.process.getBuiltinModule("node:url");
  const child = cp.spawn(g.process.execPath, [fileURLToPath(entry), ...args], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...g.process.env, ...env },
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code: number) => r(code)));
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      child.stdout.on("data", (b: Uint8Array) => c.enqueue(new Uint8Array(b)));
      child.stdout.on("end", () => c.close());
      child.stdout.on("error", () => c.close());
    },
  });
  child.stdin.on("error", () => {});
  return {
    pid: child.pid,
    ready: awaitReady(readLines(stream), child.pid),
    exited,
    closeStdin: () => child.stdin.end(),
    kill: () => void child.kill("SIGKILL"),
  };
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}

/** Wait for the ready line; afterwards keep forwarding the worker's stdout to ours. */
function awaitReady(lines: AsyncGenerator<string>, pid: number): Promise<Ready> {
  return new Promise<Ready>((resolve, reject) => {
    let ready = false;
    (async () => {
      for await (const line of lines) {
        if (!ready && line.startsWith('{"pulsingWorker":"ready"')) {
          const m = JSON.parse(line) as { addr: string; nodeId: string; pid: number };
          ready = true;
          resolve({ pid, nodeId: m.nodeId, addr: m.addr });
        } else console.log(line);
      }
      if (!ready) reject(new PulsingRuntimeError(`worker ${pid} exited before joining`));
    })().catch(reject);
  });
}
