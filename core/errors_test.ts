import assert from "node:assert/strict";
import * as pul from "../mod.ts";
import { errorFromWire, errorToWire, toPulsingError } from "./mod.ts";

Deno.test("hierarchy, names and message formats", () => {
  const rt = new pul.PulsingRuntimeError("r");
  assert.ok(rt instanceof pul.PulsingError && rt instanceof Error);
  assert.ok(!(rt instanceof pul.PulsingActorError));
  assert.equal(rt.name, "PulsingRuntimeError");
  const biz = new pul.PulsingBusinessError(400, "bad", { f: 1 });
  assert.ok(biz instanceof pul.PulsingActorError);
  assert.equal(biz.name, "PulsingBusinessError");
  assert.equal(String(biz), "PulsingBusinessError: [400] bad");
  const sys = new pul.PulsingSystemError("disk");
  assert.equal(sys.recoverable, true);
  assert.equal(sys.error, "disk");
  assert.equal(new pul.PulsingTimeoutError("op").message, "Operation 'op' timed out after 0ms");
  assert.equal(new pul.PulsingUnsupportedError("x").message, "Unsupported operation: x");
  const cause = new Error("root");
  assert.equal(new pul.PulsingRuntimeError("w", { cause }).cause, cause);
});

Deno.test("toPulsingError keeps Pulsing errors and wraps the rest", () => {
  const biz = new pul.PulsingBusinessError(1, "x");
  assert.equal(toPulsingError(biz), biz);
  const wrapped = toPulsingError(new RangeError("too big"), "actors/a") as pul.PulsingActorError;
  assert.ok(wrapped instanceof pul.PulsingActorError);
  assert.equal(wrapped.originalName, "RangeError");
  assert.equal(wrapped.actorName, "actors/a");
  assert.match(wrapped.remoteStack!, /RangeError: too big/);
  assert.equal(toPulsingError({ a: 1 }).message, '{"a":1}');
  assert.equal(toPulsingError(new Error("")).message, "Error", "an empty message still raises");
});

Deno.test("wire round trip keeps class, message, code, details and fields", () => {
  const cases: pul.PulsingError[] = [
    new pul.PulsingBusinessError(409, "taken", { id: "u1" }),
    new pul.PulsingSystemError("disk full", false),
    new pul.PulsingTimeoutError("query", 25),
    new pul.PulsingUnsupportedError("frob"),
    new pul.PulsingRuntimeError("Named actor not found: actors/x"),
    new pul.PulsingActorError("m", { actorName: "a", originalName: "TypeError" }),
  ];
  for (const e of cases) {
    const back = errorFromWire(structuredClone(errorToWire(e)));
    assert.equal(back.constructor, e.constructor);
    assert.equal(back.message, e.message);
    for (const k of ["code", "details", "recoverable", "operation", "durationMs", "originalName"]) {
      assert.deepEqual(
        (back as unknown as Record<string, unknown>)[k],
        (e as unknown as Record<string, unknown>)[k],
        k,
      );
    }
  }
  class MyBiz extends pul.PulsingBusinessError {}
  const w = errorToWire(new MyBiz(7, "sub"));
  assert.equal(w.cls, "PulsingBusinessError");
  assert.ok(errorFromWire(w) instanceof pul.PulsingBusinessError);
  const plain = errorFromWire(errorToWire(new SyntaxError("nope"), "actors/p"));
  assert.ok(plain instanceof pul.PulsingActorError);
  assert.equal((plain as pul.PulsingActorError).originalName, "SyntaxError");
  assert.equal((plain as pul.PulsingActorError).actorName, "actors/p");
});
