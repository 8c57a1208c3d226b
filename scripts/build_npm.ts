/**
 * Build the npm package of Pulsing into `npm/` — the role dnt plays elsewhere (dnt cannot be
 * reached from here, see `reference/toolchain.md` §3e).
 *
 * - JavaScript: one ESM file per library module (`npm/esm/<path>.js`), transpiled by esbuild
 *   for Node ≥ 22 (`using` and other newer syntax lowered). Every import stays external: npm
 *   dependencies and `node:` builtins as bare specifiers, local modules with `.ts` rewritten to
 *   `.js`. Keeping one file per module keeps `import.meta.url` meaningful and lets the Node test
 *   run import internal modules from the built package.
 * - Types: `.d.ts` per module from `tsc --declaration --emitDeclarationOnly` (TypeScript 6.0.3,
 *   the version inside deno 2.9.6), relative `.ts` specifiers rewritten to `.js`.
 * - `package.json`: name, version and license from deno.json, an exports map mirroring
 *   deno.json's `exports` (`types` + `import`), `engines.node >= 22`, dependencies from the
 *   `npm:` specifiers of deno.json's `imports`, and `bin` from {@linkcode BINS} (the `pulsing`
 *   CLI: `npx pulsing --help`); README.md and LICENSE copied.
 * - Executables: each {@linkcode BINS} entry is built like any other module (so it imports the
 *   package's own `esm/cli/main.js`, the same copy of the library a user's actor module imports)
 *   and gets a `#!/usr/bin/env node` line and mode 755.
 *
 * The set of modules is the import graph of deno.json's exports and of {@linkcode BINS}
 * (`deno info --json`), so a module that none of them reaches is not shipped — except modules
 * the library starts by path at run time (`new URL("./worker_main.${ext}", import.meta.url)`,
 * a subprocess entry), which {@linkcode runtimeEntries} finds and which are shipped with their
 * own graphs.
 *
 * Usage: `deno task build:npm`, i.e.
 * `deno run -A --no-lock scripts/build_npm.ts [--out npm] [--no-types]`
 *
 * @module
 */

// A build tool, kept inline (and run with --no-lock) so it never enters the library's import map
// or deno.lock.
// deno-lint-ignore no-import-prefix
import * as esbuild from "npm:esbuild@0.28.2";

/** The TypeScript used for declarations: the version deno 2.9.6 type-checks with. */
export const TYPESCRIPT = "npm:typescript@6.0.3/tsc";
/** The @types/node major matching `engines.node`. */
export const TYPES_NODE = "^22";

/**
 * The package's executables: command name → entry module (relative to the root). Each ships
 * as `esm/<path>.js` with a `#!/usr/bin/env node` line, listed in package.json `bin`.
 *
 * @example
 * ```ts
 * import { BINS } from "./build_npm.ts";
 * console.log(BINS.pulsing); // "cli/bin.ts"
 * ```
 */
export const BINS: Readonly<Record<string, string>> = { pulsing: "cli/bin.ts" };

/** The first line of every executable in {@linkcode BINS}. */
export const SHEBANG = "#!/usr/bin/env node";

/** Options of {@linkcode buildNpm}. */
export interface BuildNpmOptions {
  /** Project root holding deno.json (default: the parent of this script's folder). */
  root?: string;
  /** Output folder, emptied first (default: `<root>/npm`). */
  outDir?: string;
  /** Emit `.d.ts` files (default true). */
  types?: boolean;
  /** Folder for the npm packages tsc needs to see (default: `<root>/tools/node/types`). */
  typesDepsDir?: string;
  /** Print progress (default true). */
  verbose?: boolean;
}

/** What {@linkcode buildNpm} produced. */
export interface BuildNpmResult {
  /** The output folder. */
  outDir: string;
  /** The generated package.json. */
  packageJson: NpmPackageJson;
  /** Library modules shipped, relative to the root (e.g. `core/system.ts`). */
  modules: string[];
  /** Milliseconds per step. */
  timings: Record<string, number>;
}

/** The parts of the generated package.json that tools read back. */
export interface NpmPackageJson {
  /** Package name (deno.json `name`). */
  name: string;
  /** Package version (deno.json `version`). */
  version: string;
  /** Exports map: subpath → conditions (or `./package.json` → its path). */
  exports: Record<string, Record<string, string> | string>;
  /** npm dependencies and their ranges. */
  dependencies: Record<string, string>;
  /** Other fields. */
  [key: string]: unknown;
}

interface DenoJson {
  name: string;
  version: string;
  license?: string;
  description?: string;
  exports: string | Record<string, string>;
  imports?: Record<string, string>;
}

