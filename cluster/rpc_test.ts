import assert from "node:assert/strict";
import { receivePool, RpcConnection, RpcStream, StreamReply } from "./rpc.ts";
import type { RpcHandler, RpcOptions } from "./rpc.ts";
import { DenoTcpTransport } from "./transport/deno_tcp.ts";
import { NodeNetTransport } from "./transport/node_net.ts";
import { defaultTransport } from "./transport/mod.ts";
import type { Conn, Transport } from "./transport/types.ts";
import {
  PulsingActorError,
  PulsingBusinessError,
  PulsingRuntimeError,
  PulsingTimeoutError,
} from "../core/errors.ts";

const noop: RpcHandler = { onAsk: () => null, onTell: () => {} };

interface Pair {
  client: RpcConnection;
  server: RpcConnection;
  serverConn: Conn;
  logs: string[];
  close(): Promise<void>;
}

async function pair(
  t: Transport,
  serverHandler: RpcHandler,
  clientHandler: RpcHandler = noop,
  options: RpcOptions = {},
): Promise<Pair> {
  const logs: string[] = [];
  const opts = { logger: (l: string) => logs.push(l), ...options };
  const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = Promise.withResolvers<[RpcConnection, Conn]>();
  listener.onConnection((c) => accepted.resolve([new RpcConnection(c, serverHandler, opts), c]));
  const client = new RpcConnection(
    await t.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    clientHandler,
    opts,
  );
  const [server, serverConn] = await accepted.promise;
  return {
    client,
    server,
    serverConn,
    logs,
    async close() {
      const bothClosed = Promise.all([
        new Promise((r) => client.onClose(r)),
        new Promise((r) => server.onClose(r)),
      ]);
      client.close();
      listener.close();
      await bothClosed;
      await new Promise((r) => setTimeout(r, 5)); // let the sockets finish closing
    },
  };
}

