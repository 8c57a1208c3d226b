import assert from "node:assert/strict";
import { ActorSystem, Message, PulsingRuntimeError, StreamMessage } from "./mod.ts";

Deno.test("Message.pack / unpack round trip and default type", () => {
  const m = Message.pack({ x: 1, s: "é", arr: [1, 2], bytes: new Uint8Array([1, 2, 3]) });
  assert.equal(m.msgType, "Object");
  assert.equal(m.isStream, false);
  assert.deepEqual(m.unpack(), { x: 1, s: "é", arr: [1, 2], bytes: new Uint8Array([1, 2, 3]) });
  assert.equal(Message.pack(5).msgType, "number");
  assert.equal(Message.pack(5, "Five").msgType, "Five");
  assert.equal(Message.pack(null).unpack(), null);
});

Deno.test("Message.single, empty and constructor", () => {
  const bytes = new Uint8Array([9, 8, 7]);
  const m = Message.single("Raw", bytes);
  assert.equal(m.msgType, "Raw");
  assert.equal(m.payload, bytes);
  const e = Message.empty();
  assert.equal(e.msgType, "");
  assert.equal(e.payload.length, 0);
  assert.equal(new Message("t").payload.length, 0);
});

Deno.test("Message JSON round trip and clear errors on bad payloads", () => {
  const j = Message.fromJson("CreateUser", { name: "ada", n: [1, 2] });
  assert.equal(j.msgType, "CreateUser");
  assert.deepEqual(j.toJson(), { name: "ada", n: [1, 2] });
  const bad = Message.single("Bad", new TextEncoder().encode("{nope"));
  assert.throws(() => bad.toJson(), (e: unknown) => {
    assert.ok(e instanceof PulsingRuntimeError);
    assert.match((e as Error).message, /'Bad' payload is not valid JSON/);
    return true;
  });
  assert.throws(
    () => Message.single("B", new Uint8Array([0x92, 0x01])).unpack(),
    /not valid msgpack/,
  );
});

Deno.test("a Message request gets a Message reply through an actor", async () => {
  const system = new ActorSystem();
  const ref = await system.spawn({
    receive: (m: unknown) => Message.fromJson("Reply", { got: (m as Message).toJson() }),
  });
  const r = await ref.ask<Message>(Message.fromJson("Req", { a: 1 }));
  assert.ok(r instanceof Message);
  assert.deepEqual(r.toJson(), { got: { a: 1 } });
  await system.shutdown();
});

Deno.test("StreamMessage delivers items in order and ends", async () => {
  const [stream, writer] = StreamMessage.create<number>("n");
  assert.equal(stream.isStream, true);
  assert.equal(stream.msgType, "n");
  const producer = (async () => {
    for (let i = 0; i < 100; i++) await writer.write(i);
    await writer.close();
    await writer.close(); // idempotent
  })();
  const got: number[] = [];
  for await (const x of stream) got.push(x);
  await producer;
  assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
  assert.equal(writer.closed, true);
});

Deno.test("StreamMessage applies backpressure: a full buffer makes the writer wait", async () => {
  const [stream, writer] = StreamMessage.create<number>("n", 2);
  let written = 0;
  const producer = (async () => {
    for (let i = 0; i < 5; i++) {
      await writer.write(i);
      written++;
    }
    await writer.close();
  })();
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(written, 2, "only the buffer's capacity is accepted before the reader reads");
  const it = stream[Symbol.asyncIterator]();
  assert.deepEqual(await it.next(), { done: false, value: 0 });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(written, 3);
  const rest: number[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
  assert.deepEqual(rest, [1, 2, 3, 4]);
  await producer;
});

Deno.test("StreamMessage: concurrent writes waiting on a full buffer keep their order", async () => {
  const [stream, writer] = StreamMessage.create<number>("n", 1);
  const writes = [0, 1, 2, 3, 4].map((i) => writer.write(i));
  const got: number[] = [];
  const it = stream[Symbol.asyncIterator]();
  for (let i = 0; i < 5; i++) {
    const r = await it.next();
    got.push(r.value as number);
  }
  await Promise.all(writes);
  await writer.close();
  assert.deepEqual(await it.next(), { done: true, value: undefined });
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
});

Deno.test("StreamMessage: writing after close errors", async () => {
  const [stream, writer] = StreamMessage.create<number>();
  await writer.write(1);
  await writer.close();
  await assert.rejects(() => writer.write(2), (e: unknown) => {
    assert.ok(e instanceof PulsingRuntimeError);
    assert.equal((e as Error).message, "Writer already closed");
    return true;
  });
  const got: number[] = [];
  for await (const x of stream) got.push(x);
  assert.deepEqual(got, [1]);
});

Deno.test("StreamMessage: writing after the reader cancelled errors 'Stream closed'", async () => {
  const [stream, writer] = StreamMessage.create<number>("n", 1);
  await writer.write(0);
  const accepted = writer.write(1); // waits for space, admitted when 0 is read
  const blocked = writer.write(2); // still waiting when the reader goes away
  for await (const _ of stream) break; // reader goes away
  await accepted;
  await assert.rejects(() => blocked, /Stream closed/);
  await assert.rejects(() => writer.write(2), /Stream closed/);
  assert.equal(writer.closed, true);
});

Deno.test("StreamMessage: writer.error reaches the reader after the items", async () => {
  const [stream, writer] = StreamMessage.create<number>();
  await writer.write(0);
  await writer.write(1);
  await writer.error("boom");
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const x of stream) got.push(x);
  }, (e: unknown) => {
    assert.ok(e instanceof PulsingRuntimeError);
    assert.equal((e as Error).message, "boom");
    return true;
  });
  assert.deepEqual(got, [0, 1]);
  assert.throws(() => stream[Symbol.asyncIterator](), /only once/);
});

Deno.test("a raw actor answers with a StreamMessage", async () => {
  const system = new ActorSystem();
  const ref = await system.spawn({
    receive(n: unknown) {
      const [s, w] = StreamMessage.create<number>("n");
      (async () => {
        for (let i = 0; i < (n as number); i++) await w.write(i);
        await w.close();
      })();
      return s;
    },
  });
  const stream = await ref.ask<AsyncIterable<number>>(3);
  assert.deepEqual(await Array.fromAsync(stream), [0, 1, 2]);
  await system.shutdown();
});
