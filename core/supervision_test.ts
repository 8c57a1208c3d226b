import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import type { Actor, ActorContext } from "./mod.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await sleep(2);
  }
}

Deno.test("policy validation: invalid strings and bounds are TypeErrors", async () => {
  const system = await pul.actorSystem();
  const factory = () => ({ receive: () => 1 });
  await assert.rejects(
    () => system.spawn(factory, { restartPolicy: "sometimes" as pul.RestartPolicy }),
    (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.match((e as Error).message, /Invalid restartPolicy "sometimes"/);
      return true;
    },
  );
  await assert.rejects(() => system.spawn(factory, { maxRestarts: -1 }), TypeError);
  await assert.rejects(() => system.spawn(factory, { maxRestarts: 1.5 }), TypeError);
  await assert.rejects(() => system.spawn(factory, { minBackoff: 10, maxBackoff: 5 }), TypeError);
  // Case-insensitive and the dashed spelling are accepted.
  for (const p of ["On_Failure", "on-failure", "ALWAYS", "Never"]) {
    const ref = await system.spawn(factory, { restartPolicy: p as pul.RestartPolicy });
    assert.equal(await ref.ask(0), 1);
  }
  await system.shutdown();
});

Deno.test("a restart policy without a factory is a TypeError", async () => {
  const system = await pul.actorSystem();
  await assert.rejects(
    () => system.spawn({ receive: () => 1 }, { name: "x", restartPolicy: "on_failure" }),
    (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.match((e as Error).message, /needs a factory/);
      return true;
    },
  );
  assert.deepEqual(system.localActorNames(), []);
  await system.shutdown();
});

Deno.test("SupervisionSpec: builder and backoff formula with jitter bounds", () => {
  const spec = pul.SupervisionSpec.onFailure().withMaxRestarts(5).withBackoff(100, 1_000);
  assert.equal(spec.policy, "on_failure");
  assert.equal(spec.maxRestarts, 5);
  assert.equal(spec.backoffFor(1, () => 0.5), 100);
  assert.equal(spec.backoffFor(2, () => 0.5), 200);
  assert.equal(spec.backoffFor(3, () => 0.5), 400);
  assert.equal(spec.backoffFor(10, () => 0.5), 1_000, "capped at maxBackoff");
  assert.equal(spec.backoffFor(1, () => 0), 80, "-20 %");
  assert.ok(Math.abs(spec.backoffFor(1, () => 0.999999) - 120) < 1e-3, "+20 %");
  assert.equal(pul.SupervisionSpec.never().policy, "never");
  assert.equal(pul.SupervisionSpec.always().shouldRestart(false), true);
  assert.equal(pul.SupervisionSpec.onFailure().shouldRestart(false), false);
  assert.equal(new pul.SupervisionSpec().maxRestarts, 3);
});

Deno.test("on_failure: restarts exactly maxRestarts times, then dead and unregistered", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let built = 0;
  const ref = await system.spawn(() => {
    built++;
    return {
      onStart() {
        throw new Error(`start failed #${built}`);
      },
      receive: () => "never handled",
    };
  }, { name: "flaky", restartPolicy: "on_failure", maxRestarts: 2, minBackoff: 1, maxBackoff: 4 });
  await until(() => system.localActorNames().length === 0);
  assert.equal(built, 3, "the first instance plus exactly 2 restarts");
  await sleep(20);
  assert.equal(built, 3, "no restart beyond the budget");
  await assert.rejects(() => ref.ask(0), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingRuntimeError);
    assert.match((e as Error).message, /^Actor stopped: actors\/flaky failed: start failed #3/);
    return true;
  });
  await assert.rejects(() => system.resolve("flaky"), /Named actor not found/);
  // The name is free again.
  const again = await system.spawn({ receive: () => "fresh" }, { name: "flaky" });
  assert.equal(await again.ask(0), "fresh");
  await system.shutdown();
});

