/**
 * Run the portable part of the Deno test suite on Node, against the built npm package.
 *
 * 1. `npm pack` the build in `npm/` and install the tarball (with its npm dependencies) into
 *    `tools/node/run/`, as a user's project would.
 * 2. Bundle every portable `*_test.ts` (and the Node-only `tests/node/*_nodetest.ts`) with
 *    esbuild. Imports of library modules are NOT bundled: they stay external and point at the
 *    installed package — deno.json's exports by package name (`@pulsing/pulsing/core`, which
 *    exercises the exports map), other modules by their path inside the package — so the tests
 *    exercise the built JavaScript. Test helpers are bundled from source. `Deno` is injected
 *    from `scripts/node_test_shim.mjs` (a module binding, not a global: the library still sees
 *    no Deno), whose `Deno.test` maps to `node:test`.
 * 3. Type-check a small consumer against the installed package's `.d.ts` (tsc, nodenext).
 * 4. `node --test` the bundles with each Node binary and print one summary line per runtime,
 *    then a total `ok | N passed | N failed` line.
 *
 * A test file is portable unless it is listed in {@linkcode EXCLUDED} or its bundle touches a
 * `Deno.*` member that the shim does not provide (spawning `deno`, `Deno.listen`, …); the
 * reason is printed for each excluded file.
 *
 * Usage: `deno run -A --no-lock scripts/node_test.ts [--build] [--node 22|24|<path>]...
 * [--filter <substring>] [--no-types] [--concurrency N]`
 *
 * @module
 */

// A build tool, kept inline (and run with --no-lock) so it never enters the library's import map
// or deno.lock.
// deno-lint-ignore no-import-prefix
import * as esbuild from "npm:esbuild@0.28.2";
import { buildNpm, npmDependencies, parseNpmSpecifier, TYPESCRIPT } from "./build_npm.ts";
import { findNode, installBuiltPackage, type NodeBinary, nodeVersion, ROOT } from "./_node.ts";
import { SHIMMED as SHIMMED_LIST } from "./_shimmed.mjs";

const SHIM = `${ROOT}/scripts/node_test_shim.mjs`;
/** The `Deno.*` members the shim provides. */
const SHIMMED = new Set(SHIMMED_LIST);
/** Folders never searched for tests. */
const SKIP_DIRS = new Set([
  "node_modules",
  "npm",
  "tools",
  "scripts",
  "dist",
  "cov",
  "bench",
  "examples",
]);

/** Test files that cannot run on Node for a reason the `Deno.*` scan does not see. */
export const EXCLUDED: Record<string, string> = {
  "http/dashboard_browser_test.ts": "browser test: drives headless Chromium via playwright-core",
};

/** Per file: `Deno.*` members allowed although unshimmed, because the tests using them are skipped. */
export const ALLOWED: Record<string, string[]> = {};

/**
 * Tests inside portable files that exercise a Deno-only adapter: name pattern and reason, per
 * file (`*` applies to every file).
 */
export const SKIPPED_TESTS: Record<string, [RegExp, string][]> = {
  "*": [[/deno-tcp/, "the Deno TCP transport (Deno.listen, Deno.connect); Node runs node-net"]],
  "cluster/transport/mod_test.ts": [
    [/is Deno TCP on Deno/, "asserts the Deno default; tests/node checks node-net on Node"],
  ],
  "http/serve_test.ts": [[/^deno server/, "the Deno HTTP adapter needs Deno.serve"]],
};

/** How one test file was classified. */
export interface TestFile {
  /** Path relative to the root, e.g. `core/system_test.ts`. */
  rel: string;
  /** Whether it runs on Node. */
  portable: boolean;
  /** Why not, when it does not. */
  reason?: string;
  /** The bundle, when portable. */
  bundle?: string;
  /** Non-test modules bundled from source because the package does not ship them. */
  fromSource?: string[];
}

/** Summary of one `node --test` run. */
export interface RunSummary {
  /** Which Node. */
  node: NodeBinary;
  /** Tests passed. */
  passed: number;
  /** Tests failed or cancelled. */
  failed: number;
  /** Tests skipped. */
  skipped: number;
  /** Wall time in ms. */
  ms: number;
}

async function* findTests(dir: string, rel = ""): AsyncGenerator<string> {
  const entries = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) {
      if (!e.name.startsWith(".") && !(rel === "" && SKIP_DIRS.has(e.name))) {
        yield* findTests(`${dir}/${e.name}`, r);
      }
    } else if (
      e.isFile && (/_test\.ts$/.test(e.name) || /^tests\/node\/.*_nodetest\.ts$/.test(r))
    ) {
      yield r;
    }
  }
}

