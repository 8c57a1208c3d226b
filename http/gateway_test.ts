import assert from "node:assert/strict";
import { ActorSystem } from "../core/system.ts";
import { createGatewayApp, type GatewayApp, type GatewayOptions } from "./gateway.ts";
import { Router } from "./_test_actors.ts";

const NAME = "services/llm/router";

async function setup(options: GatewayOptions = {}): Promise<{
  system: ActorSystem;
  app: GatewayApp;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const system = new ActorSystem();
  await Router.spawn({ name: NAME, system });
  const app = createGatewayApp(system, options);
  return { system, app, [Symbol.asyncDispose]: () => system.shutdown() };
}

function post(path: string, body: unknown, headers: Record<string, string> = {}): Request {
  return new Request(`http://gw${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function lines(res: Response): Promise<unknown[]> {
  const text = await res.text();
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("GET /health answers without a token", async () => {
  await using s = await setup({ token: "s3cret" });
  const res = await s.app.fetch(new Request("http://gw/health"));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "healthy");
  assert.equal(body.nodeId, s.system.nodeId.value);
  assert.equal(body.actorCount, 1);
});

Deno.test("token: 401 without or with a wrong bearer, 200 with the right one", async () => {
  await using s = await setup({ token: "s3cret" });
  for (const path of ["/metrics", "/cluster/members", "/actors", "/stats", `/actors/${NAME}`]) {
    const none = await s.app.fetch(new Request(`http://gw${path}`));
    assert.equal(none.status, 401, path);
    assert.equal((await none.json()).error.class, "PulsingRuntimeError");
    assert.match(none.headers.get("www-authenticate")!, /Bearer/);
    const wrong = await s.app.fetch(
      new Request(`http://gw${path}`, { headers: { authorization: "Bearer s3cres" } }),
    );
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const short = await s.app.fetch(
      new Request(`http://gw${path}`, { headers: { authorization: "Bearer s3" } }),
    );
    assert.equal(short.status, 401);
    await short.body?.cancel();
    const ok = await s.app.fetch(
      new Request(`http://gw${path}`, { headers: { authorization: "Bearer s3cret" } }),
    );
    assert.equal(ok.status, 200, path);
    await ok.body?.cancel();
  }
  const call = await s.app.fetch(post(`/actors/${NAME}/incr`, { args: [] }));
  assert.equal(call.status, 401);
  await call.body?.cancel();
  const authed = await s.app.fetch(
    post(`/actors/${NAME}/incr`, { args: [] }, { authorization: "bearer s3cret" }),
  );
  assert.deepEqual(await authed.json(), { result: 1 });
  // the dashboard page holds no data: it loads without a token and asks for one itself
  const page = await s.app.fetch(new Request("http://gw/"));
  assert.equal(page.status, 200);
  assert.match(await page.text(), /#token=/);
});

Deno.test("GET /cluster/members and GET /actors", async () => {
  await using s = await setup();
  const m = await (await s.app.fetch(new Request("http://gw/cluster/members"))).json();
  assert.equal(m.nodeId, s.system.nodeId.value);
  assert.deepEqual(m.members, [{ nodeId: s.system.nodeId.value, addr: "", status: "alive" }]);
  await s.system.spawn({ receive: () => 0 }, { name: "svc/_hidden" });
  const a = await (await s.app.fetch(new Request("http://gw/actors"))).json();
  assert.deepEqual(a.actors.map((x: { path: string }) => x.path), [NAME]);
  assert.equal(a.actors[0].instanceCount, 1);
  assert.equal(a.actors[0].instances[0].metadata.class, "HttpTestRouter");
  const all = await (await s.app.fetch(new Request("http://gw/actors?all=true"))).json();
  assert.deepEqual(all.actors.map((x: { path: string }) => x.path).sort(), [NAME, "svc/_hidden"]);
});

Deno.test("GET /actors/{name} resolves (404 when unknown)", async () => {
  await using s = await setup();
  const res = await s.app.fetch(new Request(`http://gw/actors/${NAME}`));
  const r = await res.json();
  assert.equal(r.path, NAME);
  assert.equal(r.nodeId, s.system.nodeId.value);
  assert.match(r.actorId, /^[0-9a-f]{32}$/);
  const missing = await s.app.fetch(new Request("http://gw/actors/nope"));
  assert.equal(missing.status, 404);
  assert.deepEqual((await missing.json()).error, {
    class: "PulsingRuntimeError",
    message: "Named actor not found: actors/nope",
  });
});

