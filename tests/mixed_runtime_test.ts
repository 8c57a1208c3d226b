/**
 * A mixed cluster: this Deno test process is one node (Deno TCP, or node:tls with a passphrase)
 * and a Node process running the built npm package (tests/node/peer.mjs, installed from the
 * `npm pack` tarball into a temp project) is the other. Each calls the other's actors — ask,
 * errors, bytes, streams, cancellation, placement — without and with a passphrase (mutual TLS),
 * and a Node peer with another passphrase is kept out.
 *
 * Skipped, saying why, when `npm/` is not built (`deno task build:npm`; `.ci/extra` builds it
 * first) or no Node >= 22 is found (tools/node/22 or 24 from `.ci/extra`, `$PULSING_NODE`, or
 * `node` on PATH).
 *
 * @module
 */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import {
  findNode,
  installBuiltPackage,
  type NodeBinary,
  nodeVersion,
  ROOT,
} from "../scripts/_node.ts";
import { type NodeProc, startProcess } from "./_cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Same class names as tests/node/peer.mjs, so placement works both ways. */
const Counter = pul.remote(
  class Counter {
    value: number;
    constructor(init = 0) {
      this.value = init;
    }
    incr(by = 1): number {
      this.value += by;
      return this.value;
    }
    runtime(): string {
      return `deno ${Deno.version.deno}`;
    }
    fail(code: number): never {
      throw new pul.PulsingBusinessError(code, "business says no", { code });
    }
    echo<T>(x: T): T {
      return x;
    }
    size(b: Uint8Array): number {
      return b.byteLength;
    }
  },
  { name: "Counter" },
);

const finals: string[] = [];
const Streamer = pul.remote(
  class Streamer {
    async *count(n: number): AsyncGenerator<number> {
      for (let i = 0; i < n; i++) yield i;
    }
    async *endless(tag: string): AsyncGenerator<number> {
      let i = 0;
      try {
        while (true) {
          yield i++;
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        finals.push(tag);
      }
    }
    finalsSeen(): string[] {
      return finals;
    }
  },
  { name: "Streamer" },
);

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

async function pickNode(): Promise<NodeBinary | undefined> {
  const env = Deno.env.get("PULSING_NODE");
  if (env) {
    const v = await nodeVersion(env);
    return v ? { path: env, version: v } : undefined;
  }
  return (await findNode(22)) ?? (await findNode(24)) ?? (await findNode(23));
}

const built = await exists(`${ROOT}/npm/package.json`);
const node = built ? await pickNode() : undefined;
const skip = !built
  ? "no npm build: run `deno task build:npm` first"
  : !node
  ? "no Node >= 22: run .ci/extra (installs tools/node/22 and 24) or set PULSING_NODE"
  : undefined;
if (skip) console.log(`tests/mixed_runtime_test.ts skipped: ${skip}`);

let project: Promise<string> | undefined;
/** Install the built package into a temp project once; copy the peer script there. */
function peerProject(): Promise<string> {
  project ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulsing_mixed_" });
    await installBuiltPackage(`${ROOT}/npm`, dir);
    await Deno.copyFile(`${ROOT}/tests/node/peer.mjs`, `${dir}/peer.mjs`);
    return dir;
  })();
  return project;
}

/** A Node process running tests/node/peer.mjs (the same line protocol as the Deno fixture). */
type Peer = NodeProc & { runtime: string };

async function startPeer(seeds: string[], passphrase?: string): Promise<Peer> {
  const dir = await peerProject();
  const args = [`${dir}/peer.mjs`, "--addr", "127.0.0.1:0", "--seeds", seeds.join(",")];
  if (passphrase) args.push("--passphrase", passphrase);
  const proc = await startProcess(node!.path, args, {}, dir);
  return Object.assign(proc, { runtime: String(proc.info.runtime) });
}

