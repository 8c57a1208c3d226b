/**
 * Hostile input against a real node process (issue 6, wire level): a silent connection, a
 * slowloris before and after the first message, many connections at once, oversized length
 * claims, deep nesting, garbage, too many in-flight asks, and calls to methods that must not
 * be callable. Throughout, a well-behaved peer keeps being served, the node stays up, and it
 * logs one line per refused connection (and one per kind of refused request on a connection).
 *
 * The node is this file run as a program (`deno run -A tests/hostile_test.ts --node`): a
 * cluster node with short timeouts (`rpc` options of `startClusterNode`, which is what
 * `pul.init({ limits })` will pass through) and one actor named `victim`.
 */
import assert from "node:assert/strict";
import { ActorSystem } from "../core/system.ts";
import { remote } from "../core/remote.ts";
import { startClusterNode } from "../cluster/node.ts";
import { RpcConnection } from "../cluster/rpc.ts";
import { DenoTcpTransport } from "../cluster/transport/deno_tcp.ts";
import { encodeValue } from "../streams/codec.ts";

const LIMITS = {
  handshakeTimeoutMs: 800,
  frameTimeoutMs: 1_500,
  idleTimeoutMs: 0,
  maxInflight: 64,
  maxDepth: 64,
};

const Victim = remote(
  class Victim {
    value = 42;
    echo<T>(x: T): T {
      return x;
    }
    async slow(ms: number): Promise<number> {
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    }
    _private(): string {
      return "private";
    }
  },
  { name: "HostileVictim" },
);

async function runNode(): Promise<void> {
  const system = new ActorSystem({
    logger: (level, msg) => console.error(`[${level}] ${msg}`),
  });
  const node = await startClusterNode(system, { addr: "127.0.0.1:0", rpc: LIMITS });
  await Victim.spawn({ name: "victim", system });
  const ref = await system.resolve("victim");
  console.log(JSON.stringify({ ready: true, addr: node.addr, id: ref.actorId.value }));
  const b = new Uint8Array(64);
  while ((await Deno.stdin.read(b)) !== null) { /* until the test closes stdin */ }
  await system.shutdown();
  Deno.exit(0);
}

if (import.meta.main && Deno.args.includes("--node")) await runNode();

// ---------------------------------------------------------------------------------------------

interface NodeProc {
  port: number;
  id: string;
  stderr(): string;
  stop(): Promise<void>;
  alive(): boolean;
}

async function startNodeProc(): Promise<NodeProc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL(import.meta.url).pathname, "--node"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let err = "";
  let exited = false;
  child.status.then(() => (exited = true));
  (async () => {
    const dec = new TextDecoder();
    for await (const c of child.stderr) err += dec.decode(c, { stream: true });
  })().catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const deadline = Date.now() + 20_000;
  let info: { addr: string; id: string } | undefined;
  while (!info && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    const nl = buf.indexOf("\n");
    if (nl >= 0) info = JSON.parse(buf.slice(0, nl));
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  if (!info) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw new Error(`node did not start: ${err}`);
  }
  const writer = child.stdin.getWriter();
  return {
    port: Number(info.addr.split(":").pop()),
    id: info.id,
    stderr: () => err,
    alive: () => !exited,
    async stop() {
      await writer.close().catch(() => {});
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5_000);
      await child.status;
      clearTimeout(t);
    },
  };
}

const transport = new DenoTcpTransport();

/** A well-behaved RPC peer. */
async function healthyPeer(port: number): Promise<RpcConnection> {
  const conn = await transport.connect({ hostname: "127.0.0.1", port });
  return new RpcConnection(conn, { onAsk: () => null, onTell: () => {} }, { logger: () => {} });
}

