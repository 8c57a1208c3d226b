import assert from "node:assert/strict";
import { expandHostlist } from "./hostlist.ts";

Deno.test("expandHostlist: ranges, padding, lists, products", () => {
  assert.deepEqual(expandHostlist("node[01-03,07],gpu5"), [
    "node01",
    "node02",
    "node03",
    "node07",
    "gpu5",
  ]);
  assert.deepEqual(expandHostlist("n[8-11]"), ["n8", "n9", "n10", "n11"]);
  assert.deepEqual(expandHostlist("n[098-101]"), ["n098", "n099", "n100", "n101"]);
  assert.deepEqual(expandHostlist("r[1-2]-n[1-2]"), ["r1-n1", "r1-n2", "r2-n1", "r2-n2"]);
  assert.deepEqual(expandHostlist("a,b[3],c-d.e"), ["a", "b3", "c-d.e"]);
  assert.deepEqual(expandHostlist("localhost"), ["localhost"]);
  assert.deepEqual(expandHostlist("  "), []);
  assert.deepEqual(expandHostlist("x[1-2]y"), ["x1y", "x2y"]);
});

Deno.test("expandHostlist: malformed lists are refused with the list quoted", () => {
  for (
    const bad of ["n[1-3", "n1-3]", "n[3-1]", "n[a-b]", "a,,b", "n[]", "n[1-2[3]]", "a b", "n[1-]"]
  ) {
    assert.throws(
      () => expandHostlist(bad),
      (e: Error) => e instanceof TypeError && e.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
  assert.throws(() => expandHostlist("n[0-99999999]"), /more than 1000000 hosts/);
});