const DESCRIPTION = "A distributed actor runtime for Deno and Node: actors with request/response " +
  "and streaming methods, named actors resolvable from any node, gossip discovery, supervision, " +
  "a distributed queue and pub/sub topics.";

/**
 * Parse an `npm:` specifier of deno.json's import map.
 *
 * @param specifier e.g. `npm:msgpackr@^2.1.4/pack` or `npm:@scope/pkg@1/sub`.
 * @returns the package name, its version range and the subpath (`""` or `/sub`), or undefined
 * when the specifier is not an `npm:` one.
 *
 * @example
 * ```ts
 * import { parseNpmSpecifier } from "./build_npm.ts";
 * console.log(parseNpmSpecifier("npm:msgpackr@^2.1.4/pack"));
 * // { name: "msgpackr", range: "^2.1.4", subpath: "/pack" }
 * ```
 */
export function parseNpmSpecifier(
  specifier: string,
): { name: string; range: string; subpath: string } | undefined {
  const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]+))?(\/.*)?$/.exec(specifier);
  if (!m) return undefined;
  return { name: m[1], range: m[2] ?? "*", subpath: m[3] ?? "" };
}

/**
 * Read deno.json's import map into npm dependencies and bare-specifier rewrites.
 *
 * @param imports deno.json `imports`.
 * @returns `dependencies` (name → range) and `aliases` (import-map key → the bare specifier
 * Node resolves, e.g. `msgpackr/pack` → `msgpackr/pack`); keys ending in `/` are prefixes.
 * @throws {Error} when two entries ask for different ranges of one package, or an entry is
 * neither `npm:` nor `node:`.
 */
export function npmDependencies(
  imports: Record<string, string> = {},
): { dependencies: Record<string, string>; aliases: Record<string, string> } {
  const dependencies: Record<string, string> = {};
  const aliases: Record<string, string> = {};
  for (const [key, value] of Object.entries(imports)) {
    if (value.startsWith("node:")) {
      aliases[key] = value;
      continue;
    }
    const p = parseNpmSpecifier(value);
    if (!p) throw new Error(`import map entry ${key} → ${value}: only npm: and node: ship to npm`);
    const had = dependencies[p.name];
    if (had !== undefined && had !== p.range) {
      throw new Error(`npm package ${p.name} imported with two ranges: ${had} and ${p.range}`);
    }
    dependencies[p.name] = p.range;
    aliases[key] = p.name + p.subpath;
  }
  return { dependencies, aliases };
}

/**
 * The local modules reachable from the given entry files, as absolute paths.
 *
 * @param root project root (holds deno.json).
 * @param entries entry files relative to root.
 * @returns absolute paths of every local module in the graph, sorted.
 */
export async function moduleGraph(root: string, entries: string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-lock", entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`deno info ${entry} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: { specifier: string; error?: string }[];
    };
    for (const m of info.modules) {
      if (m.error) throw new Error(`${m.specifier}: ${m.error}`);
      if (!m.specifier.startsWith("file:")) continue;
      const path = decodeURIComponent(new URL(m.specifier).pathname);
      if (!path.startsWith(root + "/")) throw new Error(`module outside the project: ${path}`);
      if (!/\.(ts|mts|js|mjs)$/.test(path)) throw new Error(`cannot ship ${path}`);
      files.add(path);
    }
  }
  return [...files].sort();
}

/**
 * Modules that `files` start by path rather than import: a relative `new URL("./x.ts", …)` or
 * `new URL(\`./x.${ext}\`, import.meta.url)` naming an existing `.ts` file.
 *
 * @param files Absolute paths of the modules to scan.
 * @returns Absolute paths of the `.ts` files they refer to that are not in `files`.
 */
