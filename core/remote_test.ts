import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import type { ActorContext, ActorId } from "./mod.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function withSystem(
  name: string,
  fn: (system: pul.ActorSystem) => Promise<void>,
): void {
  Deno.test(name, async () => {
    const system = await pul.init();
    try {
      await fn(system);
    } finally {
      await pul.shutdown();
    }
  });
}

class Counter {
  value: number;
  calls = 0;
  constructor(init = 0) {
    this.value = init;
  }
  incr(): number {
    return ++this.value;
  }
  get(): number {
    return this.value;
  }
  fail(): never {
    this.value += 100;
    throw new RangeError("value must be non-negative");
  }
  biz(): never {
    throw new pul.PulsingBusinessError(409, "taken", { id: "u1", tags: ["a"] });
  }
  nothing(): void {}
  async slow(ms: number): Promise<string> {
    await sleep(ms);
    this.calls++;
    return "slow done";
  }
  count(): number {
    return this.calls;
  }
  async asyncFail(): Promise<number> {
    await Promise.resolve();
    throw new TypeError("async failure");
  }
  _private(): number {
    return -1;
  }
}
const RCounter = pul.remote(Counter);
/** Same class, no constructor parameters (see the report: `pul.resolve`'s `cls` overload). */
const RPlainCounter = pul.remote(
  class PlainCounter extends Counter {
    constructor() {
      super(0);
    }
  },
);

withSystem("remote: sync methods run in order: five incr → [1..5]", async () => {
  const c = await RCounter.spawn({ name: "counter" });
  const out: number[] = [];
  for (let i = 0; i < 5; i++) out.push(await c.incr());
  assert.deepEqual(out, [1, 2, 3, 4, 5]);
  const concurrent = await Promise.all(Array.from({ length: 5 }, () => c.incr()));
  assert.deepEqual(concurrent, [6, 7, 8, 9, 10]);
});

withSystem("remote: constructor args, no-return method, spawn with / name verbatim", async () => {
  const c = await RCounter.spawn({ name: "svc/counters/a", args: [10] });
  assert.equal(await c.incr(), 11);
  assert.equal(await c.nothing(), undefined);
  assert.deepEqual(pul.getSystem().localActorNames(), ["svc/counters/a"]);
  assert.equal(pul.refOf(c).name, "svc/counters/a");
});

withSystem("remote: auto names are actors/<Class>_<16 hex> and resolvable", async (system) => {
  const c = await RCounter.spawn();
  const name = pul.refOf(c).name!;
  assert.match(name, /^actors\/Counter_[0-9a-f]{16}$/);
  const again = await RCounter.resolve(name);
  await c.incr();
  assert.equal(await again.get(), 1);
  assert.equal((await system.allNamedActors())[0].instances[0].metadata?.class, "Counter");
});

withSystem("remote: a constructor exception reaches the spawner", async () => {
  const Bad = pul.remote(
    class Bad {
      constructor() {
        throw new Error("ctor boom");
      }
    },
  );
  await assert.rejects(() => Bad.spawn({ name: "bad" }), /ctor boom/);
  assert.deepEqual(pul.getSystem().localActorNames(), []);
  await assert.rejects(
    () => RCounter.spawn({ name: "x", restartPolicy: "bogus" as never }),
    TypeError,
  );
});

withSystem("remote: an async method does not block the actor", async () => {
  const c = await RCounter.spawn();
  const slow = c.slow(100);
  const t0 = performance.now();
  assert.equal(await c.count(), 0);
  assert.ok(performance.now() - t0 < 50, "count() answered while slow() sleeps");
  assert.equal(await slow, "slow done");
  assert.equal(await c.count(), 1);
});

withSystem("remote: async methods start in order and interleave at their awaits", async () => {
  const events: string[] = [];
  const Worker = pul.remote(
    class Interleave {
      async job(name: string, ms: number): Promise<string> {
        events.push(`start ${name}`);
        await sleep(ms);
        events.push(`end ${name}`);
        return name;
      }
    },
  );
  const w = await Worker.spawn();
  const results = await Promise.all([w.job("a", 30), w.job("b", 5), w.job("c", 15)]);
  assert.deepEqual(results, ["a", "b", "c"]);
  assert.deepEqual(events.slice(0, 3), ["start a", "start b", "start c"]);
  assert.deepEqual(events.slice(3), ["end b", "end c", "end a"]);
});

