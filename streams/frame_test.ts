import assert from "node:assert/strict";
import { FrameDecoder, frameMessage, FrameWriter, ProtocolError } from "./frame.ts";
import type { FrameSendOptions } from "./frame.ts";

type Msg = { meta: Uint8Array; segs: Uint8Array[] };

/** All frames of a message, flattened into one byte array. */
function wire(meta: Uint8Array, segs: Uint8Array[], opts?: FrameSendOptions): Uint8Array {
  const m = frameMessage(meta, segs, opts);
  const parts: Uint8Array[] = [];
  if (m.parts) parts.push(...m.parts);
  else while (!m.chunked!.done) m.chunked!.take(parts);
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function collector(limits?: ConstructorParameters<typeof FrameDecoder>[1]) {
  const got: Msg[] = [];
  const dec = new FrameDecoder(
    (buf, segs, start, end) => got.push({ meta: buf.slice(start, end), segs }),
    limits,
  );
  return { got, dec };
}

let seed = 7;
function rnd(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
function bytes(n: number, salt = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt) & 0xff;
  return b;
}

const messages: [Uint8Array, Uint8Array[]][] = [
  [new Uint8Array([0xc0]), []],
  [bytes(10, 1), [bytes(3, 2), new Uint8Array(0), bytes(100, 3)]],
  [bytes(70_000, 4), []], // chunked by its meta alone
  [bytes(5, 5), [bytes(300_000, 6), bytes(1, 7), bytes(200_000, 8)]],
  [bytes(1, 9), [bytes(65_536, 10)]],
];

Deno.test("frame: small messages keep segments as views (no copy on send)", () => {
  const seg = bytes(1000);
  const m = frameMessage(new Uint8Array([0x90]), [seg]);
  assert.ok(m.parts);
  assert.equal(m.parts!.at(-1), seg);
  const big = bytes(500_000);
  const c = frameMessage(new Uint8Array([0x90]), [big]).chunked!;
  const out: Uint8Array[] = [];
  while (!c.done) c.take(out);
  const dataViews = out.filter((p) => p.buffer === big.buffer);
  assert.equal(dataViews.reduce((n, p) => n + p.length, 0), big.length);
});

Deno.test("frame: decoder fed whole, byte by byte and in random splits", () => {
  const all = concat(messages.map(([m, s]) => wire(m, s, { chunkSize: 65536 })));
  const check = (got: Msg[]) => {
    assert.equal(got.length, messages.length);
    for (let i = 0; i < messages.length; i++) {
      assert.deepEqual(got[i].meta, messages[i][0]);
      assert.deepEqual(got[i].segs, messages[i][1]);
    }
  };
  {
    const { got, dec } = collector();
    dec.push(all);
    check(got);
  }
  {
    const { got, dec } = collector();
    for (let i = 0; i < all.length; i++) dec.push(all.subarray(i, i + 1));
    check(got);
  }
  for (let round = 0; round < 30; round++) {
    const { got, dec } = collector();
    // a reused read buffer: the decoder must not keep views into it
    const readBuf = new Uint8Array(70_000);
    let p = 0;
    while (p < all.length) {
      const k = Math.min(all.length - p, 1 + Math.floor(rnd() * (rnd() < 0.5 ? 16 : 70_000)));
      readBuf.set(all.subarray(p, p + k));
      dec.push(readBuf.subarray(0, k));
      readBuf.fill(0xee);
      p += k;
    }
    check(got);
    assert.equal(dec.partialBytes, 0);
  }
});

Deno.test("frame: chunks of different messages interleave (writer) and reassemble", async () => {
  const writes: Uint8Array[][] = [];
  const w = new FrameWriter((c) => Promise.resolve(void writes.push(c.map((x) => x.slice()))), {
    chunkSize: 16384,
    maxBatchBytes: 32768,
  });
  const big1 = bytes(200_000, 1);
  const big2 = bytes(150_000, 2);
  const order: string[] = [];
  w.send(new Uint8Array([1]), [big1], undefined, () => order.push("big1"));
  w.send(new Uint8Array([2]), [big2], undefined, () => order.push("big2"));
  w.send(new Uint8Array([3]), [], undefined, () => order.push("small"));
  // a follower on big1's lane must wait for big1
  await w.flushed();
  assert.ok(writes.length > 1, "big messages go out over several writes");
  const { got, dec } = collector();
  for (const c of writes) dec.push(concat(c));
  assert.deepEqual(got.map((g) => g.meta[0]), [3, 2, 1]);
  assert.deepEqual(got[2].segs[0], big1);
  assert.deepEqual(got[1].segs[0], big2);
  assert.equal(order[0], "small");
});

Deno.test("frame: writer batches one turn into one write and keeps lane order", async () => {
  const writes: Uint8Array[][] = [];
  const w = new FrameWriter((c) => Promise.resolve(void writes.push(c.map((x) => x.slice()))), {
    chunkSize: 8192,
    eagerFlushMessages: 1000,
  });
  for (let i = 0; i < 100; i++) w.send(new Uint8Array([i]), []);
  await w.flushed();
  assert.equal(writes.length, 1);
  writes.length = 0;
  // eager: the 16th message starts a write at once; the rest follow in one more write
  const eager = new FrameWriter((c) => Promise.resolve(void writes.push(c.map((x) => x.slice()))));
  for (let i = 0; i < 100; i++) {
    eager.send(new Uint8Array([i]), []);
    if (i === 15) assert.equal(writes.length, 1, "written synchronously");
  }
  await eager.flushed();
  assert.equal(writes.length, 2);
  const e = collector();
  for (const c of writes) e.dec.push(concat(c));
  assert.deepEqual(e.got.map((g) => g.meta[0]), Array.from({ length: 100 }, (_, i) => i));
  writes.length = 0;
  w.send(new Uint8Array([1]), [bytes(100_000)], "lane");
  w.send(new Uint8Array([2]), [], "lane");
  w.send(new Uint8Array([3]), [bytes(90_000)], "lane");
  w.send(new Uint8Array([4]), [], "lane");
  w.send(new Uint8Array([5]), [], "other");
  await w.flushed();
  const { got, dec } = collector();
  for (const c of writes) dec.push(concat(c));
  assert.deepEqual(got.map((g) => g.meta[0]), [5, 1, 2, 3, 4]);
  // a failed write fails the queued messages and later sends
  const w2 = new FrameWriter(() => Promise.reject(new Error("broken pipe")));
  const errs: (Error | undefined)[] = [];
  w2.send(new Uint8Array([1]), [], undefined, (e) => errs.push(e));
  await w2.flushed();
  w2.send(new Uint8Array([1]), [], undefined, (e) => errs.push(e));
  assert.equal(errs.length, 2);
  assert.match(String(errs[0]), /broken pipe/);
});

Deno.test("frame: limits are checked before allocating", () => {
  // 4 GiB length claim
  const { dec } = collector();
  assert.throws(
    () => dec.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1])),
    (e: unknown) => e instanceof ProtocolError && /maxFrameSize/.test(e.message),
  );
  // the decoder stays failed
  assert.throws(() => dec.push(new Uint8Array([0])), ProtocolError);
  // a BEGIN that claims 4 GiB of segments
  const begin = new Uint8Array([
    0,
    0,
    0,
    15,
    2,
    0,
    0,
    0,
    7,
    0,
    1,
    0,
    0,
    0,
    1,
    0xff,
    0xff,
    0xff,
    0xff,
  ]);
  assert.throws(() => collector().dec.push(begin), /maxMessageSize/);
  // header too big
  const { dec: d2 } = collector({ maxHeaderSize: 10 });
  assert.throws(() => d2.push(wire(bytes(11), [])), /maxHeaderSize/);
  // reassembly bytes bounded
  const { dec: d3 } = collector({ maxPartialBytes: 100_000 });
  const m = frameMessage(new Uint8Array([1]), [bytes(200_000)]);
  assert.throws(() => d3.push(m.chunked!.begin), /maxPartialBytes/);
  // the sender refuses what the limits forbid, without sending anything
  assert.throws(() => frameMessage(bytes(20), [], { maxHeaderSize: 10 }), RangeError);
  assert.throws(() => frameMessage(bytes(1), [bytes(100)], { maxMessageSize: 50 }), RangeError);
});

