/**
 * Check what `npm pack` would publish from `npm/`: only package.json, README.md, LICENSE and
 * `esm/**` JavaScript with its declarations; every module has both its `.js` and its `.d.ts`;
 * every exports and `bin` target is in the tarball, every `bin` starts with
 * `#!/usr/bin/env node`; nothing from tests, benches, scripts (the Node test shim) or sources
 * leaks in.
 *
 * With `--bin`, also install the tarball into a temp project with npm, as a user would, and run
 * the installed `node_modules/.bin/pulsing` on each `--node` (22 by default; the binary's folder
 * first on PATH, so the `#!/usr/bin/env node` line picks it): `--help`, an unknown command, and
 * a real session — `pulsing actor` hosting a counter on 127.0.0.1:0, `pulsing call` (a result,
 * a stream, a missing actor), `pulsing inspect actors --json`, a short `pulsing bench`, then
 * SIGTERM to the actor, which leaves and exits 0. Every process is started and stopped here by
 * its own handle, with bounded waits (SIGKILL after them).
 *
 * Prints one line per problem or check, `[node vX] ok | N passed | N failed` per Node, then
 * `ok | N passed | N failed`.
 *
 * Usage: `deno run -A --no-lock scripts/check_pack.ts [npm-dir] [--bin] [--node 22|24|<path>]...`
 *
 * @module
 */
import { findNode, installBuiltPackage, type NodeBinary, nodeVersion, ROOT } from "./_node.ts";

/** One `npm pack --dry-run --json` entry (the fields used here). */
export interface PackReport {
  /** Tarball name. */
  filename: string;
  /** Compressed size in bytes. */
  size: number;
  /** Unpacked size in bytes. */
  unpackedSize: number;
  /** Files in the tarball. */
  files: { path: string; size: number }[];
}

/**
 * The problems with a pack report, empty when it is clean.
 *
 * @param report What `npm pack --dry-run --json` said.
 * @param pkg The package.json it packed.
 * @returns One message per problem.
 *
 * @example
 * ```ts
 * import { packProblems } from "./check_pack.ts";
 * const files = ["package.json", "README.md", "LICENSE", "esm/mod.js", "esm/mod.d.ts"];
 * const report = { filename: "x.tgz", size: 1, unpackedSize: 1, files: files.map((path) => ({ path, size: 1 })) };
 * const pkg = { exports: { ".": { types: "./esm/mod.d.ts", import: "./esm/mod.js" } } };
 * console.log(packProblems(report, pkg)); // []
 * ```
 */
