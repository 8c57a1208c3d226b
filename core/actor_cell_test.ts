import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import type { ActorContext } from "./mod.ts";

const tick = (ms = 0) => new Promise<void>((r) => setTimeout(r, ms));

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Whether `p` has settled after the pending microtasks and one macrotask. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await tick();
  return done;
}

Deno.test("raw actor: sync receive", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn({ receive: (m: unknown) => `sync ${m}` });
  assert.equal(await ref.ask("a"), "sync a");
  assert.equal(ref.isLocal(), true);
  assert.match(String(ref), /ActorRef\(.*, local\)/);
  await system.shutdown();
});

Deno.test("raw actor: async receive is auto-detected", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn({
    async receive(m: unknown) {
      await tick(1);
      return `async ${m}`;
    },
  });
  assert.equal(await ref.ask("a"), "async a");
  await system.shutdown();
});

Deno.test("raw actor: 50 concurrent asks to a counter are handled exactly once, in order", async () => {
  for (const asyncReceive of [false, true]) {
    const system = await pul.actorSystem();
    const seen: number[] = [];
    let count = 0;
    const ref = await system.spawn({
      receive: asyncReceive
        ? async (i: unknown) => {
          await Promise.resolve();
          seen.push(i as number);
          return ++count;
        }
        : (i: unknown) => {
          seen.push(i as number);
          return ++count;
        },
    });
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => ref.ask<number>(i)));
    assert.equal(count, 50);
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => i + 1));
    await system.shutdown();
  }
});

Deno.test("raw actor: an async receive handles one message at a time", async () => {
  const system = await pul.actorSystem();
  let active = 0;
  let maxActive = 0;
  const ref = await system.spawn({
    async receive() {
      active++;
      maxActive = Math.max(maxActive, active);
      await tick(1);
      active--;
    },
  });
  await Promise.all(Array.from({ length: 10 }, () => ref.ask(null)));
  assert.equal(maxActive, 1);
  await system.shutdown();
});

Deno.test("raw actor: tell then observe", async () => {
  const system = await pul.actorSystem();
  let n = 0;
  const ref = await system.spawn({
    receive: (m: unknown) => (m === "get" ? n : void n++),
  });
  await ref.tell("inc");
  await ref.tell("inc");
  await ref.tell("inc");
  assert.equal(await ref.ask("get"), 3);
  await system.shutdown();
});

Deno.test("raw actor: a receive error goes to the caller and the actor keeps running", async () => {
  const system = await pul.actorSystem();
  let handled = 0;
  const ref = await system.spawn({
    receive(m: unknown) {
      handled++;
      if (m === "bad") throw new RangeError("bad input");
      if (m === "biz") throw new pul.PulsingBusinessError(422, "rejected", { field: "x" });
      return `ok ${m}`;
    },
  }, { name: "errs" });
  await assert.rejects(() => ref.ask("bad"), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingActorError);
    assert.equal((e as pul.PulsingActorError).message, "bad input");
    assert.equal((e as pul.PulsingActorError).originalName, "RangeError");
    assert.equal((e as pul.PulsingActorError).actorName, "actors/errs");
    return true;
  });
  for (let i = 0; i < 3; i++) await assert.rejects(() => ref.ask("bad"), /bad input/);
  await assert.rejects(() => ref.ask("biz"), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingBusinessError);
    assert.equal(e.code, 422);
    assert.deepEqual(e.details, { field: "x" });
    return true;
  });
  await ref.tell("bad"); // a tell's error is dropped
  assert.equal(await ref.ask("fine"), "ok fine");
  assert.equal(handled, 7);
  await system.shutdown();
});

Deno.test("raw actor: an async receive rejection goes to the caller, the actor keeps running", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn({
    async receive(m: unknown) {
      await Promise.resolve();
      if (m === "bad") throw new Error("async bad");
      return m;
    },
  });
  for (let i = 0; i < 3; i++) await assert.rejects(() => ref.ask("bad"), /async bad/);
  assert.equal(await ref.ask(7), 7);
  await system.shutdown();
});

Deno.test("raw actor: onStart gets the id before the first message; onStop runs on shutdown", async () => {
  const system = await pul.actorSystem();
  const events: string[] = [];
  const ref = await system.spawn({
    async onStart(id: pul.ActorId) {
      await tick(5);
      events.push(`start ${id.value.length}`);
    },
    receive(m: unknown) {
      events.push(`msg ${m}`);
    },
    onStop() {
      events.push("stop");
    },
  });
  await ref.ask(1);
  await system.shutdown();
  assert.deepEqual(events, ["start 32", "msg 1", "stop"]);
});