Deno.test("frame: fuzz: random bytes, truncations, corruptions never escape as non-ProtocolError", () => {
  const valid = concat(messages.map(([m, s]) => wire(m, s, { chunkSize: 65536 })));
  const tryPush = (b: Uint8Array, split: number) => {
    const { dec } = collector({ maxFrameSize: 1 << 20, maxMessageSize: 1 << 21 });
    try {
      for (let p = 0; p < b.length; p += split) dec.push(b.subarray(p, p + split));
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `unexpected ${e}`);
    }
  };
  for (let i = 0; i < 3000; i++) {
    const n = 1 + Math.floor(rnd() * 64);
    const b = new Uint8Array(n);
    for (let j = 0; j < n; j++) b[j] = Math.floor(rnd() * 256);
    if (rnd() < 0.5) b[0] = 0, b[1] = 0; // plausible lengths
    if (rnd() < 0.5) b[4] = 1 + Math.floor(rnd() * 4);
    tryPush(b, 1 + Math.floor(rnd() * 8));
  }
  for (let i = 0; i < 300; i++) {
    const b = valid.slice(0, Math.floor(rnd() * valid.length));
    for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    tryPush(b, 1 + Math.floor(rnd() * 50_000));
  }
  // unknown frame type
  assert.throws(() => collector().dec.push(new Uint8Array([0, 0, 0, 1, 9])), /unknown frame type/);
  // table / length mismatch
  const bad = wire(bytes(4), [bytes(4)]);
  bad[14] = 9; // segment length 4 -> 9 while the frame length stays
  assert.throws(() => collector().dec.push(bad), /does not match/);
  // chunk for an unknown message
  assert.throws(
    () => collector().dec.push(new Uint8Array([0, 0, 0, 6, 3, 0, 0, 0, 9, 1])),
    /unknown message/,
  );
});