withSystem(
  "remote: an actor calls its own async method through a proxy without deadlock",
  async () => {
    // deno-lint-ignore prefer-const
    let Game: pul.ActorClass<SelfCaller, []>;
    class SelfCaller {
      #self: pul.ActorProxy<SelfCaller> | undefined;
      onStart(_id: ActorId, ctx: ActorContext): void {
        this.#self = Game.proxy(ctx.self());
      }
      async countdown(n: number): Promise<number> {
        if (n === 0) return 0;
        await Promise.resolve();
        return 1 + await this.#self!.countdown(n - 1);
      }
      viaSync(n: number): Promise<number> {
        return this.#self!.countdown(n);
      }
    }
    Game = pul.remote(SelfCaller);
    const g = await Game.spawn();
    assert.equal(await g.countdown(10), 10);
    assert.equal(await g.viaSync(3), 3);
  },
);

withSystem(
  "remote: a result whose `then` throws fails the call (a rejection, never a throw)",
  async () => {
    const Odd = pul.remote(
      class OddThen {
        trap(): object {
          return Object.defineProperty({}, "then", {
            get() {
              throw new TypeError("no then for you");
            },
          });
        }
        ok(): number {
          return 1;
        }
      },
    );
    const o = await Odd.spawn();
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => p = o.trap());
    await assert.rejects(p!, /no then for you/);
    assert.equal(await o.ok(), 1); // the actor goes on
    // the same through the mailbox (a call queued behind another)
    const [a, b] = [o.trap(), o.trap()];
    await assert.rejects(a, /no then for you/);
    await assert.rejects(b, /no then for you/);
  },
);

withSystem("remote: the actor keeps its state after a method error", async () => {
  const c = await RCounter.spawn();
  assert.equal(await c.incr(), 1);
  await assert.rejects(() => c.fail(), /non-negative/);
  assert.equal(await c.get(), 101, "state mutated before the throw is kept");
  assert.equal(await c.incr(), 102);
  await assert.rejects(() => c.asyncFail(), /async failure/);
  assert.equal(await c.incr(), 103);
});

withSystem(
  "remote: a plain error arrives as PulsingActorError with name, message, stack",
  async () => {
    const c = await RCounter.spawn({ name: "errs" });
    await assert.rejects(() => c.fail(), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingActorError);
      assert.ok(!(e instanceof pul.PulsingBusinessError));
      assert.equal(e.message, "value must be non-negative");
      assert.equal(e.originalName, "RangeError");
      assert.equal(e.actorName, "actors/errs");
      assert.match(e.remoteStack ?? "", /RangeError: value must be non-negative/);
      assert.match(e.remoteStack ?? "", /fail/);
      return true;
    });
    await assert.rejects(() => c.asyncFail(), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingActorError);
      assert.equal(e.originalName, "TypeError");
      assert.equal(e.message, "async failure");
      return true;
    });
  },
);

withSystem(
  "remote: a PulsingBusinessError arrives with the same class, code and details",
  async () => {
    const c = await RCounter.spawn();
    await assert.rejects(() => c.biz(), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingBusinessError);
      assert.equal(e.code, 409);
      assert.equal(e.message, "taken");
      assert.deepEqual(e.details, { id: "u1", tags: ["a"] });
      assert.equal(String(e), "PulsingBusinessError: [409] taken");
      return true;
    });
    const Other = pul.remote(
      class OtherErrors {
        timeout(): never {
          throw new pul.PulsingTimeoutError("db query", 250);
        }
        system(): never {
          throw new pul.PulsingSystemError("disk full", false);
        }
        unsupported(): never {
          throw new pul.PulsingUnsupportedError("frobnicate");
        }
        thrownString(): never {
          throw "just a string";
        }
      },
    );
    const o = await Other.spawn();
    await assert.rejects(() => o.timeout(), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingTimeoutError);
      assert.equal(e.operation, "db query");
      assert.equal(e.durationMs, 250);
      return true;
    });
    await assert.rejects(() => o.system(), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingSystemError);
      assert.equal(e.recoverable, false);
      return true;
    });
    await assert.rejects(() => o.unsupported(), pul.PulsingUnsupportedError);
    await assert.rejects(() => o.thrownString(), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingActorError);
      assert.equal(e.message, "just a string");
      return true;
    });
  },
);

