import assert from "node:assert/strict";
import { ActorId, NodeId } from "./mod.ts";

Deno.test("random ids are 32 lowercase hex characters and distinct", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = ActorId.random();
    assert.match(id.toString(), /^[0-9a-f]{32}$/);
    seen.add(id.value);
  }
  assert.equal(seen.size, 1000);
  assert.match(NodeId.random().toString(), /^[0-9a-f]{32}$/);
});

Deno.test("parse/format round trip", () => {
  const id = ActorId.random();
  assert.ok(ActorId.parse(id.toString()).equals(id));
  assert.equal(ActorId.parse(id), id);
  assert.equal(JSON.stringify({ id }), `{"id":"${id.value}"}`);
  const n = NodeId.random();
  assert.ok(NodeId.parse(n.toString()).equals(n));
});

Deno.test("parse accepts UUIDs, upper case and decimal integers", () => {
  const uuid = "123E4567-E89B-12D3-A456-426614174000";
  assert.equal(ActorId.parse(uuid).value, "123e4567e89b12d3a456426614174000");
  assert.equal(
    ActorId.parse("  ABCDEF0123456789ABCDEF0123456789 ").value,
    "abcdef0123456789abcdef0123456789",
  );
  assert.equal(ActorId.parse("255").value, "000000000000000000000000000000ff");
  assert.equal(ActorId.parse("0").value, "0".repeat(32));
  const max = (2n ** 128n - 1n).toString();
  assert.equal(NodeId.parse(max).value, "f".repeat(32));
});

Deno.test("parse refuses anything else with a TypeError", () => {
  for (
    const bad of ["", "xyz", "f".repeat(31), "f".repeat(33), "-1", (2n ** 128n).toString(), "1.5"]
  ) {
    assert.throws(() => ActorId.parse(bad), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.match((e as Error).message, /Invalid ActorId format/);
      return true;
    });
  }
  assert.throws(() => NodeId.parse("nope"), /Invalid NodeId format/);
});