Deno.test("backoff grows between restarts", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  const starts: number[] = [];
  await system.spawn(() => ({
    onStart() {
      starts.push(performance.now());
      throw new Error("no");
    },
    receive: () => 0,
  }), {
    name: "b",
    restartPolicy: "on_failure",
    maxRestarts: 3,
    minBackoff: 30,
    maxBackoff: 1_000,
  });
  await until(() => system.localActorNames().length === 0, 5_000);
  assert.equal(starts.length, 4);
  const gaps = starts.slice(1).map((t, i) => t - starts[i]);
  // Nominal 30, 60, 120 ms with ±20 % jitter: 24..36, 48..72, 96..144.
  assert.ok(gaps[0] >= 23, `first gap ${gaps[0]}`);
  assert.ok(gaps[1] > gaps[0], `gaps ${gaps}`);
  assert.ok(gaps[2] > gaps[1], `gaps ${gaps}`);
  await system.shutdown();
});

Deno.test("never: a failing onStart stops the actor at once; spawn itself succeeds", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let built = 0;
  const ref = await system.spawn(() => {
    built++;
    return {
      async onStart() {
        await Promise.resolve();
        throw new Error("bad start");
      },
      receive: () => 1,
    };
  }, { name: "n" });
  const pending = ref.ask(0); // queued while starting: it fails, never hangs
  await assert.rejects(() => pending, /Actor stopped: actors\/n failed: bad start/);
  await until(() => system.localActorNames().length === 0);
  assert.equal(built, 1);
  await system.shutdown();
});

Deno.test("the ref stays valid and the name resolves across restarts; queued messages survive", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let built = 0;
  const ref = await system.spawn(() => {
    const n = ++built;
    return {
      onStart() {
        if (n === 1) throw new Error("first start fails");
      },
      receive: (m: unknown) => `instance ${n} got ${m}`,
    };
  }, { name: "r", restartPolicy: "on_failure", minBackoff: 30, maxBackoff: 30 });
  // Sent while the first instance fails and during the backoff: queued, not lost.
  const early = [ref.ask("a"), ref.ask("b")];
  await sleep(5);
  const resolved = await system.resolve("r");
  assert.equal(resolved, ref);
  assert.deepEqual(await Promise.all(early), ["instance 2 got a", "instance 2 got b"]);
  assert.equal(await ref.ask("c"), "instance 2 got c");
  assert.equal(ref.actorId.value, (await system.resolve("r")).actorId.value);
  await system.shutdown();
});

Deno.test("a factory that throws on restart is a failure counted against the budget", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let calls = 0;
  const ref = await system.spawn(() => {
    const n = ++calls;
    if (n === 2) throw new Error("ctor fails on restart");
    return {
      onStart() {
        if (n === 1) throw new Error("first start fails");
      },
      receive: () => n,
    };
  }, { name: "f", restartPolicy: "on_failure", maxRestarts: 3, minBackoff: 1, maxBackoff: 2 });
  assert.equal(await ref.ask(0), 3);
  assert.equal(calls, 3);
  await system.shutdown();
});

Deno.test("ctx.fail restarts under on_failure with a fresh instance", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let built = 0;
  const ref = await system.spawn(() => {
    built++;
    let n = 0;
    return {
      receive(m: unknown, ctx: ActorContext) {
        if (m === "crash") ctx.fail(new Error("unrecoverable"));
        return ++n;
      },
    };
  }, { name: "cf", restartPolicy: "on_failure", minBackoff: 1, maxBackoff: 2 });
  assert.equal(await ref.ask("x"), 1);
  assert.equal(await ref.ask("x"), 2);
  assert.equal(await ref.ask("crash"), 3);
  assert.equal(await ref.ask("x"), 1, "state rebuilt by the factory");
  assert.equal(built, 2);
  await system.shutdown();
});

