import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import type { ActorSystem } from "../core/system.ts";
import { PulsingBusinessError, PulsingTimeoutError } from "../core/errors.ts";
import * as topic from "./mod.ts";
import { brokerClient } from "./broker_client.ts";
import { withSystem } from "../queue/_test_helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await sleep(5);
  }
}

async function collector<T>(
  system: ActorSystem,
  name: string,
  options: topic.ReadTopicOptions = {},
): Promise<{ reader: topic.TopicReader<T>; got: T[] }> {
  const reader = await topic.readTopic<T>(system, name, options);
  const got: T[] = [];
  reader.onMessage((m) => {
    got.push(m);
  });
  await reader.start();
  return { reader, got };
}

Deno.test("topic: ids and properties; publish without subscribers", async () => {
  await withSystem(async (system) => {
    const w = await topic.writeTopic(system, "props", { writerId: "w1" });
    assert.equal(w.topic, "props");
    assert.equal(w.writerId, "w1");
    assert.match((await topic.writeTopic(system, "props")).writerId, /^writer_[0-9a-f]{8}$/);
    const r = await topic.readTopic(system, "props");
    assert.match(r.readerId, /^reader_[0-9a-f]{8}$/);
    assert.equal(r.isStarted, false);
    assert.deepEqual(await w.publish("x"), {
      success: true,
      delivered: 0,
      failed: 0,
      subscriberCount: 0,
    });
    await assert.rejects(() => topic.writeTopic(system, "bad/name"), TypeError);
    await assert.rejects(() => r.start(), TypeError); // no callback
  });
});

Deno.test("topic: any payload type arrives, in per-publisher order", async () => {
  await withSystem(async (system) => {
    const { reader, got } = await collector<unknown>(system, "payloads");
    const w = await topic.writeTopic(system, "payloads");
    const payloads = ["s", 42, 1.5, true, null, [1, "a"], { nested: { k: [1, 2] } }];
    for (const p of payloads) await w.publish(p);
    for (let seq = 0; seq < 10; seq++) await w.publish({ seq });
    await until(() => got.length === payloads.length + 10);
    assert.deepEqual(got.slice(0, payloads.length), payloads);
    assert.deepEqual(got.slice(payloads.length), Array.from({ length: 10 }, (_, seq) => ({ seq })));
    await reader.stop();
  });
});

Deno.test("topic: several callbacks run in order; removeCallback; callback errors are isolated", async () => {
  await withSystem(async (system) => {
    const r = await topic.readTopic<number>(system, "callbacks");
    const order: string[] = [];
    const a = (m: number) => {
      order.push(`a${m}`);
    };
    r.onMessage(a);
    r.addCallback(() => {
      throw new Error("callback boom");
    });
    const removeC = r.onMessage(async (m) => {
      await sleep(1);
      order.push(`c${m}`);
    });
    await r.start();
    await r.start(); // double start is a no-op
    const w = await topic.writeTopic(system, "callbacks");
    await w.publish(1, { mode: "wait_all_acks" });
    assert.deepEqual(order, ["a1", "c1"]);
    assert.equal(removeC(), true);
    assert.equal(r.removeCallback(a), true);
    assert.equal(r.removeCallback(a), false);
    r.addCallback((m) => {
      order.push(`d${m}`);
    });
    await w.publish(2, { mode: "wait_all_acks" });
    assert.deepEqual(order, ["a1", "c1", "d2"]);
    await r.stop();
    await r.stop(); // double stop is fine
  });
});

Deno.test("topic: fan-out counts; subscribers joining and leaving change subscriberCount", async () => {
  await withSystem(async (system) => {
    const w = await topic.writeTopic(system, "fanout");
    const subs = await Promise.all([0, 1, 2].map(() => collector<number>(system, "fanout")));
    let res = await w.publish(1);
    assert.equal(res.subscriberCount, 3);
    assert.equal(res.delivered, 3);
    await subs[0].reader.stop();
    res = await w.publish(2);
    assert.equal(res.subscriberCount, 2);
    const late = await collector<number>(system, "fanout");
    res = await w.publish(3);
    assert.equal(res.subscriberCount, 3);
    await until(() => late.got.length === 1 && subs[1].got.length === 3);
    assert.deepEqual(late.got, [3]); // late subscribers miss earlier messages
    assert.deepEqual(subs[1].got, [1, 2, 3]);
    assert.deepEqual(subs[0].got.length <= 1, true);
    const st = await w.stats();
    assert.equal(st.topic, "fanout");
    assert.equal(st.subscriberCount, 3);
    assert.equal(st.totalPublished, 3);
    assert.equal(st.totalDelivered, 8);
    for (const s of [...subs.slice(1), late]) await s.reader.stop();
  });
});

