/** Actor classes shared by the demo's processes (every node must know the classes it hosts). */
import * as pul from "../mod.ts";

/** A counter: sync methods run one at a time, in order. */
export const Counter = pul.remote(
  class Counter {
    value: number;
    constructor(init = 0) {
      this.value = init;
    }
    incr(by = 1): number {
      return (this.value += by);
    }
  },
  { name: "DemoCounter" },
);

/** A fake LLM: a generator method streams tokens as they are "produced". */
export const Llm = pul.remote(
  class Llm {
    async *generate(prompt: string): AsyncGenerator<string> {
      for (const word of `you asked: ${prompt}`.split(" ")) {
        await new Promise((r) => setTimeout(r, 15));
        yield word;
      }
    }
    where(): string {
      return `pid ${Deno.pid}`;
    }
  },
  { name: "DemoLlm" },
);