// Tests outside the per-transport loop use defaultTransport(): this file also runs on Node
// (scripts/test_node.ts), where only tests whose name says "deno-tcp" are skipped.
const transports: Transport[] = [new DenoTcpTransport(), new NodeNetTransport()];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const t of transports) {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({
      name: `rpc over ${t.kind}: ${name}`,
      fn,
      sanitizeOps: false,
      sanitizeResources: false,
    });

  test("ask, tell, both directions", async () => {
    const told: unknown[] = [];
    const p = await pair(t, {
      onAsk: (head, body) => ({ head, body }),
      onTell: (_h, body) => void told.push(body),
    }, {
      onAsk: (_h, body) => `client says ${body}`,
      onTell: () => {},
    });
    try {
      assert.deepEqual(await p.client.ask({ target: "a", method: "m" }, [1, "x", null]), {
        head: { target: "a", method: "m" },
        body: [1, "x", null],
      });
      await p.client.tell({ target: "a" }, "t1");
      await p.client.tell({ target: "a" }, "t2");
      assert.equal(await p.server.ask("back", "hi"), "client says hi");
      await p.client.ask("sync", null); // the tells were sent before this ask
      assert.deepEqual(told, ["t1", "t2"]);
      assert.equal(p.client.remoteAddr, `127.0.0.1:${p.serverConn.localAddr.split(":")[1]}`);
    } finally {
      await p.close();
    }
  });

  test("bytes and rich values travel intact; 16 MiB argument and result", async () => {
    const p = await pair(t, { onAsk: (_h, body) => body, onTell: () => {} });
    try {
      const big = new Uint8Array(16 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 997) big[i] = i & 0xff;
      const value = {
        big,
        small: new Uint8Array([1, 2, 3]),
        m: new Map<unknown, unknown>([[1, new Set([2n ** 80n])]]),
        d: new Date(7),
        u: undefined,
      };
      const back = await p.client.ask("echo", value) as typeof value;
      assert.deepEqual(back, value);
      // small requests are not blocked behind big ones
      const [r1, r2] = await Promise.all([p.client.ask("echo", { big }), p.client.ask("echo", 1)]);
      assert.equal((r1 as { big: Uint8Array }).big.length, big.length);
      assert.equal(r2, 1);
    } finally {
      await p.close();
    }
  });

  test("1000 concurrent asks", async () => {
    const p = await pair(t, {
      onAsk: async (_h, body) => {
        await sleep((body as number) % 3);
        return (body as number) * 2;
      },
      onTell: () => {},
    });
    try {
      const rs = await Promise.all(Array.from({ length: 1000 }, (_, i) => p.client.ask("x", i)));
      assert.deepEqual(rs, Array.from({ length: 1000 }, (_, i) => i * 2));
      assert.equal(p.client.pendingAsks, 0);
      assert.equal(p.server.serving, 0);
    } finally {
      await p.close();
    }
  });

  test("stream 10,000 items", async () => {
    const p = await pair(t, {
      onAsk: (_h, body) =>
        new StreamReply((function* () {
          for (let i = 0; i < (body as number); i++) yield { i };
        })()),
      onTell: () => {},
    });
    try {
      const s = await p.client.ask("gen", 10_000);
      assert.ok(s instanceof RpcStream);
      let n = 0;
      for await (const item of s as RpcStream<{ i: number }>) {
        assert.equal(item.i, n++);
      }
      assert.equal(n, 10_000);
      assert.equal(p.client.openStreams, 0);
      await sleep(5);
      assert.equal(p.server.serving, 0);
    } finally {
      await p.close();
    }
  });

  test("breaking out of for-await runs the producer's finally", async () => {
    const finallyRan = Promise.withResolvers<number>();
    const p = await pair(t, {
      onAsk: () =>
        new StreamReply((async function* () {
          let i = 0;
          try {
            while (true) yield i++;
          } finally {
            finallyRan.resolve(i);
          }
        })()),
      onTell: () => {},
    });
    try {
      const s = await p.client.ask("inf", null) as RpcStream<number>;
      for await (const i of s) if (i === 100) break;
      const produced = await finallyRan.promise;
      assert.ok(produced >= 100 && produced <= 100 + 1 + s.credit, `produced ${produced}`);
      await sleep(5);
      assert.equal(p.server.serving, 0);
      // explicit cancel() too
      const s2 = await p.client.ask("inf", null, { credit: 4 }) as RpcStream<number>;
      await s2.next();
      s2.cancel();
      assert.deepEqual(await s2.next(), { value: undefined, done: true });
    } finally {
      await p.close();
    }
  });

  test("a slow consumer keeps the producer within its credit", async () => {
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    const credit = 8;
    const p = await pair(t, {
      onAsk: () =>
        new StreamReply((function* () {
          for (let i = 0; i < 200; i++) {
            produced++;
            maxAhead = Math.max(maxAhead, produced - consumed);
            yield new Uint8Array(1024);
          }
        })()),
      onTell: () => {},
    });
    try {
      const s = await p.client.ask("gen", null, { credit }) as RpcStream<Uint8Array>;
      for await (const _ of s) {
        consumed++;
        if (consumed % 20 === 0) await sleep(2);
      }
      assert.equal(consumed, 200);
      assert.ok(maxAhead <= credit + 1, `producer ran ${maxAhead} ahead (credit ${credit})`);
      // with nobody consuming, the producer stops at the credit
      produced = consumed = 0;
      const s2 = await p.client.ask("gen", null, { credit }) as RpcStream<Uint8Array>;
      await sleep(50);
      assert.equal(produced, credit);
      assert.equal(s2.buffered, credit);
      s2.cancel();
    } finally {
      await p.close();
    }
  });

  test("errors keep their class; a stream error comes after the items before it", async () => {
    const p = await pair(t, {
      onAsk: (head) => {
        switch (head) {
          case "biz":
            throw new PulsingBusinessError(404, "user not found", { id: "u1" });
          case "plain":
            return Promise.reject(new RangeError("too big"));
          case "timeout":
            throw new PulsingTimeoutError("inner op", 12);
          case "stream":
            return new StreamReply((async function* () {
              yield 1;
              yield 2;
              throw new PulsingBusinessError(500, "midway");
            })());
          case "unencodable":
            return {
              f: new WeakMap() as unknown,
              deep: JSON.parse("[".repeat(70) + "]".repeat(70)),
            };
        }
      },
      onTell: () => {
        throw new Error("tell failed");
      },
    });
    try {
      await assert.rejects(p.client.ask("biz", null), (e: unknown) => {
        assert.ok(e instanceof PulsingBusinessError);
        assert.equal(e.code, 404);
        assert.deepEqual(e.details, { id: "u1" });
        return true;
      });
      await assert.rejects(p.client.ask("plain", null), (e: unknown) => {
        assert.ok(e instanceof PulsingActorError);
        assert.equal(e.message, "too big");
        assert.equal(e.originalName, "RangeError");
        return true;
      });
      await assert.rejects(p.client.ask("timeout", null), PulsingTimeoutError);
      const s = await p.client.ask("stream", null) as RpcStream<number>;
      const got: number[] = [];
      await assert.rejects(async () => {
        for await (const x of s) got.push(x);
      }, (e: unknown) => e instanceof PulsingBusinessError && e.message === "midway");
      assert.deepEqual(got, [1, 2]);
      await assert.rejects(p.client.ask("unencodable", null), /maxDepth/);
      await p.client.tell("x", null);
      await p.client.ask("sync", null);
      assert.ok(p.logs.some((l) => l.includes("tell failed")));
      assert.ok(!p.client.closed && !p.server.closed);
    } finally {
      await p.close();
    }
  });

  test("timeouts and aborts fail only their request and cancel the handler", async () => {
    const aborted: unknown[] = [];
    const p = await pair(
      t,
      {
        onAsk: (head, _b, req) => {
          const signal = req.signal;
          if (head === "fast") return "ok";
          return new Promise((_, reject) => {
            signal.addEventListener("abort", () => {
              aborted.push(head);
              reject(signal.reason);
            });
          });
        },
        onTell: () => {},
      },
      noop,
      { requestTimeoutMs: 200 },
    );
    try {
      const t0 = Date.now();
      await assert.rejects(p.client.ask("slow", null, { timeoutMs: 50 }), (e: unknown) => {
        assert.ok(e instanceof PulsingTimeoutError);
        assert.equal(e.durationMs, 50);
        assert.match(e.message, /slow/);
        return true;
      });
      assert.ok(Date.now() - t0 >= 45);
      await assert.rejects(p.client.ask("default", null), PulsingTimeoutError); // 200 ms default
      const ac = new AbortController();
      const pr = p.client.ask("aborted", null, { signal: ac.signal });
      ac.abort(new Error("user gave up"));
      await assert.rejects(pr, /user gave up/);
      assert.equal(await p.client.ask("fast", null), "ok");
      await sleep(20);
      assert.deepEqual(aborted.sort(), ["aborted", "default", "slow"]);
      assert.equal(p.server.serving, 0);
    } finally {
      await p.close();
    }
  });

  test("a dropped connection fails pending asks and open streams at once, naming the peer", async () => {
    const p = await pair(t, {
      onAsk: (head) => {
        if (head === "stream") {
          return new StreamReply((async function* () {
            yield 1;
            await new Promise(() => {}); // never yields again
          })());
        }
        return new Promise(() => {}); // never answers
      },
      onTell: () => {},
    });
    try {
      const asks = [p.client.ask("hang", 1), p.client.ask("hang", 2)];
      const s = await p.client.ask("stream", null) as RpcStream<number>;
      assert.deepEqual(await s.next(), { value: 1, done: false });
      const pendingNext = s.next();
      const closedWith = new Promise<PulsingRuntimeError>((r) => p.client.onClose(r));
      p.serverConn.close(); // the peer goes away
      const peer = p.client.remoteAddr;
      for (const a of asks) {
        await assert.rejects(a, (e: unknown) => {
          assert.ok(e instanceof PulsingRuntimeError);
          assert.ok(e.message.includes(peer), e.message);
          return true;
        });
      }
      await assert.rejects(pendingNext, PulsingRuntimeError);
      assert.ok((await closedWith).message.includes(peer));
      assert.ok(p.client.closed);
      await assert.rejects(p.client.ask("after", null), PulsingRuntimeError);
      await assert.rejects(p.client.tell("after", null), PulsingRuntimeError);
    } finally {
      await p.close();
    }
  });

  test("limits: maxInflight, maxStreams fail only the offending request", async () => {
    const p = await pair(
      t,
      {
        onAsk: (head) =>
          head === "s"
            ? new StreamReply([1, 2, 3])
            : new Promise((r) => setTimeout(() => r("late"), 30)),
        onTell: () => {},
      },
      noop,
      { maxInflight: 4, maxStreams: 1, streamCredit: 1 },
    );
    try {
      const rs = await Promise.allSettled(Array.from({ length: 6 }, () => p.client.ask("x", null)));
      assert.equal(rs.filter((r) => r.status === "fulfilled").length, 4);
      const rejected = rs.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
      assert.match(String(rejected[0].reason), /maxInflight/);
      const s1 = await p.client.ask("s", null) as RpcStream<number>;
      await assert.rejects(p.client.ask("s", null), /maxStreams/);
      assert.deepEqual(await Array.fromAsync(s1), [1, 2, 3]);
      assert.ok(!p.client.closed);
    } finally {
      await p.close();
    }
  });

  test("garbage on the wire closes that connection with a logged reason", async () => {
    const p = await pair(t, { onAsk: () => new Promise(() => {}), onTell: () => {} });
    try {
      const pending = p.server.ask("x", null); // the server waits for the client
      const clientPending = p.client.ask("y", null);
      // write a frame of an unknown type on the server's own connection to the client
      await p.serverConn.write([new Uint8Array([0, 0, 0, 1, 77])]);
      await assert.rejects(clientPending, (e: unknown) => {
        assert.ok(e instanceof PulsingRuntimeError);
        assert.match(e.message, /unknown frame type 77/);
        return true;
      });
      await assert.rejects(pending, PulsingRuntimeError);
      assert.equal(p.logs.filter((l) => l.includes("protocol error")).length, 1);
    } finally {
      await p.close();
    }
  });
}