Deno.test("POST /actors/{name with slashes}/{method}: args object or bare array", async () => {
  await using s = await setup();
  assert.deepEqual(await (await s.app.fetch(post(`/actors/${NAME}/incr`, { args: [5] }))).json(), {
    result: 5,
  });
  assert.deepEqual(await (await s.app.fetch(post(`/actors/${NAME}/incr`, [2]))).json(), {
    result: 7,
  });
  assert.deepEqual(await (await s.app.fetch(post(`/actors/${NAME}/incr`, ""))).json(), {
    result: 8,
  });
  const echo = await s.app.fetch(post(`/actors/${NAME}/echo`, { args: [{ a: [1, "x"] }, null] }));
  assert.deepEqual(await echo.json(), { result: [{ a: [1, "x"] }, null] });
  // percent-encoded segments
  const enc = await s.app.fetch(post(`/actors/services/llm/rou%74er/incr`, []));
  assert.deepEqual(await enc.json(), { result: 9 });
  // short names get the actors/ namespace, as in the cluster
  await s.system.spawn({ receive: (m: unknown) => ({ got: m }) }, { name: "echo" });
  const ask = await s.app.fetch(post("/ask/echo", { msg: 3 }));
  assert.deepEqual(await ask.json(), { result: { got: 3 } });
  const tell = await s.app.fetch(post("/tell/actors/echo", { msg: 4 }));
  assert.equal(tell.status, 202);
  assert.deepEqual(await tell.json(), {});
});

Deno.test("error mapping: statuses and JSON bodies", async () => {
  await using s = await setup({ maxBodyBytes: 64 });
  const cases: [Request, number, Record<string, unknown>][] = [
    [post(`/actors/${NAME}/nope`, []), 400, { class: "PulsingRuntimeError" }],
    [post(`/actors/${NAME}/_private`, []), 400, { class: "PulsingRuntimeError" }],
    [post(`/actors/${NAME}/incr`, "{not json"), 400, { class: "PulsingRuntimeError" }],
    [post(`/actors/${NAME}/incr`, { args: 3 }), 400, { class: "PulsingRuntimeError" }],
    [post(`/actors/${NAME}/incr`, "42"), 400, { class: "PulsingRuntimeError" }],
    [post(`/actors/${NAME}`, []), 404, { class: "PulsingRuntimeError" }],
    [post(`/actors/nope/incr`, []), 404, {
      class: "PulsingRuntimeError",
      message: "Named actor not found: actors/nope",
    }],
    [post(`/actors/${NAME}/conflict`, ["u1"]), 409, {
      class: "PulsingBusinessError",
      message: "name taken",
      code: 409,
      details: { id: "u1" },
    }],
    [post(`/actors/${NAME}/oddCode`, []), 422, {
      class: "PulsingBusinessError",
      code: 7,
      details: ["x"],
    }],
    [post(`/actors/${NAME}/boom`, []), 500, {
      class: "PulsingActorError",
      message: "out of range",
      originalName: "RangeError",
      actorName: NAME,
    }],
    [post(`/actors/${NAME}/slow`, [200], { "x-pulsing-timeout": "20" }), 504, {
      class: "PulsingTimeoutError",
      durationMs: 20,
    }],
    [post(`/actors/${NAME}/bigint`, []), 500, { class: "PulsingRuntimeError" }],
    [post(`/actors/${NAME}/echo`, { args: ["x".repeat(100)] }), 413, {
      class: "PulsingRuntimeError",
    }],
    [post(`/actors/${NAME}/incr?timeout=-1`, []), 400, { class: "PulsingRuntimeError" }],
    [new Request("http://gw/nowhere"), 404, { class: "PulsingRuntimeError" }],
  ];
  for (const [req, status, expected] of cases) {
    const res = await s.app.fetch(req);
    assert.equal(res.status, status, `${req.method} ${req.url}`);
    assert.match(res.headers.get("content-type")!, /application\/json/);
    const { error } = await res.json();
    assert.equal(typeof error.message, "string");
    assert.equal(error.stack, undefined, "stacks stay inside the cluster");
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(error[k], v, `${req.url} ${k}`);
  }
});

Deno.test("streaming method: NDJSON lines, then done", async () => {
  await using s = await setup();
  const res = await s.app.fetch(post(`/actors/${NAME}/tokens`, [3]));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /application\/x-ndjson/);
  assert.deepEqual(await lines(res), [
    { item: "t0" },
    { item: "t1" },
    { item: "t2" },
    { done: true },
  ]);
  const empty = await s.app.fetch(post(`/actors/${NAME}/tokens`, [0]));
  assert.deepEqual(await lines(empty), [{ done: true }]);
});

Deno.test("streaming method: an error midway is the last line; before the first item a status", async () => {
  await using s = await setup();
  const res = await s.app.fetch(post(`/actors/${NAME}/failsAfter`, [2]));
  assert.equal(res.status, 200);
  const got = await lines(res);
  assert.deepEqual(got.slice(0, 2), [{ item: 0 }, { item: 1 }]);
  const last = got[2] as { error: Record<string, unknown> };
  assert.equal(last.error.class, "PulsingBusinessError");
  assert.equal(last.error.code, 418);
  assert.equal(got.length, 3);
  const first = await s.app.fetch(post(`/actors/${NAME}/failsFirst`, []));
  assert.equal(first.status, 403);
  assert.equal((await first.json()).error.message, "forbidden");
});