withSystem(
  "untyped proxy: any public method; private and reserved names refused clearly",
  async () => {
    await RCounter.spawn({ name: "c" });
    const any = await pul.resolve("c");
    assert.equal(await any.incr(), 1);
    assert.throws(() => any._private(), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.match((e as Error).message, /Cannot access private attribute: _private/);
      return true;
    });
    assert.throws(() => any.__proto__(), /Cannot access private attribute: __proto__/);
    assert.throws(() => any["#x"](), /Cannot access private attribute: #x/);
    for (const reserved of ["constructor", "onStart", "onStop"]) {
      await assert.rejects(async () => await any[reserved](), (e: unknown) => {
        assert.ok(e instanceof pul.PulsingRuntimeError, `${reserved}: ${e}`);
        assert.match((e as Error).message, new RegExp(`Invalid method '${reserved}'`));
        return true;
      });
    }
    await assert.rejects(async () => await any.nope(), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingRuntimeError);
      assert.equal((e as Error).message, "No method 'nope' on actor actors/c");
      return true;
    });
    await assert.rejects(async () => await any.value(), /No method 'value'/);
    // Raw refs bypass the proxy's local check; the actor still refuses.
    await assert.rejects(() => pul.refOf(any).call("_private", []), /Invalid method '_private'/);
    await assert.rejects(() => pul.refOf(any).call("__proto__", []), /Invalid method '__proto__'/);
    assert.equal(await any.get(), 1, "the actor still works");
  },
);

withSystem("untyped proxy: nothing is sent until awaited; asAny shares the ref", async () => {
  const c = await RCounter.spawn({ name: "lazy" });
  const any = pul.asAny(c);
  const pending = any.incr();
  assert.ok(pending instanceof pul.PendingCall);
  assert.equal(await c.get(), 0, "not sent yet");
  assert.equal(await pending, 1);
  assert.equal(await pending, 1, "awaiting twice sends once");
  assert.equal(pul.refOf(any), pul.refOf(c));
  assert.equal(await pul.asAny(pul.refOf(c)).get(), 1);
  assert.throws(() => pul.refOf({}), /Not a Pulsing proxy/);
});

class Streamer {
  finallyRan = 0;
  async *items(n: number): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) {
        await Promise.resolve();
        yield i;
      }
    } finally {
      this.finallyRan++;
    }
  }
  *syncItems(n: number): Generator<string> {
    try {
      for (let i = 0; i < n; i++) yield `s${i}`;
    } finally {
      this.finallyRan++;
    }
  }
  async *empty(): AsyncGenerator<number> {}
  async *failing(): AsyncGenerator<number> {
    for (let i = 0; i < 5; i++) {
      if (i === 3) throw new Error(`stream error at ${i}`);
      yield i;
    }
  }
  finallies(): number {
    return this.finallyRan;
  }
}
const RStreamer = pul.remote(Streamer);

withSystem(
  "streams: a typed generator method returns an ActorStream of 100 items in order",
  async () => {
    const s = await RStreamer.spawn();
    const stream = s.items(100);
    assert.ok(stream instanceof pul.ActorStream);
    assert.ok(stream instanceof ReadableStream);
    const got: number[] = [];
    for await (const x of stream) got.push(x);
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
    assert.equal(await s.finallies(), 1);
    // The Web Streams side works too.
    const viaReader: number[] = [];
    const reader = s.items(3).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) viaReader.push(r.value);
    assert.deepEqual(viaReader, [0, 1, 2]);
  },
);

withSystem("streams: breaking out of for-await runs the generator's finally", async () => {
  const s = await RStreamer.spawn();
  const got: number[] = [];
  for await (const x of s.items(1_000_000)) {
    got.push(x);
    if (x === 2) break;
  }
  assert.deepEqual(got, [0, 1, 2]);
  assert.equal(await s.finallies(), 1);
});

withSystem("streams: cancel() stops the producer and runs its finally", async () => {
  const s = await RStreamer.spawn();
  const stream = s.items(1_000_000);
  const reader = stream.getReader();
  assert.deepEqual(await reader.read(), { done: false, value: 0 });
  await reader.cancel();
  assert.equal(await s.finallies(), 1);
  // A stream cancelled before any read never starts the generator.
  await s.items(5).cancel();
  assert.equal(await s.finallies(), 1);
});

