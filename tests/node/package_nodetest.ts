/**
 * Node-only checks of the installed npm package. `scripts/test_node.ts` bundles this file like
 * the portable tests (its library imports become imports of the installed package: `../../mod.ts`
 * is `@pulsing/pulsing`), and it runs under Node 22 and 24. `deno test` never picks it up (the
 * `_nodetest.ts` suffix), because it asserts Node facts: no `Deno` global, the node:net
 * transport, the node:http gateway adapter, the package's exports map.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as pul from "../../mod.ts";
import { defaultTransport } from "../../cluster/transport/mod.ts";
import { serveHttp } from "../../http/mod.ts";
import { startWorkers } from "../../cluster/workers.ts";

const PKG = "@pulsing/pulsing";

const Greeter = pul.remote(
  class Greeter {
    greetings = 0;
    greet(name: string): string {
      this.greetings++;
      return `hello ${name}`;
    }
    async *count(n: number): AsyncGenerator<number> {
      for (let i = 0; i < n; i++) yield i;
    }
  },
  { name: "NodeGreeter" },
);

async function until(pred: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("node package: runs on Node >= 22 with no Deno global", () => {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  assert.equal(g.Deno, undefined);
  assert.ok(Number(g.process.versions.node.split(".")[0]) >= 22, g.process.version);
});

Deno.test("node package: every export resolves inside the installed package, with types", async () => {
  const pkgUrl = import.meta.resolve(`${PKG}/package.json`);
  const dir = fileURLToPath(new URL(".", pkgUrl));
  assert.match(dir, /node_modules\/@pulsing\/pulsing\/$/);
  const pkg = JSON.parse(readFileSync(fileURLToPath(pkgUrl), "utf8"));
  assert.equal(pkg.name, PKG);
  assert.deepEqual(pkg.engines, { node: ">=22" });
  for (const [sub, cond] of Object.entries(pkg.exports as Record<string, unknown>)) {
    if (sub === "./package.json") continue;
    const { types, import: js } = cond as { types: string; import: string };
    const spec = PKG + sub.slice(1);
    assert.equal(import.meta.resolve(spec), new URL(js, pkgUrl).href, spec);
    assert.ok(existsSync(fileURLToPath(new URL(types, pkgUrl))), `${spec}: ${types}`);
    const mod = await import(spec);
    assert.ok(Object.keys(mod).length > 0, `${spec} exports nothing`);
  }
  // the statically imported `pul` (rewritten by the bundler) is the same module instance
  const byName = PKG;
  assert.equal(await import(byName), pul);
});

Deno.test("node package: the default transport is node:net", () => {
  assert.equal(defaultTransport().kind, "node-net");
});

for (const passphrase of [undefined, "node package passphrase"]) {
  const label = passphrase ? "mutual TLS" : "plain TCP";
  Deno.test(`node package: two nodes in one process over ${label}: ask and stream`, async () => {
    const a = await pul.actorSystem({ addr: "127.0.0.1:0", passphrase });
    const b = await pul.actorSystem({ addr: "127.0.0.1:0", seeds: [a.addr], passphrase });
    try {
      await until(async () => (await b.members()).filter((m) => m.status === "alive").length === 2);
      await Greeter.spawn({ name: "node/greeter", system: a });
      const g = await Greeter.resolve("node/greeter", { system: b, timeout: 5000 });
      assert.equal(await g.greet("node"), "hello node");
      const items: number[] = [];
      for await (const i of g.count(100)) items.push(i);
      assert.deepEqual(items, Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await b.shutdown();
      await a.shutdown();
    }
  });
}

Deno.test("node package: the HTTP gateway serves over node:http", async () => {
  const system = await pul.actorSystem();
  const gw = await serveHttp(system, { port: 0 });
  try {
    const res = await fetch(`${gw.url}/health`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    await gw.close();
    await system.shutdown();
  }
});

Deno.test("node package: local workers run the shipped worker_main.js under Node", async () => {
  // A module of actor classes, as a user writes it: plain JS importing the package by name.
  const classes = new URL("./_worker_classes.mjs", import.meta.url);
  writeFileSync(
    classes,
    `import * as pul from "${PKG}";
export const WorkerProbe = pul.remote(class WorkerProbe {
  where() { return { pid: process.pid, deno: typeof globalThis.Deno }; }
}, { name: "WorkerProbe" });
`,
  );
  const { WorkerProbe } = await import(classes.href);
  // deno-lint-ignore no-explicit-any
  const proc = (globalThis as any).process;
  const system = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  try {
    const pool = await startWorkers(system, 1, { modules: [classes] });
    assert.equal(pool.workers.length, 1);
    const probe = await WorkerProbe.spawn({ system, placement: "remote" });
    const where = await probe.where();
    assert.equal(where.pid, pool.workers[0].pid);
    assert.notEqual(where.pid, proc.pid);
    assert.equal(where.deno, "undefined");
  } finally {
    await system.shutdown();
  }
});