Deno.test("raw actor: a generator reply is a stream", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn({
    *receive(n: unknown) {
      for (let i = 0; i < (n as number); i++) yield i;
    },
  });
  const s = await ref.ask<pul.ActorStream<number>>(3);
  assert.ok(s instanceof pul.ActorStream);
  assert.deepEqual(await s.collect(), [0, 1, 2]);
  await system.shutdown();
});

Deno.test("mailbox: bounded; a sender beyond capacity waits and is never dropped; order kept", async () => {
  const system = await pul.actorSystem();
  const g = gate();
  const seen: number[] = [];
  const ref = await system.spawn({
    async receive(i: unknown) {
      if (i === 0) await g.promise; // the first message blocks the actor
      seen.push(i as number);
    },
  }, { mailboxCapacity: 4 });
  const first = ref.ask(0);
  const tells = Array.from({ length: 9 }, (_, k) => ref.tell(k + 1));
  // 1..4 fit in the mailbox: their tells complete while the actor is still blocked.
  for (let k = 0; k < 4; k++) assert.equal(await settled(tells[k]), true, `tell ${k + 1}`);
  // 5..9 wait for space.
  for (let k = 4; k < 9; k++) assert.equal(await settled(tells[k]), false, `tell ${k + 1}`);
  g.open();
  await first;
  await Promise.all(tells);
  await ref.ask(10);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await system.shutdown();
});

Deno.test("mailbox: asks beyond capacity wait and are all answered in order", async () => {
  const system = await pul.actorSystem();
  const g = gate();
  const ref = await system.spawn({
    async receive(i: unknown) {
      if (i === 0) await g.promise;
      return i;
    },
  }, { mailboxCapacity: 4 });
  const asks = Array.from({ length: 20 }, (_, i) => ref.ask<number>(i));
  await tick(5);
  g.open();
  assert.deepEqual(await Promise.all(asks), Array.from({ length: 20 }, (_, i) => i));
  await system.shutdown();
});

Deno.test("mailbox: invalid capacities are refused", async () => {
  const system = await pul.actorSystem();
  await assert.rejects(() => system.spawn({ receive: () => 1 }, { mailboxCapacity: 0 }), TypeError);
  await assert.rejects(
    () => system.spawn({ receive: () => 1 }, { mailboxCapacity: 1.5 }),
    TypeError,
  );
  assert.throws(() => new pul.ActorSystem({ defaultMailboxCapacity: 2 }), TypeError);
  await system.shutdown();
});

Deno.test("ask timeout: PulsingTimeoutError with operation and durationMs", async () => {
  const system = await pul.actorSystem();
  const g = gate();
  const ref = await system.spawn({ receive: () => g.promise.then(() => "late") }, { name: "slow" });
  const t0 = performance.now();
  await assert.rejects(() => ref.ask("x", { timeout: 20 }), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingTimeoutError);
    assert.equal(e.operation, "ask actors/slow");
    assert.equal(e.durationMs, 20);
    assert.equal(e.message, "Operation 'ask actors/slow' timed out after 20ms");
    return true;
  });
  assert.ok(performance.now() - t0 >= 19);
  g.open();
  // The actor still handles the message; the next call works.
  assert.equal(await ref.ask("y", { timeout: 1_000 }), "late");
  await system.shutdown();
});

Deno.test("ask with an abort signal", async () => {
  const system = await pul.actorSystem();
  const g = gate();
  const ref = await system.spawn({ receive: () => g.promise });
  const ac = new AbortController();
  const p = ref.ask("x", { signal: ac.signal });
  ac.abort(new Error("caller gave up"));
  await assert.rejects(() => p, /caller gave up/);
  g.open();
  await system.shutdown();
});

Deno.test("ctx: self, name, scheduleSelf and its cancel", async () => {
  const system = await pul.actorSystem();
  const got: unknown[] = [];
  let ctxRef: pul.ActorRef | undefined;
  const ref = await system.spawn({
    receive(m: unknown, ctx: ActorContext) {
      ctxRef = ctx.self();
      if (m === "start") {
        ctx.scheduleSelf("later", 5);
        const cancel = ctx.scheduleSelf("never", 5);
        cancel();
        return ctx.name;
      }
      got.push(m);
    },
  }, { name: "ticker" });
  assert.equal(await ref.ask("start"), "actors/ticker");
  assert.equal(ctxRef, ref);
  await tick(20);
  assert.deepEqual(got, ["later"]);
  await system.shutdown();
});

