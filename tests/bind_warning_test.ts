/**
 * Issue 6: "binding a non-loopback address without a passphrase prints a warning once".
 * (Its own file: the warning is once per process.)
 */
import assert from "node:assert/strict";
import * as pul from "../mod.ts";

Deno.test("a node bound beyond loopback without a passphrase warns, once per process", async () => {
  const lines: string[] = [];
  const logger = (level: string, msg: string) => void lines.push(`${level} ${msg}`);
  const warned = () => lines.filter((l) => l.includes("without a passphrase"));
  const loop = await pul.actorSystem({ addr: "127.0.0.1:0", logger });
  await loop.shutdown();
  assert.equal(warned().length, 0, "loopback: no warning");
  const open = await pul.actorSystem({ addr: "0.0.0.0:0", logger });
  await open.shutdown();
  assert.equal(warned().length, 1);
  assert.match(warned()[0], /^warn listening on 0\.0\.0\.0:\d+ without a passphrase: any host/);
  const again = await pul.actorSystem({ addr: "0.0.0.0:0", logger });
  await again.shutdown();
  assert.equal(warned().length, 1, "once per process");
});