export async function runtimeEntries(files: string[]): Promise<string[]> {
  const found = new Set<string>();
  const re =
    /new URL\(\s*["'`](\.\.?\/[\w./-]+?)\.(?:ts|\$\{[^}]+\})["'`]\s*,\s*import\.meta\.url/g;
  for (const f of files) {
    const text = await Deno.readTextFile(f);
    for (const m of text.matchAll(re)) {
      const target = decodeURIComponent(new URL(`${m[1]}.ts`, `file://${f}`).pathname);
      if (files.includes(target)) continue;
      try {
        if ((await Deno.stat(target)).isFile) found.add(target);
      } catch { /* not a module of ours (e.g. an example in a comment) */ }
    }
  }
  return [...found].sort();
}

/** Replace a relative `.ts`/`.mts` specifier's extension with `.js`/`.mjs`. */
function toJsSpecifier(spec: string): string {
  return spec.replace(/\.ts$/, ".js").replace(/\.mts$/, ".mjs");
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const dec = new TextDecoder();
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}):\n${dec.decode(out.stdout)}${
        dec.decode(out.stderr)
      }`,
    );
  }
}

/** Install (once) the npm packages tsc must see to emit declarations. */
async function ensureTypesDeps(dir: string, deps: Record<string, string>): Promise<void> {
  const wanted = { ...deps, "@types/node": TYPES_NODE };
  const stamp = JSON.stringify(wanted);
  try {
    if ((await Deno.readTextFile(`${dir}/.stamp`)) === stamp) return;
  } catch { /* not installed yet */ }
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify({ private: true, dependencies: wanted }, null, 2) + "\n",
  );
  await run("npm", [
    "install",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
    "--omit=optional",
  ], dir);
  await Deno.writeTextFile(`${dir}/.stamp`, stamp);
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile) yield p;
  }
}

/** Emit `.d.ts` for `files` into `outDir` with tsc, then point relative specifiers at `.js`. */
async function emitDeclarations(
  root: string,
  files: string[],
  outDir: string,
  depsDir: string,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "pulsing_dts_" });
  try {
    const nm = `${depsDir}/node_modules`;
    const tsconfig = {
      compilerOptions: {
        target: "es2023",
        module: "esnext",
        moduleResolution: "bundler",
        lib: ["esnext"],
        types: ["node"],
        typeRoots: [`${nm}/@types`],
        paths: { "*": [`${nm}/*`] },
        strict: true,
        declaration: true,
        emitDeclarationOnly: true,
        // The sources are type-checked by `deno check` (with Deno's own globals, which tsc
        // here does not know); this step only needs the declarations.
        noCheck: true,
        allowImportingTsExtensions: true,
        rewriteRelativeImportExtensions: true,
        skipLibCheck: true,
        rootDir: root,
        outDir,
      },
      files,
    };
    await Deno.writeTextFile(`${tmp}/tsconfig.json`, JSON.stringify(tsconfig, null, 2));
    await run(Deno.execPath(), ["run", "-A", "--no-lock", TYPESCRIPT, "-p", tmp], root);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  // tsc keeps `./x.ts` in declaration files; Node-resolving consumers need `./x.js`.
  const rel = /((?:from|import)\s*\(?\s*["'])(\.\.?\/[^"']+?)\.(m?)ts(["'])/g;
  for await (const p of walk(outDir)) {
    if (!p.endsWith(".d.ts")) continue;
    const text = await Deno.readTextFile(p);
    const fixed = text.replace(rel, (_m, a, spec, m, q) => `${a}${spec}.${m}js${q}`);
    if (fixed !== text) await Deno.writeTextFile(p, fixed);
  }
}

/**
 * Build the npm package.
 *
 * @param options Root, output folder, whether to emit types.
 * @returns What was built.
 * @throws {Error} when esbuild, tsc or npm fails.
 *
 * @example
 * ```ts ignore
 * import { buildNpm } from "./build_npm.ts";
 * const { outDir, packageJson } = await buildNpm();
 * console.log(outDir, packageJson.version);
 * ```
 */
export async function buildNpm(options: BuildNpmOptions = {}): Promise<BuildNpmResult> {
  const root = options.root ?? decodeURIComponent(new URL("..", import.meta.url).pathname)
    .replace(/\/$/, "");
  const outDir = options.outDir ?? `${root}/npm`;
  const log = options.verbose === false ? () => {} : (s: string) => console.log(s);
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
      log(`build:npm ${name}: ${timings[name]} ms`);
    }
  };

  const deno = JSON.parse(await Deno.readTextFile(`${root}/deno.json`)) as DenoJson;
  const exportsMap = typeof deno.exports === "string" ? { ".": deno.exports } : deno.exports;
  const { dependencies, aliases } = npmDependencies(deno.imports);

  const files = await step("graph", async () => {
    let files = await moduleGraph(root, [
      ...Object.values(exportsMap).map((p) => p.replace(/^\.\//, "")),
      ...Object.values(BINS),
    ]);
    for (
      let extra = await runtimeEntries(files);
      extra.length;
      extra = await runtimeEntries(files)
    ) {
      log(
        `build:npm: started by path at run time: ${
          extra.map((e) => e.slice(root.length + 1)).join(", ")
        }`,
      );
      files = [
        ...new Set([
          ...files,
          ...await moduleGraph(root, extra.map((e) => e.slice(root.length + 1))),
        ]),
      ].sort();
    }
    return files;
  });
  if (outDir === root || !outDir.startsWith(root + "/")) {
    throw new Error(`refusing to empty ${outDir}: not a folder inside ${root}`);
  }
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
  const esmDir = `${outDir}/esm`;
  const local = new Set(files);

  await step("esbuild", async () => {
    try {
      const result = await esbuild.build({
        absWorkingDir: root,
        entryPoints: files,
        outbase: root,
        outdir: esmDir,
        bundle: true, // only to run the resolver below: every import is external
        format: "esm",
        platform: "node",
        target: "node22",
        charset: "utf8",
        legalComments: "inline",
        logLevel: "warning",
        plugins: [{
          name: "pulsing-externals",
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (args.kind === "entry-point") return undefined;
              const spec = args.path;
              if (spec.startsWith("./") || spec.startsWith("../")) {
                const target = decodeURIComponent(
                  new URL(spec, `file://${args.importer}`).pathname,
                );
                if (!local.has(target)) {
                  return { errors: [{ text: `${spec} is outside the module graph` }] };
                }
                return { path: toJsSpecifier(spec), external: true };
              }
              if (spec.startsWith("node:")) return { path: spec, external: true };
              if (spec.startsWith("npm:")) {
                const p = parseNpmSpecifier(spec)!;
                if (!(p.name in dependencies)) {
                  return { errors: [{ text: `${spec}: add it to deno.json's imports` }] };
                }
                return { path: p.name + p.subpath, external: true };
              }
              if (spec in aliases) return { path: aliases[spec], external: true };
              const prefix = Object.keys(aliases).find((k) =>
                k.endsWith("/") && spec.startsWith(k)
              );
              if (prefix) {
                return { path: aliases[prefix] + spec.slice(prefix.length), external: true };
              }
              return {
                errors: [{ text: `${spec}: not in deno.json's imports (cannot ship it)` }],
              };
            });
          },
        }],
      });
      for (const w of result.warnings) log(`esbuild warning: ${w.text}`);
    } finally {
      await esbuild.stop();
    }
  });

  const bin: Record<string, string> = {};
  await step("bin", async () => {
    for (const [name, entry] of Object.entries(BINS)) {
      const rel = `esm/${entry.replace(/\.m?ts$/, ".js")}`;
      const path = `${outDir}/${rel}`;
      const text = await Deno.readTextFile(path);
      if (!text.startsWith("#!")) await Deno.writeTextFile(path, `${SHEBANG}\n${text}`);
      await Deno.chmod(path, 0o755);
      bin[name] = rel;
    }
  });

  if (options.types !== false) {
    const depsDir = options.typesDepsDir ?? `${root}/tools/node/types`;
    await step("types deps", () => ensureTypesDeps(depsDir, dependencies));
    await step("tsc", () => emitDeclarations(root, files, esmDir, depsDir));
  }

  const rel = (p: string) => p.replace(/^\.\//, "").replace(/\.m?ts$/, "");
  const pkgExports: NpmPackageJson["exports"] = {};
  for (const [key, path] of Object.entries(exportsMap)) {
    pkgExports[key] = options.types === false
      ? { import: `./esm/${rel(path)}.js` }
      : { types: `./esm/${rel(path)}.d.ts`, import: `./esm/${rel(path)}.js` };
  }
  pkgExports["./package.json"] = "./package.json";
  const main = rel(exportsMap["."] ?? Object.values(exportsMap)[0]);
  const packageJson: NpmPackageJson = {
    name: deno.name,
    version: deno.version,
    description: deno.description ?? DESCRIPTION,
    license: deno.license ?? "UNLICENSED",
    keywords: ["actor", "actors", "distributed", "cluster", "rpc", "streaming", "deno", "node"],
    type: "module",
    main: `./esm/${main}.js`,
    ...(options.types === false ? {} : { types: `./esm/${main}.d.ts` }),
    exports: pkgExports,
    bin,
    files: ["esm/"],
    engines: { node: ">=22" },
    dependencies,
  };
  await Deno.writeTextFile(`${outDir}/package.json`, JSON.stringify(packageJson, null, 2) + "\n");
  for (const f of ["README.md", "LICENSE"]) {
    await Deno.copyFile(`${root}/${f}`, `${outDir}/${f}`).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      log(`build:npm: no ${f} to copy`);
    });
  }
  const modules = files.map((f) => f.slice(root.length + 1));
  log(`build:npm: ${deno.name}@${deno.version}, ${modules.length} modules → ${outDir}`);
  return { outDir, packageJson, modules, timings };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const out = opt("--out");
  await buildNpm({
    outDir: out === undefined ? undefined : (out.startsWith("/") ? out : `${Deno.cwd()}/${out}`),
    types: !args.includes("--no-types"),
  });
}