withSystem("streams: empty generator, sync generator, pipeTo", async () => {
  const s = await RStreamer.spawn();
  assert.deepEqual(await s.empty().collect(), []);
  assert.deepEqual(await s.syncItems(3).collect(), ["s0", "s1", "s2"]);
  for await (const x of s.syncItems(10)) if (x === "s1") break;
  assert.equal(await s.finallies(), 2);
  const sink: string[] = [];
  await s.syncItems(2).pipeTo(new WritableStream({ write: (x) => void sink.push(x) }));
  assert.deepEqual(sink, ["s0", "s1"]);
});

withSystem("streams: an error mid-stream arrives after the items produced before it", async () => {
  const s = await RStreamer.spawn({ name: "streamer" });
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const x of s.failing()) got.push(x);
  }, (e: unknown) => {
    assert.ok(e instanceof pul.PulsingActorError, `got ${e}`);
    assert.equal(e.message, "stream error at 3");
    assert.equal(e.originalName, "Error");
    assert.equal(e.actorName, "actors/streamer");
    return true;
  });
  assert.deepEqual(got, [0, 1, 2]);
  // Through a reader the error errors the stream.
  const reader = s.failing().getReader();
  for (let i = 0; i < 3; i++) await reader.read();
  await assert.rejects(() => reader.read(), /stream error at 3/);
});

withSystem("streams: an untyped proxy iterates a streaming method", async () => {
  await RStreamer.spawn({ name: "st" });
  const any = await pul.resolve("st");
  const got: number[] = [];
  for await (const x of any.items(4)) got.push(x);
  assert.deepEqual(got, [0, 1, 2, 3]);
  const stream = await any.items(2);
  assert.ok(stream instanceof pul.ActorStream);
  assert.deepEqual(await stream.collect(), [0, 1]);
  await assert.rejects(async () => {
    for await (const _ of any.finallies()) { /* not a stream */ }
  }, /Expected a stream/);
});

withSystem("an ActorStream can be consumed once", async () => {
  const s = await RStreamer.spawn();
  const stream = s.items(2);
  await stream.collect();
  assert.throws(() => stream[Symbol.asyncIterator](), /already being consumed/);
});

withSystem(
  "Class.resolve / pul.resolve with timeout: found later, or not found",
  async (system) => {
    setTimeout(() => RCounter.spawn({ name: "late" }), 30);
    const typed = await RCounter.resolve("late", { timeout: 2_000 });
    assert.equal(await typed.incr(), 1);
    const viaPul = await pul.resolve("late", { cls: RPlainCounter });
    assert.equal(await viaPul.incr(), 2);
    const t0 = performance.now();
    await assert.rejects(() => RCounter.resolve("absent", { timeout: 60 }), (e: unknown) => {
      assert.ok(e instanceof pul.PulsingRuntimeError);
      assert.equal((e as Error).message, "Named actor not found: actors/absent");
      return true;
    });
    assert.ok(performance.now() - t0 >= 59);
    await assert.rejects(() => system.resolve("absent"), /Named actor not found: actors\/absent/);
  },
);

withSystem("mount / unmount an existing object", async () => {
  const obj = {
    n: 0,
    greet(name: string) {
      this.n++;
      return `hi ${name}`;
    },
  };
  const ref = pul.mount(obj, { name: "svc/greeter" });
  assert.equal(ref.name, "svc/greeter");
  const any = await pul.resolve("svc/greeter");
  assert.equal(await any.greet("bo"), "hi bo");
  assert.equal(obj.n, 1, "the mounted object itself is used");
  assert.throws(() => pul.mount({}, { name: "svc/greeter" }), /Actor already exists/);
  pul.mount({ ping: () => "pong" }, { name: "bare" });
  assert.equal(await (await pul.resolve("actors/bare")).ping(), "pong");
  assert.equal(await pul.unmount("svc/greeter"), true);
  assert.equal(await pul.unmount("svc/greeter"), false);
  assert.equal(await pul.unmount("bare"), true);
  await assert.rejects(() => pul.resolve("svc/greeter"), /Named actor not found/);
  await assert.rejects(async () => await any.greet("x"), /Actor stopped/);
});

