/**
 * A bounded, seeded, coverage-guided fuzz of the wire: the frame decoder, the value codec and
 * the RPC connection on top of them. Inputs are valid frames (every message kind, small and
 * chunked, with segments) mutated by bit flips, interesting bytes, length-field rewrites,
 * insertions, deletions, truncations and splices, plus random bytes. An input whose outcome
 * (an error message shape, or what was decoded) was not seen before joins the corpus, so the
 * mutations reach deeper states over the run.
 *
 * Asserted for every case: nothing but `ProtocolError` (a `PulsingRuntimeError`) escapes,
 * every case finishes quickly (no hang), the decoder never holds more than its limits for
 * messages in reassembly, claimed sizes beyond the limits are refused before any allocation,
 * and memory stays bounded over the run. The RPC part checks that a garbage-fed connection
 * either keeps working or closes with one logged line, and never throws out of its callbacks.
 *
 * `FUZZ_CASES=200000 FUZZ_SEED=7 deno test -A --v8-flags=--expose-gc tests/wire_fuzz_test.ts`
 * runs a longer campaign (with `--expose-gc` the memory check measures live memory only).
 */
import assert from "node:assert/strict";
import { PulsingRuntimeError } from "../core/errors.ts";
import { decodeValue, encodeValue, ProtocolError } from "../streams/codec.ts";
import { FrameDecoder, type FrameLimits, frameMessage } from "../streams/frame.ts";
import { RpcConnection, StreamReply } from "../cluster/rpc.ts";
import type { Conn } from "../cluster/transport/types.ts";

const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 20_000);
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261128);

/** Small limits, so that the "beyond the limits" paths are easy to reach. */
const LIMITS: Required<FrameLimits> = {
  maxFrameSize: 64 * 1024,
  maxMessageSize: 256 * 1024,
  maxHeaderSize: 32 * 1024,
  maxSegments: 64,
  maxPartialMessages: 4,
  maxPartialBytes: 512 * 1024,
};

/** xorshift32: deterministic for a seed. */
function rng(seed: number): { int(n: number): number; pick<T>(a: readonly T[]): T } {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    int: (n) => next() % n,
    pick: (a) => a[next() % a.length],
  };
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

/** The bytes `frameMessage` would put on the wire for a value. */
function wire(value: unknown, chunkSize = 4096): Uint8Array {
  const e = encodeValue(value);
  const f = frameMessage(e.meta, e.segments, { chunkThreshold: 1024, chunkSize });
  if (f.parts) return concat(f.parts);
  const out: Uint8Array[] = [];
  while (!f.chunked!.done) f.chunked!.take(out);
  return concat(out);
}

/** Valid seeds: every RPC message kind, rich values, segments, chunked messages. */
function seeds(): Uint8Array[] {
  const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i * 7);
  const values: unknown[] = [
    [1, 1, { op: "call", to: "a-1", m: "echo" }, [{ x: "0123456789abcdef" }], 256],
    [2, 0, { op: "tell", to: "a-1" }, "hello"],
    [3, 1, { ok: true, n: [1, 2.5, -3, 2 ** 40] }],
    [4, 1, { cls: "PulsingRuntimeError", message: "no", code: 5 }],
    [5, 1],
    [6, 1, "item"],
    [11, 1, ["a", "b", { c: [1, 2] }]],
    [7, 1],
    [8, 1, { cls: "Error", message: "boom" }],
    [9, 1],
    [10, 1, 128],
    [1, 2, { op: "call" }, [bytes(100), { nested: [bytes(3)] }], 1],
    [3, 2, new Map<unknown, unknown>([[1, "one"], ["k", new Set([2n ** 70n, -5n])]])],
    [3, 3, [new Date(1_700_000_000_123), undefined, null, new Float64Array([1.5, 2])]],
    [1, 4, { op: "call" }, [bytes(3000)], 8], // chunked
    [3, 5, { big: bytes(9000), more: [bytes(2000), bytes(1)] }], // chunked, several segments
  ];
  const out = values.map((v) => wire(v));
  out.push(concat([out[0], out[1], out[14]])); // several frames back to back
  return out;
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xd4, 0xc7];
const BIG = [0, 1, 4, 5, 0x7fffffff, 0xffffffff, 65536, 65537, 1 << 24, 1 << 30];

