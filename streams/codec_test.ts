import assert from "node:assert/strict";
import {
  decodeValue,
  encodeValue,
  PreEncoded,
  ProtocolError,
  validateMsgpack,
  ValueEncoder,
} from "./codec.ts";
import { setZeroCopyConfig, zerocopy, ZeroCopyDescriptor } from "../core/zerocopy.ts";

function rt(v: unknown): unknown {
  const e = encodeValue(v);
  return decodeValue(e.meta, e.segments);
}

Deno.test("codec: scalars and containers round-trip", () => {
  const cases: unknown[] = [
    null,
    undefined,
    true,
    false,
    0,
    1,
    -1,
    2 ** 31,
    2 ** 53,
    -(2 ** 40),
    1.5,
    NaN,
    Infinity,
    "",
    "héllo ☃",
    "x".repeat(100_000),
    [],
    [1, "a", null, undefined, [2, [3]]],
    {},
    { a: 1, b: { c: [1, 2, { d: "e" }] }, u: undefined },
    5n,
    -5n,
    2n ** 63n - 1n,
    2n ** 64n - 1n,
    2n ** 200n,
    -(2n ** 100n),
    new Date(0),
    new Date(1_700_000_000_123),
    new Map<unknown, unknown>([[1, "one"], ["k", { v: [1] }], [null, new Map([[2n, 3]])]]),
    new Set([1, "two", [3]]),
    { m: new Map([["a", new Set([new Date(5)])]]) },
  ];
  for (const v of cases) assert.deepEqual(rt(v), v);
});

Deno.test("codec: bytes travel as segments at any depth, same memory on the sending side", () => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array(100).fill(7).subarray(10, 20);
  const v = { args: [a, { nested: [b] }], m: new Map([["k", a]]) };
  const e = encodeValue(v);
  assert.equal(e.segments.length, 3);
  assert.equal(e.segments[0], a); // the very same object
  assert.equal(e.segments[1], b);
  assert.ok(e.meta.byteLength < 64, "bytes are not inlined in the msgpack part");
  assert.equal(e.byteLength, e.meta.byteLength + 3 + 10 + 3);
  const back = decodeValue(e.meta, e.segments) as typeof v;
  assert.deepEqual(back.args[0], a);
  assert.deepEqual((back.args[1] as { nested: Uint8Array[] }).nested[0], b);
  assert.deepEqual(back.m.get("k"), a);
  // the input value was not modified
  assert.equal(v.args[0], a);
});

Deno.test("codec: 16 MiB Uint8Array byte for byte, no copy on the sending side", () => {
  const big = new Uint8Array(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
  big[big.length - 1] = 0xab;
  const e = encodeValue({ big });
  assert.equal(e.segments[0].buffer, big.buffer);
  assert.equal(e.segments[0].byteOffset, 0);
  const back = decodeValue(e.meta, e.segments.map((s) => s.slice())) as { big: Uint8Array };
  assert.equal(back.big.byteLength, big.byteLength);
  assert.deepEqual(back.big, big);
});

Deno.test("codec: other typed arrays, DataView, ArrayBuffer", () => {
  const f = new Float64Array([1.5, -2, Math.PI]);
  const i16 = new Int16Array([1, -2, 300]);
  const big = new BigInt64Array([1n, -2n]);
  const ab = new Uint8Array([9, 8, 7]).buffer;
  const dv = new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2);
  const back = rt({ f, i16, big, ab, dv }) as Record<string, unknown>;
  assert.deepEqual(back.f, f);
  assert.deepEqual(back.i16, i16);
  assert.deepEqual(back.big, big);
  assert.ok(back.ab instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(back.ab as ArrayBuffer), new Uint8Array([9, 8, 7]));
  assert.ok(back.dv instanceof DataView);
  assert.equal((back.dv as DataView).getUint8(0), 2);
  // unaligned segments are copied into aligned views
  const e = encodeValue(f);
  const unaligned = new Uint8Array(e.segments[0].byteLength + 1).subarray(1);
  unaligned.set(e.segments[0]);
  assert.deepEqual(decodeValue(e.meta, [unaligned]), f);
});

Deno.test("codec: zero-copy descriptors and objects with [zerocopy]()", () => {
  class Tensor {
    constructor(public data: Float32Array, public shape: number[]) {}
    [zerocopy](): ZeroCopyDescriptor {
      return new ZeroCopyDescriptor([this.data], { dtype: "float32", shape: this.shape });
    }
  }
  const t = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const e = encodeValue({ t });
  assert.equal(e.segments[0].buffer, t.data.buffer);
  const back = decodeValue(e.meta, e.segments) as { t: ZeroCopyDescriptor };
  assert.ok(back.t instanceof ZeroCopyDescriptor);
  assert.equal(back.t.dtype, "float32");
  assert.deepEqual(back.t.shape, [2, 2]);
  assert.equal(back.t.version, 1);
  assert.deepEqual(new Float32Array(back.t.buffers[0].slice().buffer), t.data);

  // off: the object travels as its fields
  const off = encodeValue(t, { zeroCopy: "off" });
  const plain = decodeValue(off.meta, off.segments) as Record<string, unknown>;
  assert.ok(!(plain instanceof ZeroCopyDescriptor));
  assert.deepEqual(plain.shape, [2, 2]);
  assert.deepEqual(plain.data, t.data);

  // force: a value without the method is a clear error
  assert.throws(() => encodeValue({ a: 1 }, { zeroCopy: "force" }), /PULSING_ZEROCOPY=force/);
  assert.ok(encodeValue(t, { zeroCopy: "force" }).segments.length === 1);
  // force via the environment setting
  setZeroCopyConfig({ mode: "force" });
  try {
    assert.throws(() => encodeValue("x"), TypeError);
  } finally {
    setZeroCopyConfig(undefined);
  }
  // a wrong return type is a clear error
  const bad = { [zerocopy]: () => ({}) };
  assert.throws(() => encodeValue(bad), /must return a ZeroCopyDescriptor/);
  assert.throws(() => new ZeroCopyDescriptor([]), TypeError);
});

