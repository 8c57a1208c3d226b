import assert from "node:assert/strict";
import { renderTable } from "./table.ts";
import { parsePrometheus, sumOf } from "./prometheus.ts";
import { toJsonLine } from "./json_value.ts";

Deno.test("renderTable: padded columns, right-aligned numbers, no trailing spaces", () => {
  assert.deepEqual(
    renderTable(["NAME", "N", "X"], [["a", "10"], ["bbbbb", "2", "z"]], [
      "left",
      "right",
    ]),
    [
      "NAME    N  X",
      "-----  --  -",
      "a      10",
      "bbbbb   2  z",
    ],
  );
});

Deno.test("parsePrometheus: labels with escapes, comments skipped, sums", () => {
  const s = parsePrometheus(
    '# HELP m x\nm{actor="a\\"b",n="1"} 3\nm{actor="c"} 4\nup 1\nbad line\n',
  );
  assert.equal(s.length, 3);
  assert.equal(s[0].labels.actor, 'a"b');
  assert.equal(sumOf(s, "m"), 7);
});

Deno.test("toJsonLine: bigint, bytes, Map, Set, undefined", () => {
  assert.equal(
    toJsonLine({ n: 1n, b: new Uint8Array([1, 2]), m: new Map([[1, "x"]]), s: new Set([2]) }),
    '{"n":"1","b":{"$bytes":"AQI="},"m":{"1":"x"},"s":[2]}',
  );
  assert.equal(toJsonLine(undefined), "null");
});