/**
 * Classify the test files and bundle the portable ones into `<runDir>/tests/`.
 *
 * @param runDir The project folder the package is installed in.
 * @param filter Keep only files whose path contains this.
 * @returns One entry per test file found.
 */
export async function bundleTests(runDir: string, filter?: string): Promise<TestFile[]> {
  const pkgDir = `${runDir}/node_modules/@pulsing/pulsing`;
  const pkg = JSON.parse(await Deno.readTextFile(`${pkgDir}/package.json`)) as {
    name: string;
    exports: Record<string, { import?: string } | string>;
  };
  // source module (absolute .ts path) → how a bundled test imports it from the package
  const target = new Map<string, string>();
  for await (const f of walkFiles(`${pkgDir}/esm`)) {
    if (f.endsWith(".js") && !f.endsWith(".d.js")) {
      const rel = f.slice(pkgDir.length + "/esm/".length).replace(/\.js$/, "");
      target.set(`${ROOT}/${rel}.ts`, f);
    }
  }
  for (const [sub, cond] of Object.entries(pkg.exports)) {
    const file = typeof cond === "string" ? cond : cond.import;
    if (!file?.endsWith(".js")) continue;
    const src = `${ROOT}/${file.replace(/^\.\/esm\//, "").replace(/\.js$/, "")}.ts`;
    if (target.has(src)) target.set(src, pkg.name + sub.slice(1));
  }
  const deno = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const { aliases } = npmDependencies(deno.imports);
  const installed = async (name: string) => {
    try {
      await Deno.stat(`${runDir}/node_modules/${name}/package.json`);
      return true;
    } catch {
      return false;
    }
  };

  const files: TestFile[] = [];
  for await (const rel of findTests(ROOT)) {
    if (!filter || rel.includes(filter)) files.push({ rel, portable: false });
  }
  await Deno.remove(`${runDir}/tests`, { recursive: true }).catch(() => {});

  const plugin: esbuild.Plugin = {
    name: "pulsing-package",
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === "entry-point") return undefined;
        const spec = args.path;
        if (spec.startsWith("node:")) return { path: spec, external: true };
        if (spec.startsWith("npm:")) {
          const p = parseNpmSpecifier(spec)!;
          if (!(await installed(p.name))) {
            return { errors: [{ text: `needs npm package ${p.name}, not a package dependency` }] };
          }
          return { path: p.name + p.subpath, external: true };
        }
        if (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/")) {
          const abs = spec.startsWith("/")
            ? spec
            : decodeURIComponent(new URL(spec, `file://${args.importer}`).pathname);
          const t = target.get(abs);
          if (t !== undefined) return { path: t, external: true };
          if (abs === SHIM) return undefined;
          if (abs.startsWith(ROOT + "/") && /\.(ts|mts|js|mjs)$/.test(abs)) return { path: abs };
          return undefined;
        }
        if (spec in aliases) return { path: aliases[spec], external: true };
        const prefix = Object.keys(aliases).find((k) => k.endsWith("/") && spec.startsWith(k));
        if (prefix) return { path: aliases[prefix] + spec.slice(prefix.length), external: true };
        return { errors: [{ text: `${spec}: cannot resolve it for Node` }] };
      });
    },
  };

  await Promise.all(files.map(async (f) => {
    if (EXCLUDED[f.rel]) {
      f.reason = EXCLUDED[f.rel];
      return;
    }
    const skips = [...SKIPPED_TESTS["*"], ...(SKIPPED_TESTS[f.rel] ?? [])];
    const banner = `globalThis.__pulsingSkip = [${
      skips.map(([re, why]) => `[${re.toString()}, ${JSON.stringify(why)}]`).join(", ")
    }];`;
    let text: string;
    let inputs: string[];
    try {
      const r = await esbuild.build({
        absWorkingDir: ROOT,
        entryPoints: [`${ROOT}/${f.rel}`],
        bundle: true,
        write: false,
        format: "esm",
        platform: "node",
        target: "node22",
        charset: "utf8",
        inject: [SHIM],
        define: {
          "globalThis.addEventListener": "__pulsingAddEventListener",
          "addEventListener": "__pulsingAddEventListener",
        },
        banner: { js: banner },
        logLevel: "silent",
        metafile: true,
        plugins: [plugin],
      });
      text = r.outputFiles[0].text;
      inputs = Object.keys(r.metafile.inputs);
    } catch (e) {
      const errs = (e as { errors?: { text: string }[] }).errors;
      f.reason = `cannot bundle: ${errs?.map((x) => x.text).join("; ") ?? String(e)}`;
      return;
    }
    const used = new Set<string>();
    for (const m of text.slice(banner.length).matchAll(/\bDeno\d*\.([A-Za-z_$][\w$]*)/g)) {
      used.add(m[1]);
    }
    const allowed = new Set([...SHIMMED, ...(ALLOWED[f.rel] ?? [])]);
    const missing = [...used].filter((u) => !allowed.has(u)).sort();
    if (missing.length) {
      const why = missing.some((m) => m === "Command" || m === "execPath")
        ? "spawns deno processes"
        : "Deno-only APIs";
      f.reason = `${why}: ${missing.map((m) => `Deno.${m}`).join(", ")}`;
      return;
    }
    f.fromSource = inputs.map((i) => i.replace(ROOT + "/", "")).filter((i) =>
      !i.startsWith("/") && !i.startsWith("tests/") && !i.startsWith("scripts/") &&
      !/(^|\/)_test_|_test\.ts$/.test(i)
    );
    f.bundle = `${runDir}/tests/${f.rel.replace(/\.ts$/, ".mjs")}`;
    await Deno.mkdir(f.bundle.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(f.bundle, text);
    f.portable = true;
  }));
  await esbuild.stop();
  return files;
}

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walkFiles(`${dir}/${e.name}`);
    else if (e.isFile) yield `${dir}/${e.name}`;
  }
}