function mutate(r: ReturnType<typeof rng>, corpus: Uint8Array[], input: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  const rounds = 1 + r.int(4);
  for (let k = 0; k < rounds; k++) {
    switch (r.int(9)) {
      case 0: // bit flip
        if (b.length) b[r.int(b.length)] ^= 1 << r.int(8);
        break;
      case 1: // interesting byte
        if (b.length) b[r.int(b.length)] = r.pick(INTERESTING);
        break;
      case 2: { // rewrite a u32 (often a length field)
        if (b.length < 4) break;
        const at = r.int(6) === 0 ? 0 : r.int(b.length - 3);
        new DataView(b.buffer, b.byteOffset).setUint32(at, r.pick(BIG));
        break;
      }
      case 3: { // insert random bytes
        const at = r.int(b.length + 1);
        const ins = Uint8Array.from({ length: 1 + r.int(8) }, () => r.int(256));
        b = concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 4: { // delete a range
        if (!b.length) break;
        const at = r.int(b.length);
        b = concat([b.subarray(0, at), b.subarray(at + 1 + r.int(8))]);
        break;
      }
      case 5: // truncate
        b = b.subarray(0, r.int(b.length + 1)).slice();
        break;
      case 6: { // splice with another corpus entry
        const o = r.pick(corpus);
        b = concat([b.subarray(0, r.int(b.length + 1)), o.subarray(r.int(o.length + 1))]);
        break;
      }
      case 7: { // duplicate a range (repeated frames, repeated BEGINs)
        if (!b.length) break;
        const at = r.int(b.length);
        const piece = b.subarray(at, at + 1 + r.int(64));
        b = concat([b, piece]);
        break;
      }
      default: // random bytes
        b = Uint8Array.from({ length: 1 + r.int(64) }, () => r.int(256));
    }
  }
  return b;
}

function isAllowed(e: unknown): boolean {
  return e instanceof ProtocolError || e instanceof PulsingRuntimeError;
}

/** An outcome signature: what kind of error, or how many messages and what they held. */
function shape(e: unknown): string {
  return e instanceof Error ? e.message.replace(/\d+/g, "#").slice(0, 60) : String(e);
}

Deno.test("wire fuzz: frame decoder and codec (seeded, bounded)", () => {
  const r = rng(SEED);
  const corpus = seeds();
  const seen = new Set<string>();
  const t0 = performance.now();
  (globalThis as { gc?: () => void }).gc?.();
  const mem0 = Deno.memoryUsage();
  let decoded = 0;
  let refused = 0;
  let worst = 0;
  for (let i = 0; i < CASES; i++) {
    const input = r.int(10) === 0
      ? Uint8Array.from({ length: 1 + r.int(256) }, () => r.int(256))
      : mutate(r, corpus, r.pick(corpus));
    const sig: string[] = [];
    const dec = new FrameDecoder((buf, segs, start, end) => {
      const meta = buf.subarray(start, end);
      // claimed sizes were checked before allocating: every part is within the limits
      assert.ok(meta.length <= LIMITS.maxHeaderSize);
      assert.ok(segs.length <= LIMITS.maxSegments);
      assert.ok(meta.length + segs.reduce((n, s) => n + s.length, 0) <= LIMITS.maxMessageSize);
      try {
        const v = decodeValue(meta, segs);
        sig.push(Array.isArray(v) ? `ok:${v[0]}:${v.length}` : `ok:${typeof v}`);
        decoded++;
      } catch (e) {
        if (!isAllowed(e)) throw e;
        sig.push(shape(e));
      }
    }, LIMITS);
    const start = performance.now();
    try {
      // fed whole or in random pieces (the decoder must not care)
      if (r.int(2) === 0) dec.push(input);
      else {
        for (let p = 0; p < input.length;) {
          const k = 1 + r.int(64);
          dec.push(input.subarray(p, p + k));
          assert.ok(dec.partialBytes <= LIMITS.maxPartialBytes);
          p += k;
        }
      }
    } catch (e) {
      assert.ok(isAllowed(e), `case ${i}: unexpected ${(e as Error)?.stack ?? e}`);
      sig.push(`refused:${shape(e)}`);
      refused++;
      // a failed decoder stays failed, with the same kind of error
      assert.throws(() => dec.push(new Uint8Array([0])), ProtocolError);
    }
    assert.ok(dec.partialBytes <= LIMITS.maxPartialBytes);
    const took = performance.now() - start;
    worst = Math.max(worst, took);
    assert.ok(took < 250, `case ${i} took ${took.toFixed(0)} ms`);
    const key = sig.join("|");
    if (!seen.has(key)) {
      seen.add(key);
      if (corpus.length < 2000) corpus.push(input);
    }
  }
  (globalThis as { gc?: () => void }).gc?.(); // with --v8-flags=--expose-gc
  const mem1 = Deno.memoryUsage();
  const grew = (mem1.heapUsed + mem1.external - mem0.heapUsed - mem0.external) / 2 ** 20;
  // without --expose-gc, garbage not yet collected counts too: a looser bound
  const bound = (globalThis as { gc?: () => void }).gc ? 64 : 128 + CASES / 1000;
  assert.ok(grew < bound, `memory grew by ${grew.toFixed(0)} MiB`);
  assert.ok(refused > CASES / 10 && decoded > CASES / 20, `${refused} refused, ${decoded} decoded`);
  assert.ok(seen.size > 50, `only ${seen.size} distinct outcomes`);
  console.log(
    `${CASES} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s (seed ${SEED}): ` +
      `${decoded} messages decoded, ${refused} inputs refused, ${seen.size} distinct outcomes, ` +
      `corpus ${corpus.length}, slowest case ${worst.toFixed(1)} ms, memory +${
        grew.toFixed(0)
      } MiB`,
  );
});

/** An in-memory Conn: bytes pushed by the test, writes collected. */
class FakeConn implements Conn {
  readonly remoteAddr = "fuzz:1";
  readonly localAddr = "fuzz:0";
  onData: (c: Uint8Array) => void = () => {};
  onClose: (e?: Error) => void = () => {};
  closed = false;
  written = 0;
  start(onData: (c: Uint8Array) => void, onClose: (e?: Error) => void): void {
    this.onData = onData;
    this.onClose = onClose;
  }
  write(chunks: Uint8Array[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("closed"));
    for (const c of chunks) this.written += c.length;
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
  }
}

Deno.test("wire fuzz: RPC connections fed mutated frames", async () => {
  const r = rng(SEED ^ 0x5eed);
  const corpus = seeds();
  const n = Math.max(200, Math.floor(CASES / 8));
  let closedWithLine = 0;
  let survived = 0;
  const unhandled: unknown[] = [];
  const onUnhandled = (ev: PromiseRejectionEvent) => {
    unhandled.push(ev.reason);
    ev.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    for (let i = 0; i < n; i++) {
      const conn = new FakeConn();
      const lines: string[] = [];
      const rpc = new RpcConnection(conn, {
        onAsk: (head, body) => {
          if ((head as { m?: string })?.m === "stream") {
            return new StreamReply([1, 2, 3]);
          }
          return body;
        },
        onTell: () => {},
      }, {
        ...LIMITS,
        logger: (l) => lines.push(l),
        handshakeTimeoutMs: 0,
        frameTimeoutMs: 0,
        idleTimeoutMs: 0,
        requestTimeoutMs: 1_000,
      });
      const input = mutate(r, corpus, r.pick(corpus));
      for (let p = 0; p < input.length && !rpc.closed;) {
        const k = 1 + r.int(512);
        conn.onData(input.subarray(p, p + k)); // must never throw
        p += k;
      }
      await Promise.resolve();
      await new Promise((res) => setTimeout(res, 0));
      if (rpc.closed) {
        assert.equal(lines.length, 1, lines.join("\n"));
        assert.match(lines[0], /protocol error|internal error/);
        assert.ok(!/internal error/.test(lines[0]), lines[0]);
        closedWithLine++;
      } else {
        survived++;
        rpc.close("done");
      }
    }
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
  assert.deepEqual(unhandled, []);
  assert.ok(closedWithLine > 0 && survived > 0, `${closedWithLine} closed, ${survived} survived`);
  console.log(`${n} connections: ${closedWithLine} closed with one logged line, ${survived} kept`);
});