async function until(what: string, pred: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const alive = async (s: pul.ActorSystem) =>
  (await s.members()).filter((m) => m.status === "alive").length;

for (const passphrase of [undefined, "mixed runtime secret"]) {
  const label = passphrase ? "mutual TLS (passphrase)" : "plain TCP";
  Deno.test({
    name: `mixed runtime over ${label}: Deno and Node call each other's actors${
      skip ? ` [skipped: ${skip}]` : ""
    }`,
    ignore: skip !== undefined,
    ...opts,
    fn: async () => {
      const system = await pul.actorSystem({ addr: "127.0.0.1:0", passphrase });
      let peer: Peer | undefined;
      try {
        peer = await startPeer([system.addr], passphrase);
        const p = peer;
        assert.match(p.runtime, /^node v2\d\./);
        await until("both nodes alive on the Deno side", async () => (await alive(system)) === 2);
        await until(
          "both nodes alive on the Node side",
          async () =>
            (await p.run<number>(
              `return (await system.members()).filter((m) => m.status === "alive").length;`,
            )) === 2,
        );

        await Counter.spawn({ name: "mixed/deno-counter", args: [10], system });
        await Streamer.spawn({ name: "mixed/deno-streamer", system });
        await p.run(`
          await Counter.spawn({ name: "mixed/node-counter", args: [100] });
          await Streamer.spawn({ name: "mixed/node-streamer" });`);

        // Deno → Node: ask, errors, bytes, stream, cancellation
        const nc = await Counter.resolve("mixed/node-counter", { system, timeout: 10_000 });
        assert.equal(await nc.runtime(), p.runtime);
        assert.equal(await nc.incr(5), 105);
        assert.deepEqual(await nc.echo({ a: [1, "x", null], big: 2n ** 60n }), {
          a: [1, "x", null],
          big: 2n ** 60n,
        });
        await assert.rejects(nc.fail(418), (e: pul.PulsingBusinessError) => {
          assert.equal(e.name, "PulsingBusinessError");
          assert.equal(e.code, 418);
          assert.deepEqual(e.details, { code: 418 });
          return true;
        });
        assert.equal(await nc.size(new Uint8Array(1 << 20)), 1 << 20);
        const ns = await Streamer.resolve("mixed/node-streamer", { system, timeout: 10_000 });
        let n = 0;
        for await (const x of ns.count(5000)) assert.equal(x, n++);
        assert.equal(n, 5000);
        for await (const x of ns.endless("from-deno")) if (x >= 20) break;
        await until(
          "the Node generator's finally",
          async () => (await ns.finalsSeen()).includes("from-deno"),
        );

        // Node → Deno: the same through the package on Node
        const fromNode = await p.run<
          { runtime: string; value: number; sum: number; count: number; err: unknown }
        >(`
          const c = await Counter.resolve("mixed/deno-counter", { timeout: 10000 });
          const s = await Streamer.resolve("mixed/deno-streamer", { timeout: 10000 });
          let sum = 0, count = 0;
          for await (const x of s.count(5000)) { sum += x; count++; }
          for await (const x of s.endless("from-node")) if (x >= 20) break;
          let err;
          try { await c.fail(7); } catch (e) { err = { name: e.name, code: e.code, details: e.details }; }
          return { runtime: await c.runtime(), value: await c.incr(1), sum, count, err,
            size: await c.size(new Uint8Array(1 << 20)) };`);
        assert.deepEqual(fromNode, {
          runtime: `deno ${Deno.version.deno}`,
          value: 11,
          sum: (5000 * 4999) / 2,
          count: 5000,
          err: { name: "PulsingBusinessError", code: 7, details: { code: 7 } },
          size: 1 << 20,
        });
        await until(
          "the Deno generator's finally",
          () => Promise.resolve(finals.includes("from-node")),
        );

        // placement across runtimes: each spawns a Counter on the other's node
        const placed = await Counter.spawn({
          name: "mixed/placed-on-node",
          args: [1],
          placement: p.nodeId,
          system,
        });
        assert.equal(await placed.runtime(), p.runtime);
        assert.equal(
          await p.run(`
            const c = await Counter.spawn({ name: "mixed/placed-on-deno", args: [2], placement: ${
            JSON.stringify(system.nodeId.value)
          } });
            return await c.runtime();`),
          `deno ${Deno.version.deno}`,
        );
      } catch (e) {
        if (peer) console.error(`node peer stderr:\n${peer.stderr()}`);
        throw e;
      } finally {
        await peer?.stop();
        await system.shutdown();
      }
    },
  });
}

Deno.test({
  name: `mixed runtime: a Node node with another passphrase is kept out${
    skip ? ` [skipped: ${skip}]` : ""
  }`,
  ignore: skip !== undefined,
  ...opts,
  fn: async () => {
    const system = await pul.actorSystem({ addr: "127.0.0.1:0", passphrase: "the right one" });
    let peer: Peer | undefined;
    try {
      peer = await startPeer([system.addr], "another one");
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await alive(system), 1);
      assert.equal(
        await peer.run(
          `return (await system.members()).filter((m) => m.status === "alive").length;`,
        ),
        1,
      );
    } finally {
      await peer?.stop();
      await system.shutdown();
    }
  },
});
