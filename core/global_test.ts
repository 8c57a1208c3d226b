import assert from "node:assert/strict";
import * as pul from "../mod.ts";

Deno.test("getSystem before init throws 'not initialized'", () => {
  assert.equal(pul.isInitialized(), false);
  assert.throws(() => pul.getSystem(), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingRuntimeError);
    assert.match((e as Error).message, /Actor system not initialized/);
    return true;
  });
});

Deno.test("global APIs before init throw 'not initialized'", async () => {
  const Cls = pul.remote(
    class LifecycleProbe {
      f(): number {
        return 1;
      }
    },
  );
  await assert.rejects(() => Cls.spawn(), /not initialized/);
  await assert.rejects(() => Cls.resolve("x"), /not initialized/);
  await assert.rejects(() => pul.resolve("x"), /not initialized/);
  assert.throws(() => pul.mount({}, { name: "m" }), /not initialized/);
  assert.equal(await pul.unmount("m"), false);
});

Deno.test("init twice returns the same system", async () => {
  const a = await pul.init();
  const b = await pul.init();
  assert.equal(a, b);
  assert.equal(pul.getSystem(), a);
  assert.equal(pul.isInitialized(), true);
  await pul.shutdown();
  assert.equal(pul.isInitialized(), false);
});

Deno.test("init after shutdown gives a fresh system", async () => {
  const a = await pul.init();
  await a.spawn({ receive: () => 1 }, { name: "keep" });
  await pul.shutdown();
  assert.equal(a.isShutdown, true);
  const b = await pul.init();
  assert.notEqual(a, b);
  assert.equal(b.isShutdown, false);
  assert.deepEqual(b.localActorNames(), []);
  await pul.shutdown();
});

Deno.test("shutdown is idempotent and a no-op when not initialized", async () => {
  await pul.shutdown();
  await pul.init();
  await Promise.all([pul.shutdown(), pul.shutdown()]);
  await pul.shutdown();
  assert.equal(pul.isInitialized(), false);
  const s = await pul.actorSystem();
  await s.shutdown();
  await s.shutdown();
});

Deno.test("a shut-down system refuses new work clearly", async () => {
  const s = await pul.actorSystem();
  await s.shutdown();
  await assert.rejects(() => s.spawn({ receive: () => 1 }), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingRuntimeError);
    assert.match((e as Error).message, /shut down/);
    return true;
  });
  await assert.rejects(() => s.resolve("x"), /shut down/);
});

Deno.test("actorSystem creates independent systems", async () => {
  const a = await pul.actorSystem();
  const b = await pul.actorSystem();
  assert.notEqual(a.nodeId.value, b.nodeId.value);
  await a.spawn({ receive: () => "a" }, { name: "same" });
  await b.spawn({ receive: () => "b" }, { name: "same" });
  assert.equal(await (await a.resolve("same")).ask(0), "a");
  assert.equal(await (await b.resolve("same")).ask(0), "b");
  assert.equal(pul.isInitialized(), false);
  await a.shutdown();
  await b.shutdown();
});
