import assert from "node:assert/strict";
import { ReadHook } from "./read_hook.ts";

Deno.test("ReadHook: reads before start are copied and delivered first, later ones as views of the reused buffer", () => {
  const hook = new ReadHook(8);
  const fill = (bytes: number[]) => {
    hook.buffer.set(bytes);
    return hook.callback(bytes.length, hook.buffer);
  };
  assert.equal(fill([1, 2, 3]), true);
  assert.equal(fill([4, 5]), true); // overwrites the buffer: the first read must be a copy
  assert.equal(hook.callback(0, hook.buffer), true); // nothing read: ignored
  const got: number[][] = [];
  const views: Uint8Array[] = [];
  hook.start((c) => {
    got.push([...c]);
    views.push(c);
  });
  assert.deepEqual(got, [[1, 2, 3], [4, 5]]);
  fill([6, 7, 8, 9]);
  assert.deepEqual(got[2], [6, 7, 8, 9]);
  assert.equal(views[2].buffer, hook.buffer.buffer, "a read after start is a view, no copy");
  assert.notEqual(views[0].buffer, hook.buffer.buffer, "an early read was copied");
});
