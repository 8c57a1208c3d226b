import assert from "node:assert/strict";
import { ActorSystem } from "../core/system.ts";
import { serveHttp } from "./gateway.ts";
import { listen as listenNode } from "./serve_node.ts";
import { createGatewayApp } from "./gateway.ts";
import { probe, Router } from "./_test_actors.ts";

const NAME = "services/llm/router";

async function waitFor(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Read NDJSON lines one by one off a fetch body. */
function lineReader(body: ReadableStream<Uint8Array>): { next(): Promise<unknown> } {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  return {
    async next(): Promise<unknown> {
      while (!buf.includes("\n")) {
        const { done, value } = await reader.read();
        if (done) throw new Error("body ended");
        buf += dec.decode(value, { stream: true });
      }
      const i = buf.indexOf("\n");
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      return JSON.parse(line);
    },
  };
}

for (const runtime of ["deno", "node"] as const) {
  const serve = async (system: ActorSystem, token?: string) => {
    if (runtime === "deno") {
      return await serveHttp(system, { port: 0, hostname: "127.0.0.1", token });
    }
    const app = createGatewayApp(system, { token });
    const s = await listenNode((r) => app.fetch(r), { port: 0, hostname: "127.0.0.1" });
    const url = `http://127.0.0.1:${s.port}`;
    return { url, close: () => s.close() };
  };

  Deno.test(`${runtime} server: every route over a real socket on 127.0.0.1:0`, async () => {
    const system = new ActorSystem();
    await Router.spawn({ name: NAME, system });
    const gw = await serve(system, "tok");
    const auth = { authorization: "Bearer tok" };
    try {
      assert.match(gw.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${gw.url}/health`);
      assert.equal((await health.json()).status, "healthy");
      const unauth = await fetch(`${gw.url}/metrics`);
      assert.equal(unauth.status, 401);
      await unauth.body?.cancel();
      const metrics = await fetch(`${gw.url}/metrics`, { headers: auth });
      assert.match(await metrics.text(), /pulsing_cluster_members\{status="alive"\} 1/);
      const members = await (await fetch(`${gw.url}/cluster/members`, { headers: auth })).json();
      assert.equal(members.members.length, 1);
      const actors = await (await fetch(`${gw.url}/actors`, { headers: auth })).json();
      assert.equal(actors.actors[0].path, NAME);
      const page = await fetch(`${gw.url}/`);
      assert.match(await page.text(), /<title>Pulsing dashboard<\/title>/);
      const call = await fetch(`${gw.url}/actors/${NAME}/incr`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ args: [41] }),
      });
      assert.deepEqual(await call.json(), { result: 41 });
      const err = await fetch(`${gw.url}/actors/${NAME}/conflict`, {
        method: "POST",
        headers: auth,
        body: "[1]",
      });
      assert.equal(err.status, 409);
      assert.equal((await err.json()).error.code, 409);
      const sse = await fetch(`${gw.url}/actors/${NAME}/tokens`, {
        method: "POST",
        headers: { ...auth, accept: "text/event-stream" },
        body: "[2]",
      });
      assert.equal(await sse.text(), 'data: "t0"\n\ndata: "t1"\n\nevent: done\ndata: {}\n\n');
    } finally {
      await gw.close();
      await system.shutdown();
    }
  });

  Deno.test(`${runtime} server: NDJSON is flushed item by item`, async () => {
    const system = new ActorSystem();
    await Router.spawn({ name: NAME, system });
    const gw = await serve(system);
    let release!: () => void;
    probe.gate = new Promise<void>((r) => release = r);
    try {
      const res = await fetch(`${gw.url}/actors/${NAME}/gated`, { method: "POST", body: "[]" });
      const lines = lineReader(res.body!);
      // the second item waits on the gate: the first must arrive on its own
      assert.deepEqual(await lines.next(), { item: "first" });
      release();
      assert.deepEqual(await lines.next(), { item: "second" });
      assert.deepEqual(await lines.next(), { done: true });
    } finally {
      release();
      await gw.close();
      await system.shutdown();
    }
  });

  Deno.test(`${runtime} server: a client disconnect mid-stream runs the generator's finally`, async () => {
    const system = new ActorSystem();
    await Router.spawn({ name: NAME, system });
    const gw = await serve(system);
    const before = probe.finallyRan;
    try {
      const ac = new AbortController();
      const res = await fetch(`${gw.url}/actors/${NAME}/endless`, {
        method: "POST",
        body: "[]",
        signal: ac.signal,
      });
      const lines = lineReader(res.body!);
      assert.deepEqual(await lines.next(), { item: 0 });
      assert.deepEqual(await lines.next(), { item: 1 });
      ac.abort();
      await waitFor(() => probe.finallyRan === before + 1);
    } finally {
      await gw.close();
      await system.shutdown();
    }
  });
}

Deno.test("serveHttp: closes on signal and when the system shuts down", async () => {
  const system = new ActorSystem();
  const ac = new AbortController();
  const gw = await serveHttp(system, { port: 0, signal: ac.signal });
  assert.equal((await (await fetch(`${gw.url}/health`)).json()).status, "healthy");
  ac.abort();
  await gw.close();
  await assert.rejects(fetch(`${gw.url}/health`));
  const gw2 = await serveHttp(system, { port: 0 });
  await system.shutdown();
  await assert.rejects(fetch(`${gw2.url}/health`));
});

Deno.test("serveHttp: a taken port rejects", async () => {
  const system = new ActorSystem();
  const gw = await serveHttp(system, { port: 0 });
  const port = Number(gw.addr.split(":").pop());
  await assert.rejects(serveHttp(system, { port }), /in use|AddrInUse/i);
  await gw.close();
  await system.shutdown();
});
