/**
 * The few runtime services the benchmark processes need, for Deno and for Node (the scripts
 * that run on both, `pulsing_node.ts`, `local_compare.ts` and `memory_idle.ts`, are bundled for
 * Node by `bench/_node_build.ts` and must not touch `Deno.*` directly).
 *
 * @module
 */

// No `node:process` here, nor any touch of `globalThis.process` on Deno: a Deno user of the
// runtime does not load Node compatibility, so the benchmarks do not either. (Before the RPC
// layer's id tables, loading it cut in-process remote asks from ~560k/s to ~395k/s, through the
// garbage retention that cluster/id_table.ts describes; since then it measures the same.)
interface NodeProcessLike {
  version: string;
  argv: string[];
  pid: number;
  exit(code?: number): never;
  memoryUsage(): { rss: number; heapUsed: number; heapTotal: number; external: number };
  cpuUsage(): { user: number; system: number };
  stdin: { on(ev: string, cb: () => void): void; resume(): void };
}

interface DenoLike {
  args: string[];
  pid: number;
  exit(code?: number): never;
  stdin: { read(b: Uint8Array): Promise<number | null> };
  memoryUsage(): { rss: number; heapUsed: number; heapTotal: number; external: number };
  version: { deno: string };
}

const D = (globalThis as { Deno?: DenoLike }).Deno;
/** Node's `process` (read only where `D` is undefined). */
const P = (): NodeProcessLike => (globalThis as unknown as { process: NodeProcessLike }).process;

/** `"deno"` or `"node"`. */
export const runtime: "deno" | "node" = D ? "deno" : "node";

/** e.g. `Deno 2.9.6` or `Node v22.23.3`. */
export const runtimeVersion: string = D ? `Deno ${D.version.deno}` : `Node ${P().version}`;

/** Command-line arguments after the script. */
export function args(): string[] {
  return D ? D.args : P().argv.slice(2);
}

/** This process's id. */
export function pid(): number {
  return D ? D.pid : P().pid;
}

/** Exits the process. */
export function exit(code = 0): never {
  if (D) D.exit(code);
  return P().exit(code);
}

/** Memory figures of this process, bytes. */
export interface MemoryFigures {
  /** Resident set size. */
  rss: number;
  /** V8 heap in use. */
  heapUsed: number;
  /** V8 heap committed. */
  heapTotal: number;
  /** Memory of array buffers and other objects outside the V8 heap. */
  external: number;
}

/** Resident set size and V8 heap, bytes. */
export function memory(): MemoryFigures {
  const m = D ? D.memoryUsage() : P().memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

/** Full GCs when the runtime exposes `gc` (`--v8-flags=--expose-gc` / `--expose-gc`). */
export function settleGc(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  for (let i = 0; i < 3; i++) gc();
  return true;
}

/** Calls `cb` once stdin reaches end of file (the orchestrator closed it or died). */
export function onStdinClose(cb: () => void): void {
  if (D) {
    (async () => {
      const b = new Uint8Array(64);
      try {
        while ((await D.stdin.read(b)) !== null) { /* ignore */ }
      } catch { /* no stdin */ }
      cb();
    })();
    return;
  }
  const stdin = P().stdin;
  stdin.on("end", cb);
  stdin.on("error", cb);
  stdin.resume();
}

/**
 * CPU time this process has used, µs (user + system, all threads). On Deno it is read from
 * `/proc/self/stat` (Linux; 10 ms clock ticks), which needs no Node compatibility layer;
 * elsewhere `NaN`.
 */
export function cpuMicros(): number {
  if (!D) {
    const u = P().cpuUsage();
    return u.user + u.system;
  }
  try {
    const stat = (D as unknown as { readTextFileSync(p: string): string })
      .readTextFileSync("/proc/self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields 14 and 15 of the file (utime, stime), counted after the ") " that ends field 2
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return NaN;
  }
}

/** Prints one JSON line on stdout. */
export function printJson(o: unknown): void {
  console.log(JSON.stringify(o));
}