withSystem(
  "method lookup: own properties shadow the prototype, also when added or removed later",
  async () => {
    class Shadowed {
      field = () => "field";
      hello(): string {
        return "proto";
      }
      shadow(kind: string): void {
        const self = this as unknown as Record<string, unknown>;
        if (kind === "fn") self.hello = () => "own";
        else if (kind === "number") self.hello = 42;
        else if (kind === "delete") delete self.hello;
        else if (kind === "field") self.field = () => "field2";
      }
    }
    const R = pul.remote(Shadowed, { name: "ShadowedLookup" });
    const a = await R.spawn();
    const b = await R.spawn();
    assert.equal(await a.hello(), "proto");
    assert.equal(await b.hello(), "proto");
    const anyA = pul.asAny(a);
    assert.equal(await anyA.field(), "field", "an arrow-function class field is callable");
    await a.shadow("fn");
    assert.equal(await a.hello(), "own", "an own property added after the first call wins");
    assert.equal(await a.hello(), "own");
    assert.equal(await b.hello(), "proto", "another instance of the class is not affected");
    await a.shadow("field");
    assert.equal(await anyA.field(), "field2", "a replaced own function is the one called");
    await a.shadow("number");
    await assert.rejects(() => a.hello(), /No method 'hello'/);
    await a.shadow("delete");
    assert.equal(await a.hello(), "proto", "the prototype's method is back once it is deleted");
    assert.equal(await b.hello(), "proto");
    // A prototype patched after the first call is honoured.
    const original = Shadowed.prototype.hello;
    Shadowed.prototype.hello = () => "patched";
    try {
      assert.equal(await b.hello(), "patched");
    } finally {
      Shadowed.prototype.hello = original;
    }
    assert.equal(await b.hello(), "proto");
  },
);

withSystem("method lookup: getters are never invoked, arguments reach the method", async () => {
  let reads = 0;
  class WithGetter {
    get total(): number {
      reads++;
      return 1;
    }
    args(...xs: unknown[]): unknown[] {
      return xs;
    }
  }
  const p = pul.asAny(await pul.remote(WithGetter, { name: "WithGetterLookup" }).spawn());
  for (let i = 0; i < 2; i++) {
    await assert.rejects(async () => await p.total(), /method 'total'/);
  }
  assert.equal(reads, 0);
  for (let n = 0; n <= 6; n++) {
    const xs = Array.from({ length: n }, (_, i) => i);
    assert.deepEqual(await p.args(...xs), xs, `${n} arguments`);
  }
  // A mounted object with an own getter next to its methods.
  const obj = {
    get g(): () => string {
      reads++;
      return () => "from getter";
    },
    f: () => "f",
  };
  pul.mount(obj, { name: "svc/getter" });
  const m = await pul.resolve("svc/getter");
  assert.equal(await m.f(), "f");
  await assert.rejects(async () => await m.g(), /method 'g'/);
  assert.equal(await m.f(), "f");
  assert.equal(reads, 0);
});

withSystem("refer by id string and ActorId", async () => {
  const c = await RCounter.spawn();
  const ref = pul.refOf(c);
  const again = await pul.refer(ref.actorId.toString());
  assert.equal(await RCounter.proxy(again).incr(), 1);
  assert.equal(await pul.refer(ref.actorId), ref);
  await assert.rejects(() => pul.refer("0".repeat(32)), (e: unknown) => {
    assert.ok(e instanceof pul.PulsingRuntimeError);
    assert.equal((e as Error).message, `Actor not found: ${"0".repeat(32)}`);
    return true;
  });
  await assert.rejects(() => pul.refer("not-an-id"), TypeError);
});

withSystem("placement: a node id without a cluster is refused", async () => {
  await assert.rejects(
    () => RCounter.spawn({ placement: "f".repeat(32) }),
    /not part of a cluster/,
  );
  const local = await RCounter.spawn({ placement: pul.getSystem().nodeId.value });
  assert.equal(await local.incr(), 1);
});

Deno.test("spawn on an explicit system; a plain proxy method costs no network", async () => {
  const logs: string[] = [];
  const system = await pul.actorSystem({ logger: (l, m) => logs.push(`${l} ${m}`) });
  const c = await RCounter.spawn({ system, name: "c", placement: "remote" });
  assert.equal(await c.incr(), 1);
  assert.match(logs.join("\n"), /no cluster, spawning c locally/);
  assert.equal(pul.isInitialized(), false);
  assert.equal(await (await RCounter.resolve("c", { system })).get(), 1);
  await system.shutdown();
});
