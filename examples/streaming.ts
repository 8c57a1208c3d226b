/**
 * Streaming LLM-style token generation, with cancellation.
 *
 * A fake language model is an actor whose `generate` method is an async generator: the
 * caller gets an `ActorStream` of tokens as they are produced. The model runs on a second
 * node (here in the same process, so the stream crosses a real TCP connection). The caller
 * stops streams three ways — `break`, an `AbortSignal`, `reader.cancel()` — and each time the
 * generator's `finally` block runs on the model's node: the generation really stops.
 *
 * Run: `deno task example:streaming` (or `deno run -A examples/streaming.ts`).
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WORDS = ("Actors are objects that only talk through messages so they scale from one " +
  "process to many machines without changing the code").split(" ");

/** A fake LLM: emits one token every 10 ms and records how each generation ended. */
const Llm = pul.remote(
  class Llm {
    log: string[] = [];
    async *generate(prompt: string, maxTokens = 1_000): AsyncGenerator<string> {
      let n = 0;
      try {
        for (; n < maxTokens; n++) {
          await sleep(10); // "inference"
          yield WORDS[n % WORDS.length];
        }
        this.log.push(`"${prompt}": finished after ${n} tokens`);
      } finally {
        if (n < maxTokens) this.log.push(`"${prompt}": stopped by the caller after ${n} tokens`);
      }
    }
    history(): string[] {
      return this.log;
    }
  },
);

// The model's node, and this node (the caller) joined to it.
const modelNode = await pul.actorSystem({ addr: "127.0.0.1:0" });
await Llm.spawn({ name: "models/llm", system: modelNode });
await pul.init({ addr: "127.0.0.1:0", seeds: [modelNode.addr] });
const llm = await Llm.resolve("models/llm", { timeout: 10_000 });
console.log(`model on ${modelNode.addr}, caller on ${pul.getSystem().addr}`);

const out = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s));

console.log("\n1. a whole answer, printed token by token as it streams in");
out("  ");
for await (const token of llm.generate("explain actors", 12)) out(`${token} `);
out("\n");

console.log("\n2. break out of the loop after 5 tokens");
out("  ");
let count = 0;
for await (const token of llm.generate("a long essay")) {
  out(`${token} `);
  if (++count === 5) break; // cancels the stream: the generator's finally runs remotely
}
out("\n");

console.log("\n3. an AbortSignal: give up after 120 ms");
const signal = AbortSignal.timeout(120);
out("  ");
for await (const token of llm.generate("a slow answer")) {
  if (signal.aborted) break;
  out(`${token} `);
}
out("\n");

console.log("\n4. ActorStream is a ReadableStream: read 3 tokens, then reader.cancel()");
const reader = llm.generate("a stream read by hand").getReader();
const first: string[] = [];
for (let i = 0; i < 3; i++) first.push((await reader.read()).value!);
await reader.cancel();
console.log(`  got ${JSON.stringify(first)}`);

await sleep(50); // let the last cancellation reach the model's node
console.log("\nwhat the model saw:");
for (const line of await llm.history()) console.log(`  ${line}`);

await pul.shutdown();
await modelNode.shutdown();
console.log("\nstreaming example done");
