import assert from "node:assert/strict";
import { NameRegistry } from "./registry.ts";

Deno.test("registry: deltas replicate adds and removes in order", () => {
  const a = new NameRegistry("A");
  const b = new NameRegistry("B");
  const d1 = a.addLocal("actors/x", "id1", { class: "X" });
  const d2 = a.addLocal("actors/y", "id2", {});
  assert.equal(b.applyDelta(d1), "applied");
  assert.equal(b.applyDelta(d2), "applied");
  assert.deepEqual(b.instances("actors/x").map((i) => i.nodeId), ["A"]);
  const d3 = a.removeLocal("actors/x", "id1")!;
  assert.equal(b.applyDelta(d3), "applied");
  assert.equal(b.instances("actors/x").length, 0);
  // a stale add can never bring the removed name back
  assert.equal(b.applyDelta(d1), "stale");
  assert.equal(b.instances("actors/x").length, 0);
});

Deno.test("registry: a missed delta is a gap, fixed by a snapshot", () => {
  const a = new NameRegistry("A");
  const b = new NameRegistry("B");
  a.addLocal("actors/x", "id1", {});
  const d2 = a.addLocal("actors/y", "id2", {});
  assert.equal(b.applyDelta(d2), "gap");
  assert.equal(b.applySnapshot(a.localSnapshot()), "applied");
  assert.equal(b.versionOf("A"), 2);
  assert.equal(b.instances("actors/x").length, 1);
  assert.equal(b.applySnapshot(a.localSnapshot()), "stale");
});

Deno.test("registry: removeLocal only removes the actor that holds the name", () => {
  const a = new NameRegistry("A");
  a.addLocal("actors/x", "id1", {});
  assert.equal(a.removeLocal("actors/x", "other"), undefined);
  assert.equal(a.instances("actors/x").length, 1);
});

Deno.test("registry: a dropped node's names vanish and its late messages are ignored", () => {
  const a = new NameRegistry("A");
  const b = new NameRegistry("B");
  const changed: string[] = [];
  b.onChange((p) => changed.push(p));
  b.applyDelta(a.addLocal("actors/x", "id1", {}));
  b.dropNode("A", 1000);
  assert.equal(b.instances("actors/x").length, 0);
  assert.equal(b.applyDelta(a.addLocal("actors/z", "id3", {})), "ignored");
  assert.equal(b.applySnapshot(a.localSnapshot()), "ignored");
  assert.deepEqual(changed, ["actors/x", "actors/x"]);
  b.expireTombstones(10, 2000);
  assert.equal(b.isGone("A"), false);
});

Deno.test("registry: several instances of one name across nodes; findActor", () => {
  const a = new NameRegistry("A");
  const b = new NameRegistry("B");
  const c = new NameRegistry("C");
  c.applyDelta(a.addLocal("svc/w", "ia", {}));
  c.applyDelta(b.addLocal("svc/w", "ib", {}));
  c.addLocal("svc/w", "ic", {});
  assert.deepEqual(c.instances("svc/w").map((i) => i.nodeId).sort(), ["A", "B", "C"]);
  assert.equal(c.findActor("ib")?.nodeId, "B");
  assert.equal(c.all().get("svc/w")?.length, 3);
});

Deno.test("registry: revive accepts a returning node; entryOf and snapshotOf", () => {
  const a = new NameRegistry("A");
  const b = new NameRegistry("B");
  b.applyDelta(a.addLocal("actors/x", "id1", {}));
  assert.equal(b.entryOf("A", "actors/x")?.actorId, "id1");
  assert.equal(b.snapshotOf("A")?.v, 1);
  b.dropNode("A");
  assert.equal(b.entryOf("A", "actors/x"), undefined);
  assert.equal(b.snapshotOf("A"), undefined);
  b.revive("A");
  assert.equal(b.applySnapshot(a.localSnapshot()), "applied");
  assert.equal(b.instances("actors/x").length, 1);
  // the name index follows a snapshot that replaces a part
  a.removeLocal("actors/x", "id1");
  a.addLocal("actors/z", "id2", {});
  assert.equal(b.applySnapshot(a.localSnapshot()), "applied");
  assert.equal(b.instances("actors/x").length, 0);
  assert.equal(b.entryOf("A", "actors/z")?.actorId, "id2");
  assert.deepEqual([...b.all().keys()], ["actors/z"]);
});

Deno.test("registry: a local name next to remote instances of it; own instance first", () => {
  const a = new NameRegistry("A");
  const b = new NameRegistry("B");
  const c = new NameRegistry("C");
  b.applyDelta(a.addLocal("svc/w", "ia", {}));
  b.addLocal("svc/w", "ib", {});
  assert.deepEqual(b.instances("svc/w").map((i) => i.nodeId), ["B", "A"]);
  assert.equal(b.entryOf("B", "svc/w")?.actorId, "ib");
  assert.equal(b.entryOf("A", "svc/w")?.actorId, "ia");
  b.applyDelta(c.addLocal("svc/w", "ic", {}));
  assert.deepEqual(b.instances("svc/w").map((i) => i.nodeId), ["B", "A", "C"]);
  // removing the local one leaves the remote ones; removing a remote one leaves a lone slot
  b.removeLocal("svc/w", "ib");
  assert.equal(b.entryOf("B", "svc/w"), undefined);
  b.applyDelta(a.removeLocal("svc/w", "ia")!);
  assert.deepEqual(b.instances("svc/w").map((i) => i.nodeId), ["C"]);
  assert.deepEqual(b.localSnapshot().e, []);
  assert.equal(b.findActor("ic")?.nodeId, "C");
  b.addLocal("svc/w", "ib2", {});
  assert.deepEqual(b.instances("svc/w").map((i) => i.entry.actorId), ["ib2", "ic"]);
  assert.equal(b.all().get("svc/w")?.length, 2);
});
