/**
 * On-demand install of nact 7 (never a project dependency): `npm install --prefix
 * <tmp>/pulsing-bench-nact-7 nact@7` into the OS temp folder, outside the repository. A previous
 * install is reused unless `fresh` is set. When node or npm is missing or the registry is
 * unreachable, the caller gets a reason and skips the nact column.
 *
 * Run alone: `deno run -A bench/nact/install.ts [--fresh]`.
 *
 * @module
 */

/** Outcome of {@link ensureNact}. */
export type NactInstall =
  | { ok: true; dir: string; version: string; cached: boolean }
  | { ok: false; reason: string };

/** Folder nact is installed into (inside the OS temp folder). */
export function nactDir(): string {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${tmp.replace(/\/$/, "")}/pulsing-bench-nact-7`;
}

async function installedVersion(dir: string): Promise<string | null> {
  try {
    const j = JSON.parse(await Deno.readTextFile(`${dir}/node_modules/nact/package.json`));
    return typeof j.version === "string" ? j.version : null;
  } catch {
    return null;
  }
}

/**
 * Makes sure nact 7 is installed in {@link nactDir}.
 *
 * @param fresh remove a previous install first
 * @param timeoutMs upper bound for `npm install`
 * @returns where it is, or why it is not available
 */
export async function ensureNact(fresh = false, timeoutMs = 120_000): Promise<NactInstall> {
  const dir = nactDir();
  if (fresh) await Deno.remove(dir, { recursive: true }).catch(() => {});
  const have = await installedVersion(dir);
  if (have?.startsWith("7.")) return { ok: true, dir, version: have, cached: true };
  await Deno.mkdir(dir, { recursive: true });
  let out: Deno.CommandOutput;
  try {
    const child = new Deno.Command("npm", {
      args: ["install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "nact@7"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, timeoutMs);
    out = await child.output();
    clearTimeout(timer);
  } catch {
    return { ok: false, reason: "npm is not on PATH" };
  }
  const version = await installedVersion(dir);
  if (!out.success || !version) {
    const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    return { ok: false, reason: `npm install nact@7 failed (registry unreachable?): ${tail}` };
  }
  return { ok: true, dir, version, cached: false };
}

if (import.meta.main) {
  const r = await ensureNact(Deno.args.includes("--fresh"));
  console.log(JSON.stringify(r));
  if (!r.ok) Deno.exit(1);
}
