/**
 * The HTTP gateway reaches actors on other nodes, and its metrics count the cluster's bytes.
 */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import { startNode, stopAll } from "./_cluster.ts";

Deno.test("gateway: calls and streams reach an actor on another process; metrics count bytes", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const a = await startNode();
  const gw = await pul.actorSystem({
    addr: "127.0.0.1:0",
    seeds: [a.addr],
    http: { port: 0, hostname: "127.0.0.1" },
    logger: () => {},
  });
  try {
    await a.run(
      `await Counter.spawn({ name: "gw-counter", args: [40] }); await Streamer.spawn({ name: "gw-s" });`,
    );
    await gw.resolve("gw-counter", { timeout: 5000 });
    await gw.resolve("gw-s", { timeout: 5000 });
    const url = gw.gateway!.url;
    const r = await fetch(`${url}/actors/actors/gw-counter/incr`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ args: [2] }),
    });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { result: 42 });
    const s = await fetch(`${url}/actors/actors/gw-s/count`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ args: [3] }),
    });
    const lines = (await s.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [{ item: 0 }, { item: 1 }, { item: 2 }, { done: true }]);
    const err = await fetch(`${url}/actors/actors/gw-counter/fail`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ args: [404] }),
    });
    assert.equal(err.status, 404);
    assert.equal((await err.json()).error.class, "PulsingBusinessError");
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const bytesIn = Number(/pulsing_transport_received_bytes_total (\d+)/.exec(metrics)?.[1]);
    const bytesOut = Number(/pulsing_transport_sent_bytes_total (\d+)/.exec(metrics)?.[1]);
    assert.ok(bytesIn > 0 && bytesOut > 0, `bytes in ${bytesIn}, out ${bytesOut}`);
    assert.match(metrics, /pulsing_cluster_members\{status="alive"\} 2/);
  } finally {
    await gw.shutdown();
    await stopAll([a]);
  }
});