/** The consumer that {@linkcode checkTypes} compiles: every entry, typed calls, a type error. */
const CONSUMER = `import * as pul from "@pulsing/pulsing";
import * as core from "@pulsing/pulsing/core";
import * as http from "@pulsing/pulsing/http";
import pkg from "@pulsing/pulsing/package.json" with { type: "json" };

const Counter = pul.remote(class Counter {
  value = 0;
  incr(by: number): number { return this.value += by; }
  async *count(n: number): AsyncGenerator<number> { for (let i = 0; i < n; i++) yield i; }
});

export async function main(): Promise<string> {
  const system: core.ActorSystem = await pul.init();
  const counter = await Counter.spawn({ name: "counter" });
  const n: number = await counter.incr(2);
  // @ts-expect-error a string is not a number: the proxy keeps the method's types
  await counter.incr("x");
  for await (const i of counter.count(3)) { const x: number = i; void x; }
  const err: pul.PulsingError = new pul.PulsingBusinessError(1, "no");
  const app = http.createGatewayApp(system);
  const res: Response = await app.fetch(new Request("http://localhost/health"));
  await pul.shutdown();
  return [n, err.message, res.status, pkg.version].join(" ");
}
`;

/**
 * Type-check {@linkcode CONSUMER}, plus a type-only import of every other export of the
 * package, against the installed package (tsc, `nodenext` resolution, `skipLibCheck: false` so
 * the package's own `.d.ts` files are checked too).
 *
 * @param runDir The project folder the package is installed in.
 * @returns tsc's diagnostics, empty when clean.
 */
