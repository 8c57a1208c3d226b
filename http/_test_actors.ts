// Actors shared by the http/ tests (not part of the public API).
import { PulsingBusinessError } from "../core/errors.ts";
import { remote } from "../core/remote.ts";

/** Flags the tests observe. */
export const probe: { finallyRan: number; gate: Promise<void> | undefined } = {
  finallyRan: 0,
  gate: undefined,
};

/** A test service exercising every kind of method. */
export const Router = remote(
  class Router {
    n = 0;
    incr(by = 1): number {
      return this.n += by;
    }
    echo(...args: unknown[]): unknown[] {
      return args;
    }
    conflict(id: string): never {
      throw new PulsingBusinessError(409, "name taken", { id });
    }
    oddCode(): never {
      throw new PulsingBusinessError(7, "odd", ["x"]);
    }
    boom(): never {
      throw new RangeError("out of range");
    }
    async slow(ms: number): Promise<string> {
      await new Promise((r) => setTimeout(r, ms));
      return "late";
    }
    bigint(): bigint {
      return 1n;
    }
    async *tokens(n: number): AsyncGenerator<string> {
      for (let i = 0; i < n; i++) yield `t${i}`;
    }
    async *gated(): AsyncGenerator<string> {
      yield "first";
      await probe.gate;
      yield "second";
    }
    async *endless(): AsyncGenerator<number> {
      try {
        for (let i = 0;; i++) {
          yield i;
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        probe.finallyRan++;
      }
    }
    async *failsAfter(n: number): AsyncGenerator<number> {
      for (let i = 0; i < n; i++) yield i;
      throw new PulsingBusinessError(418, "teapot");
    }
    // deno-lint-ignore require-yield
    async *failsFirst(): AsyncGenerator<number> {
      throw new PulsingBusinessError(403, "forbidden");
    }
  },
  { name: "HttpTestRouter" },
);