/** A raw TCP connection; resolves `closed` with the ms it took the node to close it. */
async function rawConn(port: number): Promise<{
  conn: Deno.TcpConn;
  localPort: number;
  closed: Promise<number>;
  write(b: Uint8Array): Promise<boolean>;
}> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const t0 = performance.now();
  const closed = (async () => {
    const b = new Uint8Array(4096);
    try {
      while ((await conn.read(b)) !== null) { /* the node does not talk first */ }
    } catch { /* reset */ }
    return performance.now() - t0;
  })();
  return {
    conn,
    localPort: (conn.localAddr as Deno.NetAddr).port,
    closed,
    async write(b: Uint8Array) {
      try {
        await conn.write(b);
        return true;
      } catch {
        return false;
      }
    },
  };
}

function frame(meta: Uint8Array): Uint8Array {
  // MSG frame: u32 len | u8 type=1 | u16 nseg=0 | u32 metaLen | meta
  const f = new Uint8Array(11 + meta.length);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, 7 + meta.length);
  f[4] = 1;
  dv.setUint16(5, 0);
  dv.setUint32(7, meta.length);
  f.set(meta, 11);
  return f;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lines of the node's stderr that name a connection from `localPort`. */
function linesFor(node: NodeProc, localPort: number): string[] {
  return node.stderr().split("\n").filter((l) => l.includes(`127.0.0.1:${localPort}:`));
}