Deno.test("topic: the four modes", async () => {
  await withSystem(async (system) => {
    const fast = await collector<string>(system, "modes");
    const slowGot: string[] = [];
    const slow = await topic.readTopic<string>(system, "modes");
    slow.onMessage(async (m) => {
      await sleep(300);
      slowGot.push(m);
    });
    await slow.start();
    const w = await topic.writeTopic(system, "modes");

    let t0 = performance.now();
    const ff = await w.publish("ff", { mode: "fire_and_forget", timeout: 1 });
    assert.ok(performance.now() - t0 < 200);
    assert.deepEqual(ff, { success: true, delivered: 2, failed: 0, subscriberCount: 2 });

    t0 = performance.now();
    const any = await w.publish("any", { mode: "wait_any_ack" });
    assert.ok(performance.now() - t0 < 500, `wait_any_ack took ${performance.now() - t0}`);
    assert.equal(any.success, true);
    assert.equal(any.delivered, 1);

    const be = await w.publish("be", { mode: "best_effort", timeout: 100 });
    assert.equal(be.success, true);
    assert.equal(be.delivered, 1);
    assert.equal(be.failed, 1);
    assert.deepEqual(be.failedSubscribers, [slow.readerId]);

    await assert.rejects(
      () => w.publish("all", { mode: "wait_all_acks", timeout: 100 }),
      (e: unknown) => {
        assert.ok(e instanceof PulsingTimeoutError);
        assert.match(e.message, /\(1\/2 acks received\)/);
        return true;
      },
    );
    await until(() => fast.got.length === 4);
    const allOk = await w.publish("all2", { mode: "wait_all_acks", timeout: 10_000 });
    assert.deepEqual(allOk, { success: true, delivered: 2, failed: 0, subscriberCount: 2 });
    assert.deepEqual(fast.got, ["ff", "any", "be", "all", "all2"]);
    assert.deepEqual(slowGot, ["ff", "any", "be", "all", "all2"]);
    await assert.rejects(
      () => w.publish("x", { mode: "nope" as topic.PublishMode }),
      /Unknown publish mode/,
    );
    await Promise.all([fast.reader.stop(), slow.stop()]);
  });
});

Deno.test("topic: a writer does not receive its own messages when ids match", async () => {
  await withSystem(async (system) => {
    const self = await collector<string>(system, "self", { readerId: "svc" });
    const other = await collector<string>(system, "self");
    const w = await topic.writeTopic(system, "self", { writerId: "svc" });
    const r = await w.publish("hello", { mode: "wait_all_acks" });
    assert.equal(r.subscriberCount, 1);
    assert.deepEqual(other.got, ["hello"]);
    assert.deepEqual(self.got, []);
    await Promise.all([self.reader.stop(), other.reader.stop()]);
  });
});

Deno.test("topic: a second live reader with the same id is refused", async () => {
  await withSystem(async (system) => {
    const a = await collector(system, "dup", { readerId: "same" });
    const b = await topic.readTopic(system, "dup", { readerId: "same" });
    b.onMessage(() => {});
    await assert.rejects(() => b.start(), (e) => {
      assert.ok(e instanceof PulsingBusinessError);
      assert.equal(e.code, 409);
      return true;
    });
    await a.reader.stop();
    await b.start(); // free again
    await b.stop();
  });
});

Deno.test("topic: 5 publishers x 10 subscribers, every message everywhere", async () => {
  await withSystem(async (system) => {
    const subs = await Promise.all(
      Array.from({ length: 10 }, () => collector<{ p: number; i: number }>(system, "storm")),
    );
    const pubs = await Promise.all(
      Array.from({ length: 5 }, (_, k) => topic.writeTopic(system, "storm", { writerId: `p${k}` })),
    );
    await Promise.all(pubs.map(async (w, p) => {
      for (let i = 0; i < 20; i++) await w.publish({ p, i });
    }));
    await until(() => subs.every((s) => s.got.length === 100));
    for (const s of subs) {
      for (let p = 0; p < 5; p++) {
        assert.deepEqual(
          s.got.filter((m) => m.p === p).map((m) => m.i),
          Array.from({ length: 20 }, (_, i) => i),
        );
      }
    }
    await Promise.all(subs.map((s) => s.reader.stop()));
  });
});

Deno.test("topic: 1000 sequential messages reach the subscriber", async () => {
  await withSystem(async (system) => {
    const s = await collector<number>(system, "thousand");
    const w = await topic.writeTopic(system, "thousand");
    for (let i = 0; i < 1000; i++) await w.publish(i);
    await until(() => s.got.length === 1000);
    assert.deepEqual(s.got, Array.from({ length: 1000 }, (_, i) => i));
    await s.reader.stop();
  });
});