Deno.test("rpc: a 4 GiB length claim and garbage msgpack are rejected", async () => {
  for (
    const bytes of [
      [0xff, 0xff, 0xff, 0xff, 1],
      [0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 2, 0xc1, 0xc1], // MSG with garbage msgpack
      [0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 2, 0x92, 0x63], // envelope [99] of unknown kind
    ]
  ) {
    const logs: string[] = [];
    let onData: (c: Uint8Array) => void = () => {};
    let closed = false;
    const fake: Conn = {
      remoteAddr: "10.0.0.9:4000",
      localAddr: "10.0.0.1:5000",
      start(d) {
        onData = d;
      },
      write: () => Promise.resolve(),
      close() {
        closed = true;
      },
    };
    const rpc = new RpcConnection(fake, noop, { logger: (l) => logs.push(l) });
    const pending = rpc.ask("x", null);
    onData(new Uint8Array(bytes));
    await assert.rejects(pending, /10\.0\.0\.9:4000/);
    assert.ok(closed && rpc.closed);
    assert.equal(logs.length, 1, logs.join("\n"));
  }
});

/** An in-memory Conn for protocol-level tests. */
class MemConn implements Conn {
  readonly remoteAddr = "mem:1";
  readonly localAddr = "mem:0";
  onData: (c: Uint8Array) => void = () => {};
  closed = false;
  written: Uint8Array[] = [];
  start(onData: (c: Uint8Array) => void): void {
    this.onData = onData;
  }
  write(chunks: Uint8Array[]): Promise<void> {
    for (const c of chunks) this.written.push(c.slice());
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
  }
}

