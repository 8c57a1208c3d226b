/**
 * The queue storage on Node, from a bundle of these modules: the bucket hash and the
 * rendezvous owner are the same numbers as on Deno, the memory backend works, and the sqlite
 * backend either works (Node >= 22.5) or fails with a clear PulsingUnsupportedError (Node 20),
 * never at import time.
 */
import assert from "node:assert/strict";
import { bucketHash } from "./bucket_hash.ts";
import { ownerOf } from "./rendezvous.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const here = (f: string): string => new URL(f, import.meta.url).href;

function nodeVersion(): string | undefined {
  try {
    const out = new Deno.Command("node", { args: ["--version"], stdout: "piped" }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

const version = nodeVersion();

Deno.test({
  name: `node ${version ?? "(absent)"}: same hashes and owners, memory works, sqlite clear`,
  ignore: version === undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulsing_node_" });
    try {
      const keys = ["", "1", 1, "u1", null, 2n ** 70n, "héllo 🚀", ["a", 1], 1.5];
      await Deno.writeTextFile(
        `${dir}/entry.ts`,
        `import { bucketHash } from "${here("./bucket_hash.ts")}";
        import { ownerOf } from "${here("./rendezvous.ts")}";
        import { createBackend } from "${here("./backend.ts")}";
        const keys = ["", "1", 1, "u1", null, 2n ** 70n, "héllo 🚀", ["a", 1], 1.5];
        const hashes = keys.map((k) => bucketHash(k).toString(16));
        const owners = Array.from({ length: 50 }, (_, i) => ownerOf("q:bucket_" + i, ["n1", "n2", "n3"]));
        const m = await createBackend("memory", { bucketId: 0 });
        await m.putBatch([{ id: 1 }, { id: 2 }]);
        const memory = (await m.get(0, 10)).length;
        let sqlite;
        try {
          const s = await createBackend("sqlite", { bucketId: 0, storagePath: ":memory:" });
          await s.put({ id: 1 });
          sqlite = "ok " + s.totalCount();
        } catch (e) {
          sqlite = e.name + ": " + e.message;
        }
        console.log(JSON.stringify({ hashes, owners, memory, sqlite }));`,
      );
      const bundled = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--config",
          CONFIG,
          "--platform",
          "node",
          "-o",
          `${dir}/out.mjs`,
          `${dir}/entry.ts`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(bundled.success, new TextDecoder().decode(bundled.stderr));
      const run = await new Deno.Command("node", {
        args: [`${dir}/out.mjs`],
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const got = JSON.parse(new TextDecoder().decode(run.stdout));
      assert.deepEqual(got.hashes, keys.map((k) => bucketHash(k).toString(16)));
      assert.deepEqual(
        got.owners,
        Array.from({ length: 50 }, (_, i) => ownerOf("q:bucket_" + i, ["n1", "n2", "n3"])),
      );
      assert.equal(got.memory, 2);
      const [major, minor] = version!.slice(1).split(".").map(Number);
      if (major > 22 || (major === 22 && minor >= 13)) {
        assert.equal(got.sqlite, "ok 1");
      } else if (major < 22) {
        assert.match(got.sqlite, /^PulsingUnsupportedError: .*node:sqlite is not available/);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
