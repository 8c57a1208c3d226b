import assert from "node:assert/strict";
import { numberOption, parseArgs, splitList } from "./args.ts";
import { UsageError } from "./errors.ts";

const SPECS = {
  seeds: { type: "string" as const },
  json: { type: "boolean" as const },
  help: { type: "boolean" as const, short: "h" },
};

Deno.test("parseArgs: options in any position, =value, short flags, negatives, --", () => {
  const a = parseArgs(
    ["call", "--seeds=a:1", "x", "-5", "-h", "--json", "--", "--not-an-option"],
    SPECS,
    "call",
  );
  assert.deepEqual(a.positionals, ["call", "x", "-5", "--not-an-option"]);
  assert.equal(a.strings.get("seeds"), "a:1");
  assert.deepEqual([...a.flags].sort(), ["help", "json"]);
});

Deno.test("parseArgs: unknown option, missing value, value on a flag are usage errors", () => {
  for (const argv of [["--bogus"], ["-x"], ["--seeds"], ["--json=1"]]) {
    assert.throws(() => parseArgs(argv, SPECS, "inspect"), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.command, "inspect");
      return true;
    });
  }
});

Deno.test("numberOption and splitList", () => {
  const a = parseArgs(["--seeds", "2.5"], SPECS, "bench");
  assert.equal(numberOption(a, "seeds", 1, "bench"), 2.5);
  assert.equal(numberOption(a, "json", 7, "bench"), 7);
  assert.throws(() => numberOption(a, "seeds", 1, "bench", 3), UsageError);
  const bad = parseArgs(["--seeds", "abc"], SPECS, "bench");
  assert.throws(() => numberOption(bad, "seeds", 1, "bench"), /expects a number >= 0, got 'abc'/);
  assert.deepEqual(splitList(" a:1, ,b:2 "), ["a:1", "b:2"]);
  assert.deepEqual(splitList(undefined), []);
});