async function assertServes(peer: RpcConnection, id: string): Promise<void> {
  const t = performance.now();
  const r = await peer.ask({ op: "call", to: id, m: "echo" }, ["still here"], { timeoutMs: 2_000 });
  assert.equal(r, "still here");
  assert.ok(performance.now() - t < 1_000, "the healthy peer is served promptly");
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("hostile: a node survives hostile connections and keeps serving", opts, async () => {
  const node = await startNodeProc();
  const peer = await healthyPeer(node.port);
  try {
    await assertServes(peer, node.id);

    // 1. silent, 2. slowloris before the first message (1 byte every 200 ms)
    const silent = await rawConn(node.port);
    const slow = await rawConn(node.port);
    let trickling = true;
    (async () => {
      const f = frame(encodeValue([2, 0, { op: "tell", to: node.id }, null]).meta);
      for (let i = 0; trickling && i < f.length; i++) {
        if (!(await slow.write(f.subarray(i, i + 1)))) break;
        await sleep(200);
      }
    })();
    // 3. many connections at once (silent)
    const many = await Promise.all(Array.from({ length: 200 }, () => rawConn(node.port)));
    await assertServes(peer, node.id);
    const tSilent = await silent.closed;
    const tSlow = await slow.closed;
    trickling = false;
    const tMany = await Promise.all(many.map((m) => m.closed));
    // dropped after the handshake timeout (800 ms), checked every 200 ms
    for (const t of [tSilent, tSlow, ...tMany]) {
      assert.ok(t >= 700 && t < 3_000, `closed after ${t.toFixed(0)} ms`);
    }
    assert.equal(linesFor(node, silent.localPort).length, 1, node.stderr());
    assert.match(linesFor(node, silent.localPort)[0], /handshake timeout/);
    assert.equal(linesFor(node, slow.localPort).length, 1);
    for (const m of many) assert.equal(linesFor(node, m.localPort).length, 1);
    await assertServes(peer, node.id);

    // 4. slowloris after a valid first message: a frame that never completes
    const late = await rawConn(node.port);
    await late.write(frame(encodeValue([2, 0, { op: "tell", to: node.id }, null]).meta));
    const partial = new Uint8Array([0, 0, 0, 100, 1, 0, 0]);
    (async () => {
      for (let i = 0; i < partial.length; i++) {
        if (!(await late.write(partial.subarray(i, i + 1)))) break;
        await sleep(200);
      }
    })();
    const tLate = await late.closed;
    assert.ok(tLate >= 1_400 && tLate < 4_000, `closed after ${tLate.toFixed(0)} ms`);
    assert.match(linesFor(node, late.localPort).join("\n"), /frameTimeoutMs/);

    // 5. oversized claims, deep nesting, garbage, unknown kinds: closed at once, one line each
    const deep = new Uint8Array(100_001).fill(0x91);
    deep[100_000] = 0x01;
    const cases: [string, Uint8Array, RegExp][] = [
      ["4 GiB frame", new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]), /maxFrameSize/],
      [
        "1 GiB message",
        (() => {
          // BEGIN: u32 len | 2 | u32 mid | u16 nseg=1 | u32 metaLen=1 | u32 seg=1 GiB
          const b = new Uint8Array(19);
          const dv = new DataView(b.buffer);
          dv.setUint32(0, 15);
          b[4] = 2;
          dv.setUint32(5, 1);
          dv.setUint16(9, 1);
          dv.setUint32(11, 1);
          dv.setUint32(15, 1 << 30);
          return b;
        })(),
        /maxMessageSize/,
      ],
      ["4 GiB header", frame(new Uint8Array(0)).map((x, i) => (i >= 7 ? 0xff : x)), /./],
      ["deep nesting", frame(deep.subarray(0, 60_000)), /nested deeper/],
      ["garbage msgpack", frame(new Uint8Array([0xc1, 0x00])), /protocol error/],
      ["unknown kind", frame(encodeValue([99, 1]).meta), /unknown message kind/],
      ["random bytes", crypto.getRandomValues(new Uint8Array(4096)), /protocol error/],
    ];
    for (const [what, bytes, why] of cases) {
      const c = await rawConn(node.port);
      await c.write(bytes);
      const t = await c.closed;
      assert.ok(t < 700, `${what}: closed at once (${t.toFixed(0)} ms)`);
      const lines = linesFor(node, c.localPort);
      assert.equal(lines.length, 1, `${what}: ${lines.join("\n")}`);
      assert.match(lines[0], why, what);
    }
    await assertServes(peer, node.id);

    // 6. too many in-flight asks: only the excess fails, the connection stays, one line
    const greedy = await healthyPeer(node.port);
    const results = await Promise.allSettled(
      Array.from(
        { length: 100 },
        () => greedy.ask({ op: "call", to: node.id, m: "slow" }, [300], { timeoutMs: 5_000 }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.filter((r) =>
      r.status === "rejected" && /maxInflight/.test(String((r as PromiseRejectedResult).reason))
    ).length;
    assert.equal(ok, 64);
    assert.equal(refused, 36);
    assert.ok(!greedy.closed, "the connection stays open");
    assert.equal(await greedy.ask({ op: "call", to: node.id, m: "echo" }, [1]), 1);
    assert.equal(
      node.stderr().split("\n").filter((l) =>
        /refused a request: maxInflight/.test(l)
      ).length,
      1,
    );
    greedy.close();

    // 7. method names: private, reserved, inherited from Object.prototype, not functions
    const names: unknown[] = [
      "__proto__",
      "constructor",
      "_private",
      "#x",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "__defineGetter__",
      "value",
      "onStart",
      "",
      42,
      { toString: "echo" },
      ["echo"],
      null,
    ];
    for (const m of names) {
      await assert.rejects(
        peer.ask({ op: "call", to: node.id, m }, ["x"]),
        (e: Error) =>
          // strings: the actor's clear refusal; anything else: refused all the same
          typeof m !== "string" || /Invalid method|No method/.test(e.message),
        `method ${JSON.stringify(m)}`,
      );
    }
    // prototype pollution through arguments does not reach the node's objects
    const polluted = await peer.ask(
      { op: "call", to: node.id, m: "echo" },
      [JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')],
    ) as Record<string, unknown>;
    assert.deepEqual(Object.keys(polluted).sort(), ["__proto__", "a"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // args that are not an array (a huge claimed length must not allocate): refused at once
    for (const args of [{ length: 2 ** 32 - 1 }, { length: 1e7 }, 5, "abc"]) {
      const t = performance.now();
      await assert.rejects(peer.ask({ op: "call", to: node.id, m: "echo" }, args));
      assert.ok(performance.now() - t < 1_000);
    }

    await assertServes(peer, node.id);
    assert.ok(node.alive(), "the node process is still running");
    assert.ok(!/Uncaught|panicked/.test(node.stderr()), node.stderr());
  } finally {
    peer.close();
    await node.stop();
  }
});
