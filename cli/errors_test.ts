import assert from "node:assert/strict";
import { PulsingActorError, PulsingBusinessError, PulsingRuntimeError } from "../mod.ts";
import { formatError, UsageError } from "./errors.ts";

Deno.test("formatError: class, code, original name, one line", () => {
  assert.equal(
    formatError(new PulsingBusinessError(404, "not found")),
    "PulsingBusinessError [404]: not found",
  );
  assert.equal(
    formatError(new PulsingActorError("bad", { originalName: "RangeError" })),
    "PulsingActorError (RangeError): bad",
  );
  assert.equal(formatError(new PulsingRuntimeError("a\n  b")), "PulsingRuntimeError: a b");
  assert.equal(formatError("plain"), "plain");
});

Deno.test("UsageError: hint names the command's help", () => {
  assert.equal(new UsageError("x").hint, "run 'pulsing --help' for usage");
  assert.equal(new UsageError("x", "call").hint, "run 'pulsing call --help' for usage");
});
