/**
 * Quick start: a counter actor in one process.
 *
 * Shows `pul.remote`, `spawn`, typed proxies, resolving by name, how sync and async methods
 * are scheduled, and how an error thrown in an actor reaches its caller.
 *
 * Run: `deno task example:counter` (or `deno run -A examples/counter.ts`).
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const Counter = pul.remote(
  class Counter {
    value: number;
    constructor(init = 0) {
      this.value = init;
    }
    /** Sync: runs to completion before the actor takes its next message. */
    incr(by = 1): number {
      if (by < 0) throw new RangeError(`incr takes a non-negative step, got ${by}`);
      return (this.value += by);
    }
    /** Async: the actor takes other messages while this one waits. */
    async incrLater(by: number, ms: number): Promise<number> {
      const before = this.value;
      await sleep(ms);
      this.value = before + by; // read-modify-write across an await: not atomic!
      return this.value;
    }
    get(): number {
      return this.value;
    }
  },
);

await pul.init(); // an in-process system: no sockets
console.log("spawn a Counter named 'counter' starting at 10");
const counter = await Counter.spawn({ name: "counter", args: [10] });
console.log(`incr()  -> ${await counter.incr()}`);
console.log(`incr(5) -> ${await counter.incr(5)}`);

console.log("resolve it by name and call it again");
const same = await Counter.resolve("counter");
console.log(`incr()  -> ${await same.incr()}`);

console.log("100 concurrent sync incr() calls: each runs alone, none is lost");
await Promise.all(Array.from({ length: 100 }, () => counter.incr()));
console.log(`get()   -> ${await counter.get()}`); // 117

console.log("2 concurrent async incrLater(1) calls interleave at their await");
await Promise.all([counter.incrLater(1, 20), counter.incrLater(1, 20)]);
console.log(`get()   -> ${await counter.get()} (one update lost: use sync methods for state)`);

console.log("an error thrown in the actor reaches the caller; the actor keeps its state");
try {
  await counter.incr(-1);
} catch (e) {
  const err = e as pul.PulsingActorError;
  console.log(`caught ${err.name} (originally ${err.originalName}): ${err.message}`);
}
console.log(`get()   -> ${await counter.get()}`);

await pul.shutdown();
console.log("counter example done");
