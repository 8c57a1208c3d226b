import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import { ActorSystem, SupervisionSpec } from "./mod.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

Deno.test("spawning() builder: name, supervision, mailbox capacity, metadata", async () => {
  const system = new ActorSystem({ logger: () => {} });
  let built = 0;
  const ref = await system.spawning()
    .name("services/counter")
    .supervision(SupervisionSpec.onFailure().withMaxRestarts(3).withBackoff(1, 2))
    .mailboxCapacity(16)
    .metadata({ class: "Counter" })
    .spawn(() => {
      const n = ++built;
      return {
        onStart() {
          if (n === 1) throw new Error("first start fails");
        },
        receive: () => n,
      };
    });
  assert.equal(ref.name, "services/counter");
  assert.equal(await ref.ask(null), 2, "supervision applied: restarted once");
  const [info] = await system.allNamedActors();
  assert.equal(info.path, "services/counter");
  assert.equal(info.instanceCount, 1);
  assert.equal(info.instances[0].nodeId, system.nodeId.value);
  assert.equal(info.instances[0].actorId, ref.actorId.value);
  assert.deepEqual(info.instances[0].metadata, { class: "Counter" });
  await assert.rejects(
    () => system.spawning().mailboxCapacity(0).spawn({ receive: () => 1 }),
    TypeError,
  );
  await system.shutdown();
});

Deno.test("spawnNamedFactory", async () => {
  const system = new ActorSystem();
  const ref = await system.spawnNamedFactory("svc/echo", () => ({ receive: (m: unknown) => m }), {
    restartPolicy: "on_failure",
  });
  assert.equal(await ref.ask("hi"), "hi");
  assert.deepEqual(system.localActorNames(), ["svc/echo"]);
  await system.shutdown();
});

Deno.test("resolving() builder: node, policy, timeout", async () => {
  const system = new ActorSystem();
  await system.spawn({ receive: () => "a" }, { name: "svc/a" });
  const ref = await system.resolving()
    .node(system.nodeId)
    .policy({ select: () => 0 }) // used when several nodes hold the name
    .timeout(100)
    .resolve("svc/a");
  assert.equal(await ref.ask(null), "a");
  await assert.rejects(
    () => system.resolving().node("f".repeat(32)).resolve("svc/a"),
    /Named actor not found: svc\/a on node f{32}/,
  );
  setTimeout(() => system.spawn({ receive: () => "b" }, { name: "svc/b" }), 20);
  assert.equal(await (await system.resolving().timeout(1_000).resolve("svc/b")).ask(0), "b");
  await system.shutdown();
});

Deno.test("resolve with timeout: appears later → found; never → error naming the path after ≥ timeout", async () => {
  const system = new ActorSystem();
  setTimeout(() => system.spawn({ receive: () => "late" }, { name: "late" }), 30);
  const t0 = performance.now();
  const ref = await system.resolve("late", { timeout: 2_000 });
  assert.equal(await ref.ask(null), "late");
  assert.ok(performance.now() - t0 < 1_000, "found when it appeared, not at the deadline");

  for (const timeout of [50, 250]) {
    const t1 = performance.now();
    await assert.rejects(() => system.resolve("svc/never", { timeout }), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingRuntimeError);
      assert.equal((e as Error).message, "Named actor not found: svc/never");
      return true;
    });
    const waited = performance.now() - t1;
    assert.ok(waited >= timeout - 1, `waited ${waited} for timeout ${timeout}`);
  }
  // timeout <= 0 is a single attempt.
  await assert.rejects(() => system.resolve("nope", { timeout: 0 }), /actors\/nope/);
  await assert.rejects(() => system.resolve("nope", { timeout: -5 }), /actors\/nope/);
  await system.shutdown();
});

Deno.test("shutdown wakes a resolve that is waiting for a name", async () => {
  const system = new ActorSystem();
  const waiting = system.resolve("ghost", { timeout: 10_000 });
  await sleep(5);
  const t0 = performance.now();
  await system.shutdown();
  await assert.rejects(() => waiting, /Named actor not found: actors\/ghost/);
  assert.ok(performance.now() - t0 < 1_000);
});

Deno.test("refer: by id string (hex, UUID form), unknown id, malformed id", async () => {
  const system = new ActorSystem();
  const ref = await system.spawn({ receive: () => "here" });
  const hex = ref.actorId.toString();
  assert.equal(await (await system.refer(hex)).ask(null), "here");
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
  assert.equal(await system.refer(uuid), ref);
  await assert.rejects(() => system.refer("1"), /Actor not found: 0{31}1/);
  await assert.rejects(() => system.refer("zzz"), TypeError);
  await system.shutdown();
});

Deno.test("listings: localActorNames, actorCount, members, toString, addr", async () => {
  const system = new ActorSystem();
  await system.spawn({ receive: () => 1 }, { name: "a" });
  await system.spawn({ receive: () => 1 }, { name: "ns/b" });
  await system.spawn({ receive: () => 1 });
  assert.deepEqual(system.localActorNames().sort(), ["actors/a", "ns/b"]);
  assert.equal(system.actorCount, 3);
  assert.deepEqual(await system.members(), [
    { nodeId: system.nodeId.value, addr: "", status: "alive" },
  ]);
  assert.equal(system.addr, "");
  assert.match(String(system), /^ActorSystem\(nodeId=[0-9a-f]{32}, addr=in-process\)$/);
  await system.shutdown();
  assert.equal(system.actorCount, 0);
});

Deno.test("shutdown runs onStop of every actor and the shutdown hooks, once", async () => {
  const system = new ActorSystem({ logger: () => {} });
  const stops: string[] = [];
  for (const n of ["a", "b", "c"]) {
    await system.spawn({ receive: () => 1, onStop: () => void stops.push(n) }, { name: n });
  }
  await system.spawn({
    receive: () => 1,
    onStop() {
      throw new Error("onStop failure is logged, not thrown");
    },
  });
  let hooks = 0;
  system.onShutdown(() => void hooks++);
  system.onShutdown(() => {
    throw new Error("a failing hook does not stop shutdown");
  });
  await Promise.all([system.shutdown(), system.shutdown()]);
  await system.shutdown();
  assert.deepEqual(stops.sort(), ["a", "b", "c"]);
  assert.equal(hooks, 1);
});

Deno.test("extension: one value per key and system", () => {
  const system = new ActorSystem();
  let made = 0;
  const a = system.extension("k", () => ({ n: ++made }));
  const b = system.extension("k", () => ({ n: ++made }));
  assert.equal(a, b);
  assert.equal(made, 1);
});

Deno.test("ActorSystem options are validated", () => {
  assert.throws(() => new ActorSystem({ defaultMailboxCapacity: 10 }), /16\.\.1000000/);
  const fixed = pul.NodeId.random();
  assert.equal(new ActorSystem({ nodeId: fixed }).nodeId, fixed);
});
