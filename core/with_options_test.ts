import assert from "node:assert/strict";
import * as pul from "../mod.ts";

const Svc = pul.remote(
  class WithOptionsSvc {
    finals = 0;
    async wait(ms: number): Promise<number> {
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    }
    async *ticks(): AsyncGenerator<number> {
      let i = 0;
      try {
        while (true) {
          yield i++;
          await new Promise((r) => setTimeout(r, 2));
        }
      } finally {
        this.finals++;
      }
    }
    finalsSeen(): number {
      return this.finals;
    }
  },
);

Deno.test("withOptions: a timeout applies to every call of a typed proxy", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  const s = await Svc.spawn({ system });
  await assert.rejects(
    pul.withOptions(s, { timeout: 10 }).wait(200),
    (e: Error) => e instanceof pul.PulsingTimeoutError,
  );
  assert.equal(await s.wait(1), 1); // the original proxy has no timeout
  await system.shutdown({ graceMs: 10 });
});

Deno.test("withOptions: an aborted signal cuts a stream short with its reason and stops the producer", async () => {
  const system = await pul.actorSystem({ logger: () => {} });
  const s = await Svc.spawn({ system });
  for (const proxy of [s, pul.asAny(s)]) {
    const ac = new AbortController();
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        // deno-lint-ignore no-explicit-any
        for await (const x of (pul.withOptions(proxy, { signal: ac.signal }) as any).ticks()) {
          seen.push(x as number);
          if (seen.length === 5) ac.abort(new Error("enough"));
        }
      })(),
      /enough/,
    );
    assert.equal(seen.length, 5);
  }
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await s.finalsSeen(), 2);
  await system.shutdown({ graceMs: 10 });
});
