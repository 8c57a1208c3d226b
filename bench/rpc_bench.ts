/**
 * RPC layer benchmarks, in-process over loopback (client and server share one event loop, so
 * the numbers include both sides' CPU). Baselines measured in the same run: a raw
 * length-prefixed echo over the same transport (no codec, no RPC).
 *
 *   deno bench -A bench/rpc_bench.ts
 */
import { RpcConnection, StreamReply } from "../cluster/rpc.ts";
import type { RpcStream } from "../cluster/rpc.ts";
import { DenoTcpTransport } from "../cluster/transport/deno_tcp.ts";
import { NodeNetTransport } from "../cluster/transport/node_net.ts";
import type { Conn, Transport } from "../cluster/transport/types.ts";
import { decodeValue, encodeValue } from "../streams/codec.ts";

async function rpcPair(t: Transport): Promise<RpcConnection> {
  const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
  listener.onConnection((c) =>
    new RpcConnection(c, {
      onAsk: (head, body) => {
        if (head === "stream") {
          return new StreamReply((function* () {
            for (let i = 0; i < (body as number); i++) yield i;
          })());
        }
        return body;
      },
      onTell: () => {},
    })
  );
  return new RpcConnection(
    await t.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    { onAsk: () => null, onTell: () => {} },
  );
}

/** Raw baseline: 4-byte length + payload echo, one write per message. */
async function rawPair(t: Transport): Promise<(payload: Uint8Array) => Promise<void>> {
  const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
  listener.onConnection((c: Conn) => c.start((chunk) => void c.write([chunk.slice()]), () => {}));
  const conn = await t.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  let want = 0;
  let resolve: () => void = () => {};
  conn.start((chunk) => {
    want -= chunk.length;
    if (want <= 0) resolve();
  }, () => {});
  return (payload) => {
    const p = new Promise<void>((r) => (resolve = r));
    const h = new Uint8Array(4);
    new DataView(h.buffer).setUint32(0, payload.length);
    want = 4 + payload.length;
    conn.write([h, payload]);
    return p;
  };
}

const deno = await rpcPair(new DenoTcpTransport());
const node = await rpcPair(new NodeNetTransport());
const rawDeno = await rawPair(new DenoTcpTransport());
const head = { target: "actors/counter", method: "incr" };
const small = [1, "two", { three: 3 }];
const rawSmall = encodeValue([1, 7, head, small, 32]).meta.slice();
const mib = new Uint8Array(1024 * 1024);

Deno.bench("codec: encode+decode small envelope", { group: "codec", baseline: true }, () => {
  const e = encodeValue([1, 7, head, small, 32]);
  decodeValue(e.meta, e.segments);
});
Deno.bench("codec: encode+decode with a 1 MiB Uint8Array", { group: "codec" }, () => {
  const e = encodeValue([1, 7, head, [mib]]);
  decodeValue(e.meta, e.segments);
});

Deno.bench("raw deno-tcp echo (same size, no RPC)", { group: "ask", baseline: true }, async () => {
  await rawDeno(rawSmall);
});
Deno.bench("rpc ask deno-tcp (sequential latency)", { group: "ask" }, async () => {
  await deno.ask(head, small);
});
Deno.bench("rpc ask node-net (sequential latency)", { group: "ask" }, async () => {
  await node.ask(head, small);
});

Deno.bench(
  "rpc 1000 concurrent asks deno-tcp",
  { group: "throughput", baseline: true },
  async () => {
    const ps: Promise<unknown>[] = new Array(1000);
    for (let i = 0; i < 1000; i++) ps[i] = deno.ask(head, i);
    await Promise.all(ps);
  },
);
Deno.bench("rpc 1000 concurrent asks node-net", { group: "throughput" }, async () => {
  const ps: Promise<unknown>[] = new Array(1000);
  for (let i = 0; i < 1000; i++) ps[i] = node.ask(head, i);
  await Promise.all(ps);
});
Deno.bench("rpc 1000 tells + 1 ask deno-tcp", { group: "throughput" }, async () => {
  for (let i = 0; i < 1000; i++) deno.tell(head, i);
  await deno.ask(head, 0);
});
Deno.bench("rpc stream 1000 items deno-tcp (credit 32)", { group: "throughput" }, async () => {
  const s = await deno.ask("stream", 1000) as RpcStream<number>;
  for await (const _ of s);
});
Deno.bench("rpc stream 1000 items deno-tcp (credit 256)", { group: "throughput" }, async () => {
  const s = await deno.ask("stream", 1000, { credit: 256 }) as RpcStream<number>;
  for await (const _ of s);
});

Deno.bench(
  "rpc ask 1 MiB Uint8Array echo deno-tcp",
  { group: "bulk", baseline: true },
  async () => {
    await deno.ask(head, mib);
  },
);
Deno.bench("rpc ask 1 MiB Uint8Array echo node-net", { group: "bulk" }, async () => {
  await node.ask(head, mib);
});
Deno.bench("rpc 16 x 1 MiB concurrent echo deno-tcp", { group: "bulk" }, async () => {
  await Promise.all(Array.from({ length: 16 }, () => deno.ask(head, mib)));
});
