import assert from "node:assert/strict";
import { defaultTransport, DenoTcpTransport, NodeNetTransport } from "./mod.ts";
import type { Conn, Transport } from "./mod.ts";

const transports: Transport[] = [new DenoTcpTransport(), new NodeNetTransport()];

Deno.test("transport: defaultTransport is Deno TCP on Deno", () => {
  assert.equal(defaultTransport().kind, "deno-tcp");
});

for (const t of transports) {
  Deno.test(`transport ${t.kind}: bytes arrive in order, big buffers intact, close notifies`, async () => {
    const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
    assert.ok(listener.addr.port > 0);
    const serverSide = Promise.withResolvers<Conn>();
    listener.onConnection((c) => serverSide.resolve(c));
    const client = await t.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await serverSide.promise;
    assert.equal(client.remoteAddr, `127.0.0.1:${listener.addr.port}`);
    assert.equal(server.localAddr, client.remoteAddr);

    const big = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const expected = 10 * 3 + big.length + 1;
    const received = new Uint8Array(expected);
    let n = 0;
    const gotAll = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<Error | undefined>();
    server.start((chunk) => {
      received.set(chunk, n); // the chunk is only valid now: copy it
      n += chunk.length;
      if (n === expected) gotAll.resolve();
    }, (err) => closed.resolve(err));
    const clientClosed = Promise.withResolvers<Error | undefined>();
    client.start(() => {}, (err) => clientClosed.resolve(err));

    const small = Array.from({ length: 10 }, (_, i) => new Uint8Array([i, i, i]));
    await Promise.all([client.write(small), client.write([big, new Uint8Array([0xfe])])]);
    await gotAll.promise;
    for (let i = 0; i < 10; i++) assert.deepEqual(received.subarray(i * 3, i * 3 + 3), small[i]);
    assert.deepEqual(received.subarray(30, 30 + big.length), big);
    assert.equal(received[expected - 1], 0xfe);

    client.close();
    client.close(); // idempotent
    assert.equal(await closed.promise, undefined); // a clean end, not an error
    await clientClosed.promise;
    await assert.rejects(client.write([new Uint8Array(1)]));
    server.close();
    listener.close();
  });

  Deno.test(`transport ${t.kind}: connecting to a closed port fails`, async () => {
    const l = await t.listen({ hostname: "127.0.0.1", port: 0 });
    const port = l.addr.port;
    l.close();
    await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(t.connect({ hostname: "127.0.0.1", port }));
  });
}
