/**
 * On-demand install of the Moleculer peer (never a project dependency).
 *
 * `npm install --prefix <tmp>/pulsing-bench-moleculer-0.14 moleculer@0.14 cbor-x@1` into the
 * OS temp folder, outside the repository. A previous install there is reused unless `fresh`
 * is set. When npm or node is missing or the registry is unreachable, the caller gets a reason
 * string and skips the Moleculer target.
 *
 * Run alone: `deno run -A bench/moleculer/install.ts [--fresh]`.
 *
 * @module
 */

/** Outcome of {@link ensureMoleculer}. */
export type InstallResult =
  | { ok: true; dir: string; version: string; cached: boolean; cbor: boolean; seconds: number }
  | { ok: false; reason: string };

/** Folder the peer is installed into (inside the OS temp folder, never inside the repo). */
export function moleculerDir(): string {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${tmp.replace(/\/$/, "")}/pulsing-bench-moleculer-0.14`;
}

async function installedVersion(dir: string, pkg: string): Promise<string | null> {
  try {
    const j = JSON.parse(await Deno.readTextFile(`${dir}/node_modules/${pkg}/package.json`));
    return typeof j.version === "string" ? j.version : null;
  } catch {
    return null;
  }
}

async function run(cmd: string, args: string[], timeoutMs: number) {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    return {
      code: out.code,
      text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Makes sure Moleculer 0.14 (and cbor-x for the optional CBOR variant) is installed in
 * {@link moleculerDir}.
 *
 * @param fresh remove a previous install first
 * @param timeoutMs upper bound for `npm install`
 * @returns where it is, or why it is not available
 */
export async function ensureMoleculer(fresh = false, timeoutMs = 120_000): Promise<InstallResult> {
  const dir = moleculerDir();
  const t0 = performance.now();
  if (fresh) await Deno.remove(dir, { recursive: true }).catch(() => {});
  const have = await installedVersion(dir, "moleculer");
  if (have?.startsWith("0.14.")) {
    const cbor = (await installedVersion(dir, "cbor-x")) !== null;
    return { ok: true, dir, version: have, cached: true, cbor, seconds: 0 };
  }
  try {
    const node = await run("node", ["--version"], 10_000);
    if (node.code !== 0) return { ok: false, reason: "node is not runnable" };
  } catch {
    return { ok: false, reason: "node is not on PATH" };
  }
  await Deno.mkdir(dir, { recursive: true });
  let res;
  try {
    res = await run("npm", [
      "install",
      "--prefix",
      dir,
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      "moleculer@0.14",
      "cbor-x@1",
    ], timeoutMs);
  } catch {
    return { ok: false, reason: "npm is not on PATH" };
  }
  const version = await installedVersion(dir, "moleculer");
  if (res.code !== 0 || !version) {
    const tail = res.text.trim().split("\n").slice(-3).join(" / ");
    return {
      ok: false,
      reason: `npm install moleculer@0.14 failed (registry unreachable?): ${tail}`,
    };
  }
  const cbor = (await installedVersion(dir, "cbor-x")) !== null;
  return {
    ok: true,
    dir,
    version,
    cached: false,
    cbor,
    seconds: (performance.now() - t0) / 1000,
  };
}

if (import.meta.main) {
  const r = await ensureMoleculer(Deno.args.includes("--fresh"));
  console.log(JSON.stringify(r));
  if (!r.ok) Deno.exit(1);
}
