/**
 * Connections per remote host are bounded at the listener (issue 6).
 */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";

Deno.test("limits: connections beyond maxConnectionsPerHost are closed with one log line", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const lines: string[] = [];
  const system = await pul.actorSystem({
    addr: "127.0.0.1:0",
    limits: { maxConnectionsPerHost: 3 },
    logger: (level, msg) => level === "warn" && lines.push(msg),
  });
  const [hostname, port] = [system.addr.split(":")[0], Number(system.addr.split(":")[1])];
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 6; i++) conns.push(await Deno.connect({ hostname, port }));
    // the first three stay open; the others are closed by the node at once
    const closed = await Promise.all(conns.map(async (c) => {
      const r = await Promise.race([
        c.read(new Uint8Array(8)).then((n) => n === null, () => true),
        new Promise<boolean>((res) => setTimeout(() => res(false), 500)),
      ]);
      return r;
    }));
    assert.deepEqual(closed, [false, false, false, true, true, true]);
    assert.equal(lines.filter((l) => /maxConnectionsPerHost/.test(l)).length, 1);
    // closing connections makes room again
    for (const c of conns.splice(0, 3)) c.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await Deno.connect({ hostname, port });
    conns.push(again);
    const stillOpen = await Promise.race([
      again.read(new Uint8Array(8)).then(() => false, () => false),
      new Promise<boolean>((res) => setTimeout(() => res(true), 300)),
    ]);
    assert.equal(stillOpen, true);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await system.shutdown();
  }
});
