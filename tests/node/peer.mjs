/**
 * A Node cluster node for tests/mixed_runtime_test.ts: plain JavaScript run by Node from a
 * project where the built package is installed (`import ... from "@pulsing/pulsing"`). Like
 * tests/fixtures/node.ts on Deno, it joins a cluster and runs snippets sent on stdin, one JSON
 * line each (`{ id, code }`), answering `{ id, ok, value | error }` on stdout; `pul`, `system`,
 * `Counter` and `Streamer` are in scope of every snippet. Closing stdin shuts it down.
 *
 * Usage: node peer.mjs --addr 127.0.0.1:0 [--seeds a,b] [--passphrase p]
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";
import { createInterface } from "node:readline";

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) {
  args.set(process.argv[i].replace(/^--/, ""), process.argv[i + 1]);
}

/** Records whether its generators ran their `finally`. */
const finals = [];

/** The same class names and methods as tests/fixtures/classes.ts on the Deno side. */
export const Counter = pul.remote(
  class Counter {
    constructor(init = 0) {
      this.value = init;
    }
    incr(by = 1) {
      this.value += by;
      return this.value;
    }
    runtime() {
      return `node ${process.version}`;
    }
    fail(code) {
      throw new pul.PulsingBusinessError(code, "business says no", { code });
    }
    echo(x) {
      return x;
    }
    size(b) {
      return b.byteLength;
    }
  },
  { name: "Counter" },
);

/** Streams, with a `finally` the tests can observe. */
export const Streamer = pul.remote(
  class Streamer {
    async *count(n) {
      for (let i = 0; i < n; i++) yield i;
    }
    async *endless(tag) {
      let i = 0;
      try {
        while (true) {
          yield i++;
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        finals.push(tag);
      }
    }
    finalsSeen() {
      return finals;
    }
  },
  { name: "Streamer" },
);

const system = await pul.init({
  addr: args.get("addr") ?? "127.0.0.1:0",
  seeds: args.get("seeds") ? args.get("seeds").split(",") : undefined,
  passphrase: args.get("passphrase"),
});
const scope = { pul, system, Counter, Streamer };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
out({
  ready: true,
  addr: system.addr,
  nodeId: system.nodeId.value,
  pid: process.pid,
  runtime: `node ${process.version}`,
});

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const { id, code } = JSON.parse(line);
  (async () => {
    try {
      const fn = new AsyncFunction(...Object.keys(scope), code);
      const value = await fn(...Object.values(scope));
      out({ id, ok: true, value: value === undefined ? null : value });
    } catch (e) {
      out({
        id,
        ok: false,
        error: { name: e?.name, message: e?.message ?? String(e), code: e?.code },
      });
    }
  })();
});
lines.on("close", async () => {
  await pul.shutdown();
  process.exit(0);
});
