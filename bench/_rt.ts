/**
 * The few runtime services the benchmark processes need, for Deno and for Node (the scripts
 * that run on both, `pulsing_node.ts`, `local_compare.ts` and `memory_idle.ts`, are bundled for
 * Node by `bench/_node_build.ts` and must not touch `Deno.*` directly).
 *
 * @module
 */

import process from "node:process";

interface DenoLike {
  args: string[];
  pid: number;
  exit(code?: number): never;
  stdin: { read(b: Uint8Array): Promise<number | null> };
  memoryUsage(): { rss: number; heapUsed: number; heapTotal: number; external: number };
  version: { deno: string };
}

const D = (globalThis as { Deno?: DenoLike }).Deno;

/** `"deno"` or `"node"`. */
export const runtime: "deno" | "node" = D ? "deno" : "node";

/** e.g. `Deno 2.9.6` or `Node v22.23.3`. */
export const runtimeVersion: string = D ? `Deno ${D.version.deno}` : `Node ${process.version}`;

/** Command-line arguments after the script. */
export function args(): string[] {
  return D ? D.args : process.argv.slice(2);
}

/** This process's id. */
export function pid(): number {
  return D ? D.pid : process.pid;
}

/** Exits the process. */
export function exit(code = 0): never {
  if (D) D.exit(code);
  process.exit(code);
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
  const m = D ? D.memoryUsage() : process.memoryUsage();
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
  process.stdin.on("end", cb);
  process.stdin.on("error", cb);
  process.stdin.resume();
}

/** Prints one JSON line on stdout. */
export function printJson(o: unknown): void {
  console.log(JSON.stringify(o));
}