Deno.test("frame: a short tail rides in the last chunk, within maxFrameSize", () => {
  const chunks = (meta: Uint8Array, segs: Uint8Array[], opts?: FrameSendOptions): number[] => {
    const c = frameMessage(meta, segs, opts).chunked!;
    const sizes: number[] = [];
    const out: Uint8Array[] = [];
    c.take(out); // BEGIN and the first CHUNK
    sizes.push(out.slice(1).reduce((n, p) => n + p.length, 0) - 9);
    while (!c.done) {
      out.length = 0;
      sizes.push(c.take(out) - 9);
    }
    return sizes;
  };
  const meta = new Uint8Array(63).fill(1);
  // 1 MiB segment + 63 bytes of msgpack: one chunk, not 1 MiB and then 63 bytes
  assert.deepEqual(chunks(meta, [new Uint8Array(1 << 20)]), [(1 << 20) + 63]);
  // 16 MiB: 16 chunks, the last with the tail
  const big = chunks(meta, [new Uint8Array(16 << 20)]);
  assert.equal(big.length, 16);
  assert.equal(big[15], (1 << 20) + 63);
  // a tail over a quarter chunk stays a chunk of its own
  assert.deepEqual(chunks(meta, [new Uint8Array(5 << 18)]), [1 << 20, (1 << 18) + 63]);
  // never over the frame limit
  const small = chunks(meta, [new Uint8Array(70_000)], { chunkSize: 65536, maxFrameSize: 65544 });
  assert.deepEqual(small, [65536, 70_000 + 63 - 65536]);
  // and the bytes still reassemble
  const seg = new Uint8Array((1 << 20) + 5).map((_, i) => i * 7);
  const got: Msg[] = [];
  const dec = new FrameDecoder((b, s, start, end) =>
    got.push({ meta: b.slice(start, end), segs: s })
  );
  dec.push(wire(meta, [seg]));
  assert.equal(got.length, 1);
  assert.deepEqual(got[0].segs[0], seg);
});

Deno.test("frame: a segment detached before it is written fails the batch and says why (no throw, no short frame)", async () => {
  for (const size of [10_000, 200_000]) { // a view in a small message; a chunked message
    const writes: Uint8Array[][] = [];
    const fatal: Error[] = [];
    const w = new FrameWriter((chunks) => Promise.resolve(void writes.push(chunks)), {
      onFatal: (e) => fatal.push(e),
    });
    const seg = new Uint8Array(size);
    const outcome = new Promise<Error | undefined>((r) =>
      w.send(new Uint8Array([0xc0]), [seg], undefined, r)
    );
    seg.buffer.transfer(); // detached before the end of the turn, when the batch is written
    const err = await outcome;
    assert.ok(err instanceof Error);
    assert.match(err.message, /detached before it was written/);
    assert.equal(fatal.length, 1);
    assert.equal(writes.length, 0, "nothing written");
    const later = await new Promise<Error | undefined>((r) =>
      w.send(new Uint8Array([0xc0]), [], undefined, r)
    );
    assert.ok(later instanceof Error, "the writer stays failed");
  }
});