export function packProblems(
  report: PackReport,
  pkg: { exports?: Record<string, unknown>; bin?: Record<string, string> | string },
): string[] {
  const problems: string[] = [];
  const paths = new Set(report.files.map((f) => f.path));
  for (const p of paths) {
    const allowed = p === "package.json" || p === "README.md" || p === "LICENSE" ||
      /^esm\/[\w/.-]+\.(js|d\.ts)$/.test(p);
    if (!allowed) problems.push(`does not belong in the package: ${p}`);
    if (/(^|\/)(_test_[^/]*|[^/]*_test|[^/]*_bench)\.(js|d\.ts)$/.test(p)) {
      problems.push(`test or bench module shipped: ${p}`);
    }
    if (/^esm\/(scripts|tests|bench|examples)\//.test(p) || /node_test_shim|_shimmed/.test(p)) {
      problems.push(`build, test or example file shipped: ${p}`);
    }
    if (p.endsWith(".js") && !paths.has(p.replace(/\.js$/, ".d.ts"))) {
      problems.push(`no declarations for ${p}`);
    }
    if (p.endsWith(".d.ts") && !paths.has(p.replace(/\.d\.ts$/, ".js"))) {
      problems.push(`declarations without a module: ${p}`);
    }
  }
  for (const f of ["package.json", "README.md", "LICENSE"]) {
    if (!paths.has(f)) problems.push(`missing ${f}`);
  }
  for (const [sub, cond] of Object.entries(pkg.exports ?? {})) {
    const targets = typeof cond === "string" ? [cond] : Object.values(cond as object);
    for (const t of targets as string[]) {
      if (!paths.has(t.replace(/^\.\//, ""))) problems.push(`exports "${sub}" → ${t} not packed`);
    }
  }
  const bins = typeof pkg.bin === "string" ? { bin: pkg.bin } : pkg.bin ?? {};
  for (const [name, target] of Object.entries(bins)) {
    const t = target.replace(/^\.\//, "");
    if (!/^esm\/[\w/.-]+\.js$/.test(t)) problems.push(`bin "${name}" → ${target} is not in esm/`);
    else if (!paths.has(t)) problems.push(`bin "${name}" → ${target} not packed`);
  }
  return problems;
}

/**
 * The first line every `bin` target must start with (as `scripts/build_npm.ts` writes it; not
 * imported from there, so that this check loads no build tool).
 */
export const SHEBANG = "#!/usr/bin/env node";

/** The outcome of one check of the installed executable. */
export interface BinCheck {
  /** What was checked. */
  name: string;
  /** Why it failed (undefined when it passed). */
  failure?: string;
}

/** What a finished command did. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const dec = new TextDecoder();

/** The environment the commands run in: the chosen Node first on PATH, nothing else inherited. */
function binEnv(node: NodeBinary): Record<string, string> {
  const path = Deno.env.get("PATH") ?? "";
  const dir = node.path.includes("/") ? node.path.slice(0, node.path.lastIndexOf("/")) : "";
  return {
    NO_COLOR: "1",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    PATH: dir ? `${dir}:${path}` : path,
  };
}

function binCommand(dir: string, node: NodeBinary, args: string[]): Deno.Command {
  return new Deno.Command(`${dir}/node_modules/.bin/pulsing`, {
    args,
    cwd: dir,
    clearEnv: true,
    env: binEnv(node),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Run `pulsing <args>` to its end (SIGKILL after `ms`). */
async function runBin(dir: string, node: NodeBinary, args: string[], ms = 20_000): Promise<Ran> {
  const child = binCommand(dir, node, args).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, ms);
  try {
    const out = await child.output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

function expect(ok: boolean, what: string, r?: Ran): void {
  if (ok) return;
  const detail = r
    ? ` (exit ${r.code}; stdout: ${r.stdout.trim()}; stderr: ${r.stderr.trim()})`
    : "";
  throw new Error(what + detail);
}

/** No stack trace, at most `lines` lines on stderr. */
function expectShortError(r: Ran, lines: number): void {
  expect(!/\n\s+at /.test(r.stderr), "an error without a stack trace", r);
  expect(r.stderr.trim().split("\n").length <= lines, `at most ${lines} stderr line(s)`, r);
}

/** The counter the session hosts, a user's module importing the installed package. */
const COUNTER_MODULE = `import * as pul from "@pulsing/pulsing";

export const Counter = pul.remote(
  class Counter {
    constructor(n = 0) {
      this.n = n;
    }
    incr(by = 1) {
      return (this.n += by);
    }
    async *count(n) {
      for (let i = 0; i < n; i++) yield i;
    }
  },
  { name: "Counter" },
);
`;

/** `pulsing actor` hosting the counter, with its stdout read as it comes. */
class ActorProcess {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  readonly #done: Promise<void>;

  constructor(dir: string, node: NodeBinary) {
    const args = ["actor", "./counter.mjs", "Counter", "--name", "counter", "--args", "[10]"];
    args.push("--addr", "127.0.0.1:0");
    this.child = binCommand(dir, node, args).spawn();
    const pump = async (s: ReadableStream<Uint8Array>, to: "stdout" | "stderr") => {
      const d = new TextDecoder();
      for await (const c of s) this[to] += d.decode(c, { stream: true });
    };
    this.#done = Promise.all([
      pump(this.child.stdout, "stdout"),
      pump(this.child.stderr, "stderr"),
    ]).then(() => {});
  }

  /** The address from `[counter] Started at host:port` (fails after `ms`). */
  async started(ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    let exited = false;
    this.child.status.then(() => exited = true);
    while (Date.now() < deadline && !exited) {
      const m = /^\[counter\] Started at (\S+)$/m.exec(this.stdout);
      if (m) return m[1];
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `pulsing actor did not start within ${ms} ms` +
        ` (stdout: ${this.stdout.trim()}; stderr: ${this.stderr.trim()})`,
    );
  }

  /** Send `signal`; wait for the exit (SIGKILL after `ms`) and return the code. */
  async stop(signal: Deno.Signal, ms = 10_000): Promise<number> {
    this.kill(signal);
    const timer = setTimeout(() => this.kill("SIGKILL"), ms);
    try {
      const { code } = await this.child.status;
      await this.#done;
      return code;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }
}

/**
 * Run the installed `pulsing` executable of a project with a Node: help, an unknown command, and
 * a session against a hosted actor. Stops every process it starts.
 *
 * @param dir A project with the package installed (`node_modules/.bin/pulsing`).
 * @param node The Node to run it with (put first on PATH).
 * @returns One entry per check.
 *
 * @example
 * ```ts ignore
 * import { checkInstalledBin } from "./check_pack.ts";
 * import { findNode, installBuiltPackage } from "./_node.ts";
 * const dir = await Deno.makeTempDir();
 * await installBuiltPackage("npm", dir);
 * const checks = await checkInstalledBin(dir, (await findNode(22))!);
 * console.log(checks.filter((c) => c.failure)); // []
 * ```
 */
export async function checkInstalledBin(dir: string, node: NodeBinary): Promise<BinCheck[]> {
  const checks: BinCheck[] = [];
  const check = async (name: string, f: () => Promise<void>) => {
    try {
      await f();
      checks.push({ name });
    } catch (e) {
      checks.push({ name, failure: (e as Error)?.message ?? String(e) });
    }
  };

  await check("pulsing --help: usage on stdout, exit 0", async () => {
    const r = await runBin(dir, node, ["--help"]);
    expect(r.code === 0, "exit code 0", r);
    expect(r.stdout.startsWith("Usage: pulsing <command>"), "the usage text", r);
    expect(/\bactor <module> <ClassName>/.test(r.stdout), "the commands listed", r);
    const c = await runBin(dir, node, ["call", "--help"]);
    expect(c.code === 0 && c.stdout.startsWith("Usage: pulsing call"), "call --help", c);
  });

  await check("pulsing frob: unknown command, exit 2", async () => {
    const r = await runBin(dir, node, ["frob"]);
    expect(r.code === 2, "exit code 2", r);
    expect(r.stdout === "", "nothing on stdout", r);
    expect(r.stderr.startsWith("error: unknown command 'frob'"), "the error line", r);
    expectShortError(r, 2);
    const none = await runBin(dir, node, []);
    expect(none.code === 2 && none.stderr.startsWith("Usage:"), "no command: usage, exit 2", none);
  });

  await check("pulsing actor + call + inspect + bench, SIGTERM → exit 0", async () => {
    await Deno.writeTextFile(`${dir}/counter.mjs`, COUNTER_MODULE);
    const actor = new ActorProcess(dir, node);
    try {
      const addr = await actor.started();
      expect(/^127\.0\.0\.1:\d+$/.test(addr), `a loopback address, got ${addr}`);
      const seeds = ["--seeds", addr];

      const r = await runBin(dir, node, ["call", "counter", "incr", "5", ...seeds]);
      expect(r.code === 0 && r.stdout === "15\n", "call counter incr 5 → 15", r);
      const s = await runBin(dir, node, ["call", "counter", "count", "3", ...seeds]);
      expect(s.code === 0 && s.stdout === "0\n1\n2\n", "a stream, one line per item", s);
      const m = await runBin(dir, node, ["call", "nobody", "x", ...seeds, "--timeout", "2000"]);
      expect(m.code === 1, "a missing actor: exit 1", m);
      expect(m.stderr.startsWith("error: PulsingRuntimeError"), "a one-line error", m);
      expectShortError(m, 1);

      const i = await runBin(dir, node, ["inspect", "actors", "--json", ...seeds]);
      expect(i.code === 0, "inspect actors exit 0", i);
      const actors = JSON.parse(i.stdout) as { path: string; instanceCount: number }[];
      expect(
        actors.some((a) => a.path === "actors/counter" && a.instanceCount === 1),
        "inspect actors lists actors/counter",
        i,
      );

      const b = await runBin(dir, node, [
        "bench",
        ...seeds,
        "--seconds",
        "0.5",
        "--concurrency",
        "4",
        "--json",
      ]);
      expect(b.code === 0, "bench exit 0", b);
      const report = JSON.parse(b.stdout) as { calls: number; errors: number };
      expect(report.calls > 0 && report.errors === 0, "bench calls answered", b);
      expect(/calls/.test(b.stderr), "bench progress on stderr", b);

      const code = await actor.stop("SIGTERM");
      const ran = { code, stdout: actor.stdout, stderr: actor.stderr };
      expect(code === 0, "actor exit 0 after SIGTERM", ran);
      expect(/Stopped, left the cluster/.test(actor.stderr), "a graceful leave", ran);
    } finally {
      await actor.stop("SIGKILL", 5_000); // a no-op when it has already exited
    }
  });
  return checks;
}

/** Parse `[npm-dir] [--bin] [--node 22|24|<path>]...`. */
function parseCliArgs(args: string[]): { dir: string; bin: boolean; nodes: string[] } {
  let dir = `${ROOT}/npm`;
  let bin = false;
  const nodes: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--bin") bin = true;
    else if (args[i] === "--node") nodes.push(args[++i]);
    else dir = args[i];
  }
  return { dir, bin, nodes: nodes.length ? nodes : ["22"] };
}

async function resolveNode(spec: string): Promise<NodeBinary | undefined> {
  if (/^\d+$/.test(spec)) return await findNode(Number(spec));
  const version = await nodeVersion(spec);
  return version ? { path: spec, version } : undefined;
}

if (import.meta.main) {
  const { dir, bin, nodes } = parseCliArgs(Deno.args);
  let passed = 0;
  let failed = 0;
  const out = await new Deno.Command("npm", {
    args: ["pack", "--dry-run", "--json"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    console.log(new TextDecoder().decode(out.stderr));
    console.log("FAILED | 0 passed | 1 failed");
    Deno.exit(1);
  }
  const report = (JSON.parse(new TextDecoder().decode(out.stdout)) as PackReport[])[0];
  const pkg = JSON.parse(await Deno.readTextFile(`${dir}/package.json`));
  const problems = packProblems(report, pkg);
  if (typeof pkg.bin?.pulsing !== "string") problems.push(`package.json has no bin "pulsing"`);
  for (const target of Object.values((pkg.bin ?? {}) as Record<string, string>)) {
    const text = await Deno.readTextFile(`${dir}/${target}`).catch(() => "");
    if (!text.startsWith(SHEBANG + "\n")) problems.push(`${target} does not start with ${SHEBANG}`);
  }
  const js = report.files.filter((f) => f.path.endsWith(".js")).length;
  console.log(
    `npm pack --dry-run: ${report.filename}, ${report.files.length} files (${js} modules with ` +
      `.d.ts, package.json, README.md, LICENSE), ${(report.size / 1024).toFixed(0)} KiB packed, ` +
      `${(report.unpackedSize / 1024).toFixed(0)} KiB unpacked`,
  );
  for (const p of problems) console.log(`  ${p}`);
  if (problems.length) failed++;
  else passed++;

  if (bin) {
    const t0 = performance.now();
    const project = await Deno.makeTempDir({ prefix: "pulsing_bin_" });
    try {
      await installBuiltPackage(dir, project);
      console.log(
        `installed ${pkg.name} from its tarball into ${project} ` +
          `(${((performance.now() - t0) / 1000).toFixed(1)}s)`,
      );
      for (const spec of nodes) {
        const t1 = performance.now();
        const node = await resolveNode(spec);
        if (!node) {
          console.log(`[node ${spec}] FAILED | 0 passed | 1 failed: no such Node (see .ci/extra)`);
          failed++;
          continue;
        }
        const checks = await checkInstalledBin(project, node);
        const bad = checks.filter((c) => c.failure).length;
        for (const c of checks) {
          console.log(`  ${c.failure ? "FAILED" : "ok"}  [node ${node.version}] ${c.name}`);
          if (c.failure) console.log(`      ${c.failure}`);
        }
        console.log(
          `[node ${node.version}] ${bad ? "FAILED" : "ok"} | ${checks.length - bad} passed | ` +
            `${bad} failed (${((performance.now() - t1) / 1000).toFixed(1)}s)`,
        );
        passed += checks.length - bad;
        failed += bad;
      }
    } catch (e) {
      console.log(`  installed bin: ${(e as Error)?.message ?? e}`);
      failed++;
    } finally {
      await Deno.remove(project, { recursive: true }).catch(() => {});
    }
  }
  console.log(`${failed ? "FAILED" : "ok"} | ${passed} passed | ${failed} failed`);
  Deno.exit(failed ? 1 : 0);
}