Deno.test("rpc limits: handshake, stalled frame and idle timeouts close only that connection", async () => {
  const logs: string[] = [];
  const opts: RpcOptions = {
    logger: (l) => logs.push(l),
    handshakeTimeoutMs: 150,
    frameTimeoutMs: 300,
    idleTimeoutMs: 450,
  };
  // silent peer: closed after the handshake timeout
  const silent = new MemConn();
  const a = new RpcConnection(silent, noop, opts);
  // a dialler that sent something is never cut off by the handshake timeout
  const dialler = new MemConn();
  const b = new RpcConnection(dialler, noop, { ...opts, idleTimeoutMs: 0 });
  void b.tell("hello", null);
  // a trickling peer after its first message: closed by the frame timeout
  const trickle = new MemConn();
  const c = new RpcConnection(trickle, noop, { ...opts, idleTimeoutMs: 0 });
  const { encodeValue } = await import("../streams/codec.ts");
  const { frameMessage } = await import("../streams/frame.ts");
  const tell = encodeValue([2, 0, "h", null]);
  const f = frameMessage(tell.meta, []);
  for (const p of f.parts!) trickle.onData(p);
  // then a frame claiming 100 bytes, 1 byte per 50 ms
  const claim = [0, 0, 0, 100, 1];
  let sent = 0;
  const timer = setInterval(() => trickle.onData(new Uint8Array([claim[sent++] ?? 0])), 50);
  await sleep(250);
  assert.ok(a.closed, "silent peer dropped");
  assert.match(logs.join("\n"), /handshake timeout \(150 ms\)/);
  assert.ok(!b.closed && !c.closed);
  await sleep(400);
  clearInterval(timer);
  assert.ok(c.closed, "trickle dropped");
  assert.match(logs.join("\n"), /frameTimeoutMs/);
  assert.ok(!b.closed, "the dialler is not idle-checked (idleTimeoutMs 0)");
  // idle: nothing pending, no traffic
  const idle = new MemConn();
  const d = new RpcConnection(idle, noop, { ...opts, handshakeTimeoutMs: 0 });
  await sleep(700);
  assert.ok(d.closed);
  assert.match(logs.join("\n"), /idle for 450 ms/);
  assert.equal(logs.length, 3, logs.join("\n"));
  b.close();
});