Deno.test("a method error never restarts the actor", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let built = 0;
  const ref = await system.spawn(() => {
    built++;
    let n = 0;
    return {
      receive(m: unknown) {
        n++;
        if (m === "bad") throw new Error("bad");
        return n;
      },
    };
  }, { restartPolicy: "always", minBackoff: 1, maxBackoff: 2 });
  await assert.rejects(() => ref.ask("bad"), /bad/);
  await assert.rejects(() => ref.ask("bad"), /bad/);
  assert.equal(await ref.ask("ok"), 3);
  assert.equal(built, 1);
  await system.shutdown();
});

Deno.test("always: restarts after ctx.stop(); on_failure and never: ctx.stop() stops", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  const make = (_policy: pul.RestartPolicy) => {
    let built = 0;
    const stopped: number[] = [];
    const factory = (): Actor => {
      const n = ++built;
      return {
        receive(m: unknown, ctx: ActorContext) {
          if (m === "stop") ctx.stop();
          return n;
        },
        onStop() {
          stopped.push(n);
        },
      };
    };
    return { factory, built: () => built, stopped };
  };
  const a = make("always");
  const ra = await system.spawn(a.factory, {
    name: "al",
    restartPolicy: "always",
    minBackoff: 1,
    maxBackoff: 2,
  });
  assert.equal(await ra.ask("stop"), 1);
  await until(() => a.built() === 2);
  assert.equal(await ra.ask("x"), 2, "the same ref reaches the new instance");
  assert.deepEqual(a.stopped, [1], "onStop ran for the self-stopped instance");
  assert.deepEqual(system.localActorNames(), ["actors/al"]);

  const o = make("on_failure");
  const ro = await system.spawn(o.factory, { name: "of", restartPolicy: "on_failure" });
  assert.equal(await ro.ask("stop"), 1);
  await until(() => !system.localActorNames().includes("actors/of"));
  await assert.rejects(() => ro.ask("x"), /Actor stopped/);
  assert.equal(o.built(), 1);
  assert.deepEqual(o.stopped, [1]);
  await system.shutdown();
});

Deno.test("explicit stop and shutdown never restart, even under always", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let built = 0;
  const factory = () => {
    built++;
    return { receive: () => built };
  };
  const ref = await system.spawn(factory, {
    name: "s",
    restartPolicy: "always",
    minBackoff: 1,
    maxBackoff: 1,
  });
  assert.equal(await system.stop("s"), true);
  await sleep(10);
  assert.equal(built, 1);
  await assert.rejects(() => ref.ask(0), /Actor stopped/);
  await system.spawn(factory, { name: "t", restartPolicy: "always" });
  await system.shutdown();
  await sleep(5);
  assert.equal(built, 2);
});

Deno.test("shutdown during a restart backoff does not hang and cancels the restart", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  let built = 0;
  const ref = await system.spawn(() => {
    built++;
    return {
      onStart() {
        throw new Error("fail");
      },
      receive: () => 0,
    };
  }, { name: "slowback", restartPolicy: "on_failure", minBackoff: 10_000, maxBackoff: 10_000 });
  const pending = ref.ask(0);
  await sleep(5);
  await system.shutdown();
  await assert.rejects(() => pending, /Actor stopped/);
  assert.equal(built, 1);
});

Deno.test("pul.remote class with on_failure: onStart failing restarts with the constructor re-run", async () => {
  await pul.init();
  let constructed = 0;
  const Flaky = pul.remote(
    class FlakyService {
      id: number;
      constructor(base: number) {
        this.id = base + ++constructed;
      }
      onStart(): void {
        if (constructed === 1) throw new Error("warming up failed");
      }
      who(): number {
        return this.id;
      }
    },
    { restartPolicy: "on_failure", maxRestarts: 2, minBackoff: 1, maxBackoff: 2 },
  );
  pul.getSystem(); // initialized
  const s = await Flaky.spawn({ name: "flaky-svc", args: [100] });
  assert.equal(await s.who(), 102);
  assert.equal(constructed, 2);
  await pul.shutdown();
});
