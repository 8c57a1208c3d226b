/**
 * Check what `npm pack` would publish from `npm/`: only package.json, README.md, LICENSE and
 * `esm/**` JavaScript with its declarations; every module has both its `.js` and its `.d.ts`;
 * every exports target is in the tarball; nothing from tests, benches or sources leaks in.
 * Prints one line per problem, then `ok | N passed | N failed`.
 *
 * Usage: `deno run -A --no-lock scripts/check_pack.ts [npm-dir]`
 *
 * @module
 */
import { ROOT } from "./_node.ts";

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
  pkg: { exports?: Record<string, unknown> },
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
  return problems;
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? `${ROOT}/npm`;
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
  const js = report.files.filter((f) => f.path.endsWith(".js")).length;
  console.log(
    `npm pack --dry-run: ${report.filename}, ${report.files.length} files (${js} modules with ` +
      `.d.ts, package.json, README.md, LICENSE), ${(report.size / 1024).toFixed(0)} KiB packed, ` +
      `${(report.unpackedSize / 1024).toFixed(0)} KiB unpacked`,
  );
  for (const p of problems) console.log(`  ${p}`);
  console.log(
    problems.length ? `FAILED | 0 passed | 1 failed` : `ok | 1 passed | 0 failed`,
  );
  Deno.exit(problems.length ? 1 : 0);
}
