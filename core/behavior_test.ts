import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import { type Behavior, BehaviorAction, stateful, stateless } from "./mod.ts";

Deno.test("stateful behaviour: next(state, reply)", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn(
    stateful(0, (count, n: number) => BehaviorAction.next(count + n, count + n)),
  );
  assert.equal(await ref.ask(2), 2);
  assert.equal(await ref.ask(3), 5);
  await ref.tell(10);
  assert.equal(await ref.ask(0), 15);
  await system.shutdown();
});

Deno.test("stateless behaviour: same(reply); same() without reply answers undefined", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn(stateless((m: string) => BehaviorAction.same(m.toUpperCase())));
  assert.equal(await ref.ask("hi"), "HI");
  const quiet = await system.spawn(stateless(() => BehaviorAction.same()));
  assert.equal(await quiet.ask("x"), undefined);
  await system.shutdown();
});

Deno.test("async handlers work", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn(stateful(1, async (s: number, m: number) => {
    await Promise.resolve();
    return BehaviorAction.next(s * m, s * m);
  }));
  assert.equal(await ref.ask(3), 3);
  assert.equal(await ref.ask(4), 12);
  await system.shutdown();
});

Deno.test("become switches behaviour, with a reply", async () => {
  const system = await pul.actorSystem();
  const locked: Behavior<string> = stateless((m: string) =>
    m === "unlock"
      ? BehaviorAction.become(unlocked, "unlocked")
      : BehaviorAction.same("locked: ignored")
  );
  const unlocked: Behavior<string> = stateless((m: string) =>
    m === "lock" ? BehaviorAction.become(locked, "locked") : BehaviorAction.same(`handled ${m}`)
  );
  const ref = await system.spawn(locked);
  assert.equal(await ref.ask("work"), "locked: ignored");
  assert.equal(await ref.ask("unlock"), "unlocked");
  assert.equal(await ref.ask("work"), "handled work");
  assert.equal(await ref.ask("lock"), "locked");
  assert.equal(await ref.ask("work"), "locked: ignored");
  await system.shutdown();
});

Deno.test("stop replies, then the actor stops and further asks fail", async () => {
  const system = await pul.actorSystem();
  let stopped = false;
  const beh = stateful(
    0,
    (n: number, m: string) =>
      m === "bye"
        ? BehaviorAction.stop("done", `bye after ${n}`)
        : BehaviorAction.next(n + 1, n + 1),
  );
  const ref = await system.spawn(
    Object.assign(beh, { onStop: () => void (stopped = true) }),
    { name: "beh" },
  );
  assert.equal(await ref.ask("a"), 1);
  assert.equal(await ref.ask("bye"), "bye after 1");
  await assert.rejects(() => ref.ask("a"), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingRuntimeError);
    assert.match((e as Error).message, /stopped/);
    return true;
  });
  for (let i = 0; i < 50 && system.localActorNames().length > 0; i++) {
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.deepEqual(system.localActorNames(), []);
  assert.equal(stopped, true);
  await assert.rejects(() => ref.ask("a"), /Actor stopped: actors\/beh/);
  assert.equal(BehaviorAction.stop().isStop(), true);
  await system.shutdown();
});

Deno.test("a handler that does not return a BehaviorAction is an error for that caller", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn(
    stateless((m: unknown) => (m === "bad" ? 42 : BehaviorAction.same("ok")) as BehaviorAction),
  );
  await assert.rejects(() => ref.ask("bad"), /must return a BehaviorAction/);
  assert.equal(await ref.ask("good"), "ok");
  await system.shutdown();
});