Deno.test("ctx.signal aborts when the actor stops", async () => {
  const system = await pul.actorSystem();
  let signal: AbortSignal | undefined;
  const ref = await system.spawn({
    receive(_m: unknown, ctx: ActorContext) {
      signal = ctx.signal;
    },
  });
  await ref.ask(0);
  assert.equal(signal!.aborted, false);
  await system.stop(ref);
  assert.equal(signal!.aborted, true);
  await system.shutdown();
});

Deno.test("stop by name: onStop runs, the name is removed, later calls fail 'Actor stopped'", async () => {
  const system = await pul.actorSystem();
  let stopped = 0;
  const ref = await system.spawn({ receive: () => 1, onStop: () => void stopped++ }, { name: "x" });
  assert.equal(await ref.ask(0), 1);
  assert.equal(await system.stop("x"), true);
  assert.equal(stopped, 1);
  assert.deepEqual(system.localActorNames(), []);
  await assert.rejects(() => ref.ask(0), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingRuntimeError);
    assert.match((e as Error).message, /^Actor stopped: actors\/x/);
    return true;
  });
  await assert.rejects(() => ref.tell(0), /Actor stopped/);
  await assert.rejects(() => system.resolve("x"), /Named actor not found: actors\/x/);
  assert.equal(await system.stop("x"), false);
  // The name can be spawned again, with fresh state.
  const again = await system.spawn({ receive: () => 2 }, { name: "x" });
  assert.equal(await again.ask(0), 2);
  await system.shutdown();
  assert.equal(stopped, 1);
});

Deno.test("stop by ref, by full path and by id string", async () => {
  const system = await pul.actorSystem();
  const a = await system.spawn({ receive: () => 1 }, { name: "svc/a" });
  const b = await system.spawn({ receive: () => 1 });
  const c = await system.spawn({ receive: () => 1 });
  assert.equal(await system.stop("svc/a"), true);
  assert.equal(await system.stop(b), true);
  assert.equal(await system.stop(c.actorId.toString()), true);
  for (const r of [a, b, c]) await assert.rejects(() => r.ask(0), /Actor stopped/);
  assert.equal(system.actorCount, 0);
  await system.shutdown();
});

Deno.test("stop fails queued callers and gives running calls the grace period", async () => {
  const system = await pul.actorSystem();
  const g = gate();
  const ref = await system.spawn({
    async receive(m: unknown) {
      if (m === "block") await g.promise;
      return m;
    },
  });
  const running = ref.ask("block");
  const queued = ref.ask("queued");
  const stopping = system.stop(ref, { graceMs: 20 });
  await assert.rejects(() => queued, /Actor stopped/);
  await assert.rejects(() => running, /Actor stopped/);
  await stopping;
  g.open();
});

Deno.test("shutdown with calls in flight: pending callers get an error within the grace period", async () => {
  const system = await pul.actorSystem();
  const never = new Promise<never>(() => {});
  const Svc = pul.remote(
    class Hanging {
      async wait(): Promise<number> {
        await never;
        return 1;
      }
      sync(): number {
        return 2;
      }
    },
  );
  const svc = await Svc.spawn({ system });
  const raw = await system.spawn({ receive: () => never });
  const calls = [svc.wait(), svc.wait(), raw.ask(1), raw.ask(2)];
  const outcome = Promise.allSettled(calls);
  await tick();
  const t0 = performance.now();
  await system.shutdown({ graceMs: 50 });
  const results = await outcome;
  assert.ok(performance.now() - t0 < 2_000);
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.ok((r as PromiseRejectedResult).reason instanceof pul.PulsingRuntimeError);
    assert.match((r as PromiseRejectedResult).reason.message, /Actor stopped/);
  }
  await assert.rejects(() => svc.sync(), /Actor stopped/);
});

Deno.test("shutdown waits for running calls that finish within the grace period", async () => {
  const system = await pul.actorSystem();
  const ref = await system.spawn({
    async receive() {
      await tick(10);
      return "done";
    },
  });
  const p = ref.ask(0);
  await system.shutdown({ graceMs: 1_000 });
  assert.equal(await p, "done");
});

Deno.test("spawn: a factory that throws rejects spawn; non-actors are refused", async () => {
  const system = await pul.actorSystem();
  await assert.rejects(() =>
    system.spawn(() => {
      throw new Error("ctor failed");
    }), /ctor failed/);
  await assert.rejects(() => system.spawn({} as pul.ActorSystem as never), TypeError);
  await assert.rejects(() => system.spawn(null as never), TypeError);
  await system.shutdown();
});

