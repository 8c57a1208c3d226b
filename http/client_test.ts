import assert from "node:assert/strict";
import {
  PulsingActorError,
  PulsingBusinessError,
  PulsingRuntimeError,
  PulsingTimeoutError,
} from "../core/errors.ts";
import { ActorStream } from "../core/actor_stream.ts";
import { ActorSystem } from "../core/system.ts";
import { type HttpServerHandle, serveHttp } from "./gateway.ts";
import { connect } from "./client.ts";
import { probe, Router } from "./_test_actors.ts";

const NAME = "services/llm/router";

async function setup(token?: string): Promise<{
  system: ActorSystem;
  gw: HttpServerHandle;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const system = new ActorSystem();
  await Router.spawn({ name: NAME, system });
  const gw = await serveHttp(system, { port: 0, token });
  return {
    system,
    gw,
    async [Symbol.asyncDispose]() {
      await gw.close();
      await system.shutdown();
    },
  };
}

/** A URL nobody listens on (bound, then closed). */
function deadUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

Deno.test("connect: typed proxy with cls — methods return promises, generators ActorStreams", async () => {
  await using s = await setup("tok");
  const client = connect(s.gw.url, { token: "tok" });
  const r = await client.resolve(NAME, { cls: Router });
  assert.equal(await r.incr(2), 2);
  assert.equal(await r.incr(), 3);
  assert.deepEqual(await r.echo("a", { b: [1] }), ["a", { b: [1] }]);
  const stream = r.tokens(3);
  assert.ok(stream instanceof ActorStream);
  const items: string[] = [];
  for await (const t of stream) items.push(t);
  assert.deepEqual(items, ["t0", "t1", "t2"]);
  assert.deepEqual(await r.tokens(2).collect(), ["t0", "t1"]);
  // stream errors arrive with their class
  const got: number[] = [];
  await assert.rejects(
    async () => {
      for await (const x of r.failsAfter(2)) got.push(x);
    },
    (e) => e instanceof PulsingBusinessError && e.code === 418,
  );
  assert.deepEqual(got, [0, 1]);
});

Deno.test("connect: untyped proxy — await for results, iterate for streams", async () => {
  await using s = await setup();
  const client = connect(s.gw.url);
  const any = await client.resolve(NAME);
  assert.equal(await any.incr(5), 5);
  const seen: unknown[] = [];
  for await (const t of any.tokens(2)) seen.push(t);
  assert.deepEqual(seen, ["t0", "t1"]);
  const members = await client.members();
  assert.equal(members[0].nodeId, s.system.nodeId.value);
  assert.deepEqual((await client.actors()).map((a) => a.path), [NAME]);
  assert.equal((await client.health()).status, "healthy");
  // raw messages on a plain actor
  await s.system.spawn({ receive: (m: unknown) => ({ echoed: m }) }, { name: "plain" });
  const { refOf } = await import("../core/remote.ts");
  const plain = refOf(await client.resolve("plain"));
  assert.deepEqual(await plain.ask({ x: 1 }), { echoed: { x: 1 } });
  await plain.tell("fire and forget");
  assert.equal(plain.name, "actors/plain");
  assert.equal(plain.isLocal(), false);
});

Deno.test("connect: errors are rebuilt as the same Pulsing class", async () => {
  await using s = await setup("tok");
  const client = connect(s.gw.url, { token: "tok" });
  const r = await client.resolve(NAME, { cls: Router });
  await assert.rejects(r.conflict("u1"), (e) => {
    assert.ok(e instanceof PulsingBusinessError);
    assert.equal(e.code, 409);
    assert.equal(e.message, "name taken");
    assert.deepEqual(e.details, { id: "u1" });
    assert.equal(e.actorName, NAME);
    return true;
  });
  await assert.rejects(r.boom(), (e) => {
    assert.ok(e instanceof PulsingActorError && !(e instanceof PulsingBusinessError));
    assert.equal(e.originalName, "RangeError");
    assert.equal(e.message, "out of range");
    return true;
  });
  await assert.rejects(
    r.failsFirst().collect(),
    (e) => e instanceof PulsingBusinessError && e.code === 403,
  );
  await assert.rejects(
    client.resolve("missing"),
    (e) =>
      e instanceof PulsingRuntimeError && e.message === "Named actor not found: actors/missing",
  );
  await assert.rejects(
    connect(s.gw.url, { token: "wrong" }).resolve(NAME),
    (e) => e instanceof PulsingRuntimeError && /bearer token/.test(e.message),
  );
  const untyped = await client.resolve(NAME);
  await assert.rejects(async () => await untyped.nope(), /No method 'nope'/);
});

Deno.test("connect: timeouts become PulsingTimeoutError", async () => {
  await using s = await setup();
  const r = await connect(s.gw.url, { timeout: 30 }).resolve(NAME, { cls: Router });
  await assert.rejects(r.slow(300), (e) => e instanceof PulsingTimeoutError);
  // a per-call timeout through the ActorRef
  const { refOf } = await import("../core/remote.ts");
  const ref = refOf(await connect(s.gw.url).resolve(NAME));
  await assert.rejects(ref.call("slow", [300], { timeout: 20 }), PulsingTimeoutError);
  assert.equal(await ref.call("slow", [1], { timeout: 2_000 }), "late");
});

Deno.test("connect: breaking out of a stream stops the generator on the server", async () => {
  await using s = await setup();
  const r = await connect(s.gw.url).resolve(NAME, { cls: Router });
  const before = probe.finallyRan;
  for await (const i of r.endless()) if (i === 2) break;
  const end = Date.now() + 2_000;
  while (probe.finallyRan === before && Date.now() < end) {
    await new Promise((x) => setTimeout(x, 5));
  }
  assert.equal(probe.finallyRan, before + 1);
});

Deno.test("connect: two URLs, the first dead — calls go to the second and stay there", async () => {
  await using s = await setup();
  const client = connect([deadUrl(), s.gw.url]);
  const r = await client.resolve(NAME, { cls: Router });
  assert.equal(await r.incr(), 1);
  assert.equal(await r.incr(), 2);
  assert.deepEqual(await r.tokens(1).collect(), ["t0"]);
  await assert.rejects(
    connect([deadUrl(), deadUrl()]).resolve(NAME),
    (e) => e instanceof PulsingRuntimeError && /no gateway reachable/.test(e.message),
  );
});

Deno.test("connect: a call is never resent once it may have reached a gateway", async () => {
  await using s = await setup();
  const hits: string[] = [];
  let failNext: Error | undefined;
  const fake: typeof fetch = (input, init) => {
    const url = String(input);
    hits.push(url);
    if (failNext && url.startsWith("http://first")) {
      const e = failNext;
      return Promise.reject(e);
    }
    return fetch(url.replace("http://first", s.gw.url).replace("http://second", s.gw.url), init);
  };
  const client = connect(["http://first", "http://second"], { fetch: fake });
  const r = await client.resolve(NAME, { cls: Router });
  // connection reset after sending: not retried
  failNext = new TypeError("error sending request: connection reset by peer");
  hits.length = 0;
  await assert.rejects(r.incr(), /not retried/);
  assert.deepEqual(hits.map((h) => new URL(h).host), ["first"]);
  // connection refused: nothing was sent, the second gateway takes it
  failNext = new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
  hits.length = 0;
  assert.equal(await r.incr(), 1);
  assert.deepEqual(hits.map((h) => new URL(h).host), ["first", "second"]);
  assert.throws(() => connect([]), TypeError);
  assert.throws(() => connect("ftp://x"), TypeError);
  assert.equal(connect("127.0.0.1:9").urls[0], "http://127.0.0.1:9");
});
