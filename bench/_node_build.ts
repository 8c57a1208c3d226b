/**
 * Prepares the `pulsing-node` column of `bench/compare.ts`: the same benchmark processes, run
 * by Node 22 against the npm build of the runtime, the way a Node user gets it.
 *
 * 1. Build the package with `scripts/build_npm.ts` (the `deno task build:npm` code) into
 *    `.bench-out/node-npm` (not the repository's `npm/`, which others may be using; the build
 *    only writes inside the repository; JavaScript only, `.d.ts` are not needed to run).
 * 2. `npm pack` it and install the tarball into `<tmp>/pulsing-bench-node/run` with its npm
 *    dependencies (`scripts/_node.ts`, as `deno task test:node` does).
 * 3. Bundle `bench/pulsing_node.ts`, `bench/local_compare.ts` and `bench/memory_idle.ts` with
 *    esbuild into `run/*.mjs`: bench helpers are bundled from source, every import of the
 *    library (`../mod.ts`) becomes the installed package `@pulsing/pulsing`, so Node runs the
 *    built JavaScript.
 *
 * Prints one JSON line: `{"ok":true,"dir":...,"scripts":{...}}` or `{"ok":false,"reason":...}`.
 * Run with `--no-lock` (a build tool; esbuild never enters deno.lock):
 * `deno run -A --no-lock bench/_node_build.ts`.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix
import * as esbuild from "npm:esbuild@0.28.2";
import { buildNpm } from "../scripts/build_npm.ts";
import { installBuiltPackage, ROOT } from "../scripts/_node.ts";

/** Folder of the Node build, inside the OS temp folder. */
export function nodeBenchDir(): string {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${tmp.replace(/\/$/, "")}/pulsing-bench-node`;
}

const ENTRIES = ["pulsing_node", "local_compare", "memory_idle"];

async function main(): Promise<void> {
  const base = nodeBenchDir();
  const t0 = performance.now();
  const npmDir = `${ROOT}/.bench-out/node-npm`;
  await buildNpm({ outDir: npmDir, types: false, verbose: false });
  const t1 = performance.now();
  const runDir = `${base}/run`;
  await installBuiltPackage(npmDir, runDir);
  const t2 = performance.now();
  const modTs = `${ROOT}/mod.ts`;
  await esbuild.build({
    entryPoints: Object.fromEntries(ENTRIES.map((e) => [e, `${ROOT}/bench/${e}.ts`])),
    outdir: runDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node22",
    logLevel: "error",
    plugins: [{
      name: "pulsing-package",
      setup(b) {
        b.onResolve({ filter: /mod\.ts$/ }, (a) => {
          const abs = new URL(a.path, `file://${a.resolveDir}/`).pathname;
          return abs === modTs ? { path: "@pulsing/pulsing", external: true } : undefined;
        });
      },
    }],
  });
  await esbuild.stop();
  console.log(JSON.stringify({
    ok: true,
    dir: runDir,
    scripts: Object.fromEntries(ENTRIES.map((e) => [e, `${runDir}/${e}.mjs`])),
    ms: { build: t1 - t0, install: t2 - t1, bundle: performance.now() - t2 },
  }));
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.log(JSON.stringify({ ok: false, reason: String(e).slice(0, 400) }));
    Deno.exit(1);
  }
}