Deno.test("rpc limits: a producer beyond the credit it was granted is a protocol error", async () => {
  const conn = new MemConn();
  const logs: string[] = [];
  const rpc = new RpcConnection(conn, noop, { logger: (l) => logs.push(l), streamCredit: 4 });
  const { encodeValue } = await import("../streams/codec.ts");
  const { frameMessage } = await import("../streams/frame.ts");
  const send = (v: unknown) => {
    const e = encodeValue(v);
    for (const p of frameMessage(e.meta, e.segments).parts!) conn.onData(p);
  };
  const p = rpc.ask("stream please", null);
  send([5, 1]); // STREAM for ask 1
  const s = await p as RpcStream<number>;
  send([11, 1, [1, 2, 3]]); // 3 of 4
  assert.ok(!rpc.closed);
  send([11, 1, [4, 5]]); // 5 > 4
  assert.ok(rpc.closed);
  assert.match(logs[0], /beyond the credit/);
  await assert.rejects(async () => {
    for await (const _ of s) { /* the items before the error, then the error */ }
  }, PulsingRuntimeError);
});

Deno.test("rpc: a stream's items are batched into few messages and keep their order", async () => {
  const p = await pair(defaultTransport(), {
    onAsk: () =>
      new StreamReply((async function* () {
        for (let i = 0; i < 5000; i++) yield i;
      })()),
    onTell: () => {},
  });
  try {
    const s = await p.client.ask("count", null) as RpcStream<number>;
    let n = 0;
    for await (const x of s) assert.equal(x, n++);
    assert.equal(n, 5000);
  } finally {
    await p.close();
  }
});