Deno.test("cell counts handled messages and errors (sync throws and async rejections)", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  const ref = await system.spawn({
    receive(m: unknown) {
      if (m === "sync") throw new Error("s");
      if (m === "async") return Promise.reject(new Error("a"));
      return m;
    },
  }, { name: "counted" });
  await ref.ask("ok");
  await assert.rejects(ref.ask("sync"));
  await assert.rejects(ref.ask("async"));
  const cell = system.localCell("actors/counted")!;
  assert.equal(cell.handled, 3);
  assert.equal(cell.errors, 2);
  await system.shutdown();
});

Deno.test("overlapping async calls each get their own answer, in any completion order", async () => {
  // The first async call in flight is followed by the cell's shared handlers, the others by
  // their own: answers and errors must still reach the right callers.
  const system = await pul.actorSystem({ logger: () => {} });
  const g = gate();
  const Svc = pul.remote(
    class Overlap {
      async held(v: string): Promise<string> {
        await g.promise;
        return v;
      }
      async soon(v: string): Promise<string> {
        await tick(1);
        return v;
      }
      async fail(why: string): Promise<never> {
        await tick(2);
        throw new TypeError(why);
      }
    },
  );
  const s = await Svc.spawn({ system });
  const a = s.held("a");
  const b = s.soon("b");
  const c = s.fail("c failed");
  const d = s.held("d");
  assert.equal(await b, "b");
  await assert.rejects(
    c,
    (e: Error) => e instanceof pul.PulsingActorError && /c failed/.test(e.message),
  );
  assert.equal(await settled(a), false);
  g.open();
  assert.deepEqual(await Promise.all([a, d]), ["a", "d"]);
  // Nothing in flight again: the next calls take the shared handlers, then the others.
  assert.equal(await s.soon("e"), "e");
  await assert.rejects(s.fail("f failed"), /f failed/);
  const [x, y] = await Promise.all([s.soon("x"), s.soon("y")]);
  assert.deepEqual([x, y], ["x", "y"]);
  const cell = system.localCell(pul.refOf(s).actorId.toString());
  assert.equal(cell?.errors, 2);
  await system.shutdown();
});

Deno.test("shutdown fails a hung async call whether or not other calls overlap it", async () => {
  const system = await pul.actorSystem();
  const never = new Promise<never>(() => {});
  const Svc = pul.remote(
    class Hung {
      async wait(): Promise<number> {
        await never;
        return 1;
      }
      async quick(): Promise<number> {
        await tick(1);
        return 2;
      }
    },
  );
  const alone = await Svc.spawn({ system });
  const crowded = await Svc.spawn({ system });
  const calls = [alone.wait(), crowded.quick(), crowded.wait(), crowded.wait()];
  const outcome = Promise.allSettled(calls);
  await tick(5);
  await system.shutdown({ graceMs: 20 });
  const [r0, r1, r2, r3] = await outcome;
  assert.equal(r1.status, "fulfilled");
  for (const r of [r0, r2, r3]) {
    assert.equal(r.status, "rejected");
    assert.match((r as PromiseRejectedResult).reason.message, /Actor stopped/);
  }
});

Deno.test("a custom CALL_METHOD dispatcher: Detached calls interleave, others run one at a time, errors reject", async () => {
  const { CALL_METHOD, Detached } = await import("./mod.ts");
  const system = await pul.actorSystem();
  try {
    const g = gate();
    const log: string[] = [];
    const actor = {
      receive: () => "plain message",
      [CALL_METHOD](method: string, args: unknown[]): unknown {
        if (method === "slow") {
          log.push("slow start");
          return new Detached(g.promise.then(() => (log.push("slow end"), "slow done")));
        }
        if (method === "serialAsync") return Promise.resolve(`serial ${args[0]}`);
        if (method === "boom") throw new RangeError("boom");
        if (method === "asyncBoom") return new Detached(Promise.reject(new TypeError("late")));
        log.push(`fast ${args[0]}`);
        return `fast ${args[0]}`;
      },
    };
    const ref = await system.spawn(actor);
    const slow = ref.call("slow", []);
    // a detached call does not hold the mailbox: the next call runs while it waits
    assert.equal(await ref.call("fast", [1]), "fast 1");
    assert.deepEqual(log, ["slow start", "fast 1"]);
    assert.equal(await settled(slow), false);
    g.open();
    assert.equal(await slow, "slow done");
    assert.equal(await ref.call("serialAsync", [2]), "serial 2");
    await assert.rejects(ref.call("boom", []), /boom/);
    await assert.rejects(ref.call("asyncBoom", []), /late/);
    assert.equal(await ref.call("fast", [3]), "fast 3"); // still serving
  } finally {
    await system.shutdown();
  }
});