Deno.test("streaming method: SSE when the client asks for text/event-stream", async () => {
  await using s = await setup();
  const res = await s.app.fetch(
    post(`/actors/${NAME}/tokens`, [2], { accept: "text/event-stream" }),
  );
  assert.match(res.headers.get("content-type")!, /text\/event-stream/);
  assert.equal(
    await res.text(),
    'data: "t0"\n\ndata: "t1"\n\nevent: done\ndata: {}\n\n',
  );
  const bad = await s.app.fetch(
    post(`/actors/${NAME}/failsAfter`, [1], { accept: "text/event-stream" }),
  );
  const text = await bad.text();
  assert.match(text, /^data: 0\n\nevent: error\ndata: \{"error":\{"class":"PulsingBusinessError"/);
});

Deno.test("streaming method: cancelling the response body runs the generator's finally", async () => {
  await using s = await setup();
  const before = (await import("./_test_actors.ts")).probe.finallyRan;
  const res = await s.app.fetch(post(`/actors/${NAME}/endless`, []));
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  while ((text.match(/\n/g) ?? []).length < 3) text += dec.decode((await reader.read()).value);
  await reader.cancel();
  const { probe } = await import("./_test_actors.ts");
  for (let i = 0; i < 100 && probe.finallyRan === before; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(probe.finallyRan, before + 1);
});

Deno.test("GET /metrics: Prometheus text with per-actor calls, errors, latency, mailbox, members", async () => {
  await using s = await setup();
  await (await s.app.fetch(post(`/actors/${NAME}/incr`, []))).body?.cancel();
  await (await s.app.fetch(post(`/actors/${NAME}/incr`, []))).body?.cancel();
  await (await s.app.fetch(post(`/actors/${NAME}/conflict`, ["a"]))).body?.cancel();
  // a built-in-style name (last segment starting with `_`) is counted, not listed
  await s.system.spawn({ receive: () => 0 }, { name: "_hidden" });
  const res = await s.app.fetch(new Request("http://gw/metrics"));
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const value = (line: string) => {
    const l = text.split("\n").find((x) => x.startsWith(line + " "));
    assert.ok(l, `missing ${line}`);
    return Number(l.slice(line.length + 1));
  };
  const a = `actor="${NAME}"`;
  assert.equal(value(`pulsing_actor_messages_total{${a}}`), 3);
  assert.equal(value(`pulsing_actor_mailbox_depth{${a}}`), 0);
  assert.equal(value(`pulsing_gateway_calls_total{${a},outcome="ok"}`), 2);
  assert.equal(value(`pulsing_gateway_calls_total{${a},outcome="error"}`), 1);
  assert.equal(value(`pulsing_gateway_errors_total{${a},class="PulsingBusinessError"}`), 1);
  assert.equal(value(`pulsing_gateway_call_duration_seconds_count{${a}}`), 3);
  assert.equal(value(`pulsing_gateway_call_duration_seconds_bucket{${a},le="+Inf"}`), 3);
  assert.equal(value(`pulsing_cluster_members{status="alive"}`), 1);
  assert.equal(value(`pulsing_cluster_members{status="dead"}`), 0);
  assert.equal(value("pulsing_actors"), 2);
  assert.equal(value("pulsing_named_actors"), 1);
  assert.ok(!text.includes("_hidden"), "an internal name has no series");
  assert.equal(value("pulsing_transport_received_bytes_total"), 0);
  assert.ok(value("pulsing_http_sent_bytes_total") > 0);
  assert.equal(
    value('pulsing_http_requests_total{method="POST",route="/actors/*",status="200"}'),
    2,
  );
  // every sample line is `name{labels} value` or `name value`; every family has a TYPE
  for (const line of text.trim().split("\n")) {
    if (line.startsWith("#")) assert.match(line, /^# (HELP|TYPE) pulsing_\w+ /);
    else assert.match(line, /^pulsing_\w+(\{[^}]*\})? [0-9.e+-]+$/);
  }
});

Deno.test("GET /stats: members, actors with local counters and gateway calls", async () => {
  await using s = await setup();
  await (await s.app.fetch(post(`/actors/${NAME}/incr`, []))).body?.cancel();
  const st = await (await s.app.fetch(new Request("http://gw/stats"))).json();
  assert.equal(st.nodeId, s.system.nodeId.value);
  assert.equal(st.members.length, 1);
  assert.equal(st.actors.length, 1);
  assert.equal(st.actors[0].path, NAME);
  assert.deepEqual(st.actors[0].local, { handled: 1, mailboxDepth: 0, restarts: 0 });
  assert.deepEqual(st.actors[0].gateway, { ok: 1, errors: 0 });
});

Deno.test("CORS: preflight and allowed origin only when configured", async () => {
  await using s = await setup({ cors: "https://app.example", token: "t" });
  const pre = await s.app.fetch(
    new Request(`http://gw/actors/${NAME}/incr`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    }),
  );
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(pre.headers.get("access-control-allow-headers")!, /authorization/);
  const res = await s.app.fetch(
    new Request("http://gw/health", { headers: { origin: "https://app.example" } }),
  );
  assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
  await res.body?.cancel();
  const other = await s.app.fetch(
    new Request("http://gw/health", { headers: { origin: "https://evil.example" } }),
  );
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  await other.body?.cancel();
});