Deno.test("codec: class instances travel as plain objects", () => {
  class P {
    x = 1;
    y = [2];
    m(): number {
      return 3;
    }
  }
  assert.deepEqual(rt(new P()), { x: 1, y: [2] });
});

Deno.test("codec: depth limits on both sides", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 64; i++) deep = [deep];
  assert.deepEqual(rt(deep), deep); // exactly 64 levels
  const deeper = [deep];
  assert.throws(() => encodeValue(deeper), /maxDepth/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeValue(cyclic), /maxDepth/);
  // Maps count as the decoder counts them: encode success implies decode success
  let m: unknown = 1;
  for (let i = 0; i < 40; i++) {
    m = new Map([["k", m]]);
    try {
      const e = encodeValue(m);
      decodeValue(e.meta, e.segments);
    } catch (err) {
      assert.match((err as Error).message, /maxDepth/);
      assert.ok(!(err instanceof ProtocolError), "the encoder refuses first");
      break;
    }
  }
  // decoder limit configurable
  const e = encodeValue([[[1]]]);
  assert.throws(() => decodeValue(e.meta, [], { maxDepth: 2 }), ProtocolError);
  // 100,000 nested arrays: rejected without recursion
  const evil = new Uint8Array(100_001).fill(0x91);
  evil[100_000] = 0x01;
  assert.throws(() => decodeValue(evil), ProtocolError);
});

Deno.test("codec: garbage never crashes, always ProtocolError", () => {
  const bad: number[][] = [
    [],
    [0xc1],
    [0x92, 0x01],
    [0x01, 0x02],
    [0xdd, 0xff, 0xff, 0xff, 0xff],
    [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61],
    [0xc7, 0x01, 0x42, 0x00], // bundle extension: not ours
    [0xd4, 0x65, 0x00, 0xc0], // error extension: not ours
    [0xd6, 0x70, 0, 0, 0, 1], // pointer extension
    [0xd4, 0x50, 0x00, 0x05], // segment 5 of none
    [0xd4, 0x50, 0x00, 0xa1, 0x61], // segment index not a number
    [0xd4, 0x52, 0x00, 0x91, 0x01], // Map with an odd payload
    [0xd4, 0x54, 0x00, 0xa1, 0x78], // bigint "x"
    [0xd4, 0x51, 0x00, 0x92, 0x00, 0x63], // typed kind 99 (no segment)
    [0xd5, 0x50, 0x00, 0x00],
  ];
  for (const b of bad) {
    assert.throws(() => decodeValue(new Uint8Array(b)), ProtocolError, JSON.stringify(b));
  }
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 20_000; i++) {
    const len = 1 + Math.floor(rnd() * 40);
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
    try {
      decodeValue(b, [new Uint8Array(3)]);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `unexpected ${e}`);
    }
  }
  // truncations of a valid encoding
  const e = encodeValue({ a: [1, 2, "three", new Map([[1, 2]])], b: 2n ** 70n, c: new Date(9) });
  for (let cut = 0; cut < e.meta.length; cut++) {
    assert.throws(() => decodeValue(e.meta.subarray(0, cut)), ProtocolError);
  }
  validateMsgpack(e.meta, 64);
});

Deno.test("codec: a PreEncoded value is written verbatim, decodes as the plain value, counts its depth", () => {
  const head = new PreEncoded({ op: "call", to: "actors/x", m: "echo" });
  assert.equal(head.depth, 1);
  const plain = encodeValue([1, 7, { op: "call", to: "actors/x", m: "echo" }, [1], 256]);
  const enc = new ValueEncoder();
  enc.encode([1, 7, head, [1], 256]);
  assert.deepEqual(enc.meta(), plain.meta); // same bytes on the wire
  assert.deepEqual(decodeValue(enc.meta().slice(), enc.segments), [1, 7, head.value, [1], 256]);
  assert.throws(() => enc.encode([[head]], 2), TypeError); // 2 levels + the head's 1
  enc.encode([head], 2);
  assert.throws(() => new PreEncoded({ b: new Uint8Array(1) }), TypeError);
  assert.throws(() => new PreEncoded([[[[[1]]]]]), TypeError);
});

Deno.test("codec: short strings decode from the cache only when the bytes match", () => {
  // a long run of distinct strings (turns the value cache off), then repeats (back on)
  for (let i = 0; i < 2000; i++) assert.equal(rt(`item-${i}`), `item-${i}`);
  for (let i = 0; i < 2000; i++) {
    assert.deepEqual(rt(["echo", `x${i % 3}`]), ["echo", `x${i % 3}`]);
  }
  for (const s of ["echo", "echp", "é", "0123456789abcdef", "0123456789abcdeg", ""]) {
    assert.equal(rt(s), s);
    assert.deepEqual(rt({ [s]: s }), { [s]: s });
  }
});
