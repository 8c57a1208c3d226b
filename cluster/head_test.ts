import assert from "node:assert/strict";
import { type HeadHost, HeadService } from "./head.ts";
import { NameRegistry } from "./registry.ts";
import type { MemberEvent } from "./swim.ts";

function fakeHost() {
  const told: { addr: string; op: unknown; body: unknown }[] = [];
  const events: MemberEvent[] = [];
  const host: HeadHost = {
    selfId: "H",
    selfAddr: "h:1",
    registry: new NameRegistry("H"),
    ask: () => Promise.reject(new Error("no network here")),
    tell: (addr, head, body) => told.push({ addr, op: head.op, body }),
    log: () => {},
    onMember: (e) => events.push(e),
  };
  return { host, told, events };
}

Deno.test("head service: registration gives the full view and tells the others", () => {
  const { host, told, events } = fakeHost();
  const now = 0;
  const head = new HeadService(host, { heartbeatMs: 1e9 }, () => now);
  try {
    const a = new NameRegistry("A");
    a.addLocal("actors/x", "ida", {});
    head.register("A", "a:1", a.localSnapshot());
    const w = head.register("B", "b:1", { n: "B", v: 0, e: [] });
    assert.deepEqual(w.members.map((m) => m.nodeId).sort(), ["A", "B", "H"]);
    assert.deepEqual(w.parts.map((p) => p.n).sort(), ["A", "H"]);
    assert.equal(host.registry.instances("actors/x")[0].nodeId, "A");
    // A was told about B
    assert.ok(told.some((t) => t.addr === "a:1" && t.op === "h-push"));
    assert.deepEqual(events.map((e) => `${e.type}:${e.member.nodeId}`), ["up:A", "up:B"]);
    // a delta from A is applied and forwarded to B only
    told.length = 0;
    head.onDelta(a.addLocal("actors/y", "idy", {}));
    assert.deepEqual(told.map((t) => `${t.addr}:${t.op}`), ["b:1:reg"]);
    assert.equal(host.registry.instances("actors/y").length, 1);
    // an unknown worker's heartbeat says "register again"
    assert.equal(head.heartbeat("Z", 0), false);
    assert.equal(head.heartbeat("A", 2), true);
  } finally {
    head.stop();
  }
});

Deno.test("head service: a silent worker is dropped, its names vanish, it can come back", () => {
  const { host, told, events } = fakeHost();
  let now = 0;
  const head = new HeadService(host, { heartbeatMs: 1e9, heartbeatTimeoutMs: 1000 }, () => now);
  try {
    const a = new NameRegistry("A");
    a.addLocal("actors/x", "ida", {});
    head.register("A", "a:1", a.localSnapshot());
    head.register("B", "b:1", undefined);
    now = 900;
    head.heartbeat("B", 0);
    now = 1500;
    head.sweep();
    assert.equal(head.member("A")?.state, "dead");
    assert.equal(head.member("B")?.state, "alive");
    assert.equal(host.registry.instances("actors/x").length, 0);
    assert.ok(
      told.some((t) =>
        t.addr === "b:1" && (t.body as { m?: { state: string } }).m?.state === "dead"
      ),
    );
    assert.equal(head.heartbeat("A", 1), false);
    // it registers again: names back, "up" again
    head.register("A", "a:1", a.localSnapshot());
    assert.equal(head.member("A")?.state, "alive");
    assert.equal(host.registry.instances("actors/x").length, 1);
    assert.deepEqual(events.map((e) => `${e.type}:${e.member.nodeId}`), [
      "up:A",
      "up:B",
      "dead:A",
      "up:A",
    ]);
    // a new process at A's address replaces it
    head.register("A2", "a:1", undefined);
    assert.equal(head.member("A")?.state, "dead");
    assert.equal(host.registry.instances("actors/x").length, 0);
    // graceful leave
    head.bye("B");
    assert.equal(head.member("B")?.state, "left");
    assert.deepEqual(head.aliveMembers().map((m) => m.nodeId), ["A2"]);
  } finally {
    head.stop();
  }
});
