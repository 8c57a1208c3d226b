/**
 * A node that just joined already knows the cluster's names: `init` waits (briefly) for the
 * registries of the members it learned at join.
 */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";

Deno.test("join: names of the cluster resolve right after init, without a timeout", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const a = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  const b = await pul.actorSystem({ addr: "127.0.0.1:0", seeds: [a.addr], logger: () => {} });
  try {
    for (let i = 0; i < 20; i++) await a.spawn({ receive: () => i }, { name: `early-${i}` });
    await b.spawn({ receive: () => "b" }, { name: "on-b" });
    const c = await pul.actorSystem({ addr: "127.0.0.1:0", seeds: [b.addr], logger: () => {} });
    try {
      assert.equal(await (await c.resolve("early-7")).ask(null), 7);
      assert.equal(await (await c.resolve("on-b")).ask(null), "b");
      assert.equal(
        await (await c.resolve("system/core", { nodeId: a.nodeId.value })).isLocal(),
        false,
      );
    } finally {
      await c.shutdown();
    }
  } finally {
    await b.shutdown();
    await a.shutdown();
  }
});
