/**
 * The main demo: `deno task demo`. Runs in a few seconds and prints what it does.
 *
 * @module
 */
import * as pul from "../mod.ts";

const Counter = pul.remote(
  class Counter {
    value: number;
    constructor(init = 0) {
      this.value = init;
    }
    incr(): number {
      return ++this.value;
    }
    async *tokens(n: number): AsyncGenerator<string> {
      for (let i = 0; i < n; i++) yield `token_${i}`;
    }
  },
);

const step = (s: string) => console.log(`\n== ${s}`);

step("init an in-process actor system");
const system = await pul.init();
console.log(String(system));

step("spawn a Counter actor named 'counter' and call it");
const counter = await Counter.spawn({ name: "counter", args: [10] });
console.log("incr ->", await counter.incr(), await counter.incr());

step("stream tokens from a generator method");
const got: string[] = [];
for await (const t of counter.tokens(5)) got.push(t);
console.log(got.join(" "));

step("resolve it by name (typed and untyped)");
const again = await Counter.resolve("counter");
console.log("typed incr ->", await again.incr());
const any = await pul.resolve("counter");
console.log("untyped incr ->", await any.incr());

await pul.shutdown();
console.log("\ndone");