Deno.test("topic: a slow subscriber loses only its own messages, a fast one gets all", async () => {
  await withSystem(async (system) => {
    const fast = await collector<number>(system, "slowfast");
    const slowGot: number[] = [];
    const slow = await topic.readTopic<number>(system, "slowfast", {
      bufferSize: 2,
      brokerBufferSize: 4,
    });
    slow.onMessage(async (m) => {
      await sleep(50);
      slowGot.push(m);
    });
    await slow.start();
    const w = await topic.writeTopic(system, "slowfast");
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      failed += (await w.publish(i, { mode: "best_effort", timeout: 1 })).failed;
    }
    for (let i = 200; i < 300; i++) await w.publish(i);
    await until(() => fast.got.length === 300);
    assert.deepEqual(fast.got, Array.from({ length: 300 }, (_, i) => i));
    assert.ok(failed > 0);
    const st = await w.stats();
    const s = st.subscribers.find((x) => x.id === slow.readerId)!;
    assert.ok(s.dropped > 0, "the slow subscriber's queue overflowed");
    assert.ok(slowGot.length < 300);
    await Promise.all([fast.reader.stop(), slow.stop()]);
  });
});

Deno.test("topic: a silent subscriber is evicted after its lease; a reader evicted subscribes again", async () => {
  await withSystem(async (system) => {
    const broker = brokerClient(system, "evict");
    // a subscriber that never pulls (its process died)
    await broker.call("subscribe", ["ghost", { token: "t", leaseMs: 100 }]);
    const live = await collector<number>(system, "evict", { heartbeatMs: 50 });
    const w = await topic.writeTopic(system, "evict");
    assert.equal((await w.publish(1)).subscriberCount, 2);
    await sleep(250);
    assert.equal((await w.publish(2)).subscriberCount, 1);
    assert.equal((await w.stats()).totalEvicted, 1);
    // kick the live reader out behind its back: it notices and comes back
    await broker.call("unsubscribe", [live.reader.readerId]);
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      await sleep(20);
      back = (await w.stats()).subscriberCount === 1;
    }
    assert.ok(back);
    await w.publish(3, { mode: "wait_all_acks", timeout: 5_000 });
    assert.ok(live.got.includes(3));
    await live.reader.stop();
  });
});

Deno.test("topic: async iteration with a bounded buffer; stop ends it", async () => {
  await withSystem(async (system) => {
    const r = await topic.readTopic<number>(system, "iterate");
    const w = await topic.writeTopic(system, "iterate");
    const got: number[] = [];
    const consumer = (async () => {
      for await (const m of r.messages({ bufferSize: 4 })) {
        got.push(m);
        if (m % 10 === 0) await sleep(5);
      }
    })();
    await until(() => r.isStarted);
    for (let i = 0; i < 50; i++) await w.publish(i);
    await until(() => got.length === 50);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i));
    await r.stop();
    await consumer; // the iteration ended
    // breaking out of a for-await removes the iteration, the reader keeps going
    const r2 = await topic.readTopic<number>(system, "iterate");
    const side: number[] = [];
    r2.onMessage((m) => {
      side.push(m);
    });
    const it = r2[Symbol.asyncIterator]();
    const first = it.next();
    await until(() => r2.isStarted);
    await w.publish(100);
    assert.equal((await first).value, 100);
    await it.return!();
    await w.publish(101, { mode: "wait_all_acks" });
    assert.deepEqual(side, [100, 101]);
    await r2.stop();
  });
});

Deno.test("topic: subscribers joining and leaving during a publish storm do not break publishing", async () => {
  await withSystem(async (system) => {
    const w = await topic.writeTopic(system, "churn");
    const steady = await collector<number>(system, "churn");
    let stop = false;
    const churn = (async () => {
      while (!stop) {
        const c = await collector<number>(system, "churn");
        await sleep(3);
        await c.reader.stop();
      }
    })();
    for (let i = 0; i < 300; i++) {
      const r = await w.publish(i, { mode: i % 3 === 0 ? "best_effort" : "fire_and_forget" });
      assert.equal(r.success, true);
    }
    stop = true;
    await churn;
    await until(() => steady.got.length === 300);
    assert.deepEqual(steady.got, Array.from({ length: 300 }, (_, i) => i));
    await steady.reader.stop();
  });
});

Deno.test("topic: pul.topic-style helpers on the global system; shutdown stops readers", async () => {
  await pul.init();
  const r = await topic.read<string>("global_t");
  const got: string[] = [];
  r.onMessage((m) => {
    got.push(m);
  });
  await r.start();
  const w = await topic.write("global_t");
  await w.publish("hi", { mode: "wait_all_acks" });
  assert.deepEqual(got, ["hi"]);
  await pul.shutdown(); // the reader is stopped by the shutdown
  assert.equal(r.isStarted, false);
});