Deno.test("rpc: AskOptions.settle maps replies, errors and early rejections before the promise settles", async () => {
  const p = await pair(defaultTransport(), {
    onAsk: (head) => {
      if (head === "boom") throw new PulsingRuntimeError("boom");
      return 20;
    },
    onTell: () => {},
  });
  try {
    const seen: string[] = [];
    const settle = {
      ok: (v: unknown) => (seen.push("ok"), (v as number) + 1),
      fail: (e: unknown) => (seen.push("fail"), new Error(`mapped: ${(e as Error).message}`)),
    };
    assert.equal(await p.client.ask("x", null, { settle }), 21);
    await assert.rejects(p.client.ask("boom", null, { settle }), /mapped: boom/);
    const throwing = {
      ok: () => {
        throw new Error("ok threw");
      },
      fail: (e: unknown) => e,
    };
    await assert.rejects(p.client.ask("x", null, { settle: throwing }), /ok threw/);
    const ac = new AbortController();
    ac.abort(new Error("aborted"));
    await assert.rejects(p.client.ask("x", null, { settle, signal: ac.signal }), /mapped: aborted/);
    assert.deepEqual(seen, ["ok", "fail", "fail"]);
  } finally {
    await p.close();
  }
});

Deno.test("rpc: lent request bytes are reused for the next big message and detached after the reply", async () => {
  const kept: Uint8Array[] = [];
  const p = await pair(defaultTransport(), {
    onAsk: (head, body, req) => {
      const [bytes] = body as [Uint8Array];
      if (head !== "own") req.lendBytes();
      kept.push(bytes);
      let sum = 0;
      for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i];
      // "echo" returns the lent bytes themselves: they must be written before they go back
      return head === "echo" ? bytes : sum;
    },
    onTell: () => {},
  });
  try {
    const size = 1 << 20;
    const payload = (fill: number) => {
      const b = new Uint8Array(size);
      for (let i = 0; i < size; i += 4096) b[i] = fill;
      return b;
    };
    const reused0 = receivePool.reused;
    assert.equal(await p.client.ask("lend", [payload(1)]), 256);
    assert.equal(kept[0].byteLength, 0, "a lent buffer is detached once the reply is written");
    assert.equal(await p.client.ask("lend", [payload(2)]), 512);
    assert.ok(receivePool.reused > reused0, "the second message reuses the first one's memory");
    const echoed = await p.client.ask("echo", [payload(3)]) as Uint8Array;
    assert.equal(echoed.length, size);
    assert.equal(echoed[4096], 3, "bytes returned as the reply arrive intact");
    assert.equal(kept[2].byteLength, 0);
    assert.equal(await p.client.ask("own", [payload(4)]), 1024);
    assert.equal(kept[3].byteLength, size, "bytes of a request that did not lend stay owned");
    assert.equal(kept[3][4096], 4);
    // small segments never come from the pool and are never detached
    assert.equal(await p.client.ask("lend", [new Uint8Array(100).fill(5)]), 5);
    assert.equal(kept[4].byteLength, 100);
  } finally {
    await p.close();
  }
});

Deno.test("rpc: bytes detached while queued close the connection with a clear error, no hang", async () => {
  const p = await pair(defaultTransport(), { onAsk: () => 1, onTell: () => {} });
  try {
    const bytes = new Uint8Array(20_000);
    const asked = p.client.ask("x", [bytes]);
    bytes.buffer.transfer(); // e.g. a lent buffer passed on and released before the write
    await assert.rejects(asked, /detached before it was written/);
    assert.equal(p.client.closed, true);
  } finally {
    await p.close();
  }
});