export async function checkTypes(runDir: string): Promise<string> {
  const dir = `${runDir}/types`;
  await Deno.mkdir(dir, { recursive: true });
  const pkg = JSON.parse(
    await Deno.readTextFile(`${runDir}/node_modules/@pulsing/pulsing/package.json`),
  ) as { name: string; exports: Record<string, unknown> };
  const others = Object.keys(pkg.exports)
    .filter((k) => ![".", "./core", "./http", "./package.json"].includes(k))
    .map((k, i) =>
      `import type * as other${i} from "${pkg.name}${k.slice(1)}";\n` +
      `export type Other${i} = keyof typeof other${i};\n`
    )
    .join("");
  await Deno.writeTextFile(`${dir}/consumer.ts`, CONSUMER + others);
  await Deno.writeTextFile(
    `${dir}/tsconfig.json`,
    JSON.stringify({
      compilerOptions: {
        target: "es2023",
        module: "nodenext",
        moduleResolution: "nodenext",
        resolveJsonModule: true,
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ["node"],
        typeRoots: [`${ROOT}/tools/node/types/node_modules/@types`],
      },
      files: ["consumer.ts"],
    }),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", TYPESCRIPT, "-p", dir],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return out.success ? "" : (dec.decode(out.stdout) + dec.decode(out.stderr)).trim() || "failed";
}

/**
 * `node --test` the bundles with one Node binary, streaming its output.
 *
 * @param node The binary.
 * @param bundles Test bundles.
 * @param runDir Working folder.
 * @param concurrency Test files run at once.
 * @returns The counts from the spec reporter's summary.
 */
export async function runNode(
  node: NodeBinary,
  bundles: string[],
  runDir: string,
  concurrency: number,
): Promise<RunSummary> {
  const t0 = performance.now();
  const child = new Deno.Command(node.path, {
    args: [
      "--test",
      "--test-reporter=spec",
      "--test-force-exit",
      "--test-timeout=180000",
      `--test-concurrency=${concurrency}`,
      "--disable-warning=ExperimentalWarning",
      ...bundles,
    ],
    cwd: runDir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", FORCE_COLOR: "0" },
  }).spawn();
  let text = "";
  const pump = async (s: ReadableStream<Uint8Array>, to: typeof Deno.stdout) => {
    const dec = new TextDecoder();
    for await (const c of s) {
      text += dec.decode(c, { stream: true });
      await to.write(c);
    }
  };
  await Promise.all([pump(child.stdout, Deno.stdout), pump(child.stderr, Deno.stderr)]);
  const status = await child.status;
  const count = (k: string) => Number(new RegExp(`^ℹ ${k} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
  const summary: RunSummary = {
    node,
    passed: count("pass"),
    failed: count("fail") + count("cancelled"),
    skipped: count("skipped"),
    ms: Math.round(performance.now() - t0),
  };
  if (!status.success && summary.failed === 0) summary.failed = 1; // crashed before reporting
  return summary;
}

function line(ok: boolean, passed: number, failed: number, ms: number): string {
  return `${ok ? "ok" : "FAILED"} | ${passed} passed | ${failed} failed (${
    (ms / 1000).toFixed(1)
  }s)`;
}

if (import.meta.main) {
  const t0 = performance.now();
  const args = [...Deno.args];
  const all = (name: string) => args.flatMap((a, i) => (args[i - 1] === name ? [a] : []));
  if (args.includes("--build")) await buildNpm();
  const runDir = `${ROOT}/tools/node/run`;
  try {
    await Deno.stat(`${ROOT}/npm/package.json`);
  } catch {
    console.error("no npm build: run `deno task build:npm` first (or pass --build)");
    Deno.exit(1);
  }
  const nodes: NodeBinary[] = [];
  const wanted = all("--node");
  for (const w of wanted.length ? wanted : ["22", "24"]) {
    const n = /^\d+$/.test(w)
      ? await findNode(Number(w))
      : await nodeVersion(w).then((v) => v ? { path: w, version: v } : undefined);
    if (n) nodes.push(n);
    else console.log(`node ${w}: not found (install with .ci/extra or pass --node <path>)`);
  }
  const concurrency = Number(all("--concurrency")[0] ?? 3);

  await installBuiltPackage(`${ROOT}/npm`, runDir);
  const files = await bundleTests(runDir, all("--filter")[0]);
  const portable = files.filter((f) => f.portable);
  console.log(`\nportable on Node (${portable.length}):`);
  for (const f of portable) {
    const skips = SKIPPED_TESTS[f.rel];
    console.log(`  ${f.rel}${skips ? `  (skips: ${skips.map(([, w]) => w).join("; ")})` : ""}`);
    if (f.fromSource?.length) {
      console.log(
        `    WARNING: not in the package, bundled from source: ${f.fromSource.join(", ")}`,
      );
    }
  }
  console.log(`excluded (${files.length - portable.length}):`);
  for (const f of files.filter((f) => !f.portable)) console.log(`  ${f.rel} — ${f.reason}`);

  let passed = 0;
  let failed = 0;
  const lines: string[] = [];
  if (!args.includes("--no-types")) {
    const tt = performance.now();
    const diag = await checkTypes(runDir);
    const ms = performance.now() - tt;
    if (diag) console.log(diag);
    passed += diag ? 0 : 1;
    failed += diag ? 1 : 0;
    lines.push(
      `[types: consumer of the installed .d.ts] ${line(!diag, diag ? 0 : 1, diag ? 1 : 0, ms)}`,
    );
  }
  for (const node of nodes) {
    console.log(`\n== node ${node.version} (${node.path})`);
    const s = await runNode(node, portable.map((f) => f.bundle!), runDir, concurrency);
    passed += s.passed;
    failed += s.failed;
    lines.push(
      `[node ${node.version}] ${
        line(s.failed === 0, s.passed, s.failed, s.ms)
      }, ${s.skipped} skipped`,
    );
  }
  if (nodes.length === 0) {
    failed += 1;
    lines.push("[node] no Node binary found");
  }
  console.log("");
  for (const l of lines) console.log(l);
  console.log(line(failed === 0, passed, failed, performance.now() - t0));
  Deno.exit(failed === 0 ? 0 : 1);
}
