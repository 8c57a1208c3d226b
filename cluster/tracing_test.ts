import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Context,
  context,
  type ContextManager,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  trace,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import * as pul from "../mod.ts";
import { contextFromTraceparent, loadTracingApi, setTracing, traceparentOf } from "./tracing.ts";

/** A context manager on AsyncLocalStorage (what an OpenTelemetry SDK installs). */
class AlsContextManager implements ContextManager {
  #als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#als.disable();
    return this;
  }
}

interface Recorded {
  name: string;
  kind: SpanKind | undefined;
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  ended: boolean;
  status?: SpanStatus;
  attributes: Record<string, unknown>;
}

const hex = (n: number) =>
  [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );

class RecordingSpan implements Span {
  constructor(readonly rec: Recorded) {}
  spanContext(): SpanContext {
    return { traceId: this.rec.traceId, spanId: this.rec.spanId, traceFlags: 1 };
  }
  setAttribute(k: string, v: unknown): this {
    this.rec.attributes[k] = v;
    return this;
  }
  setAttributes(a: Record<string, unknown>): this {
    Object.assign(this.rec.attributes, a);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(s: SpanStatus): this {
    this.rec.status = s;
    return this;
  }
  updateName(n: string): this {
    this.rec.name = n;
    return this;
  }
  end(): void {
    this.rec.ended = true;
  }
  isRecording(): boolean {
    return !this.rec.ended;
  }
  recordException(): void {}
}

class RecordingTracer implements Tracer {
  constructor(readonly spans: Recorded[]) {}
  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    const parent = trace.getSpanContext(ctx ?? context.active());
    const rec: Recorded = {
      name,
      kind: options?.kind,
      traceId: parent?.traceId ?? hex(16),
      spanId: hex(8),
      parentId: parent?.spanId,
      ended: false,
      attributes: { ...options?.attributes },
    };
    this.spans.push(rec);
    return new RecordingSpan(rec);
  }
  startActiveSpan(): never {
    throw new Error("not used");
  }
}

Deno.test("tracing: traceparent parsing and formatting", async () => {
  await loadTracingApi();
  assert.equal(contextFromTraceparent("nope"), undefined);
  assert.equal(contextFromTraceparent(`00-${"0".repeat(32)}-${"1".repeat(16)}-01`), undefined);
  const ctx = contextFromTraceparent(`00-${"a".repeat(32)}-${"b".repeat(16)}-01`)!;
  const sc = trace.getSpanContext(ctx)!;
  assert.deepEqual([sc.traceId, sc.spanId, sc.traceFlags, sc.isRemote], [
    "a".repeat(32),
    "b".repeat(16),
    1,
    true,
  ]);
  assert.equal(
    traceparentOf(trace.wrapSpanContext(sc)),
    `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
  );
});

Deno.test("tracing: off, the OpenTelemetry API is not loaded; turned on, the first traced call loads it", async () => {
  // a fresh process: this one has loaded the API through the imports above
  const code = `
    const pul = await import(${JSON.stringify(new URL("../mod.ts", import.meta.url).href)});
    const Echo = pul.remote(class TracingProbe { echo(x) { return x; } }, { name: "TracingProbe" });
    const a = await pul.actorSystem({ addr: "127.0.0.1:0" });
    const b = await pul.actorSystem({ addr: "127.0.0.1:0", seeds: [a.addr] });
    await Echo.spawn({ name: "probe", system: a });
    const e = await Echo.resolve("probe", { system: b, timeout: 5000 });
    await e.echo(1); // a remote call, not traced
    const { setTracing, tracingApiLoaded: loaded } = await import(${
    JSON.stringify(new URL("./tracing.ts", import.meta.url).href)
  });
    console.log("off", loaded());
    setTracing(true);
    console.log("call", await e.echo(2));
    console.log("on", loaded());
    await b.shutdown();
    await a.shutdown();
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", code],
    stdout: "piped",
    stderr: "piped",
    env: { PULSING_TRACING: "0", OTEL_DENO: "false" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(text.trim().split("\n"), ["off false", "call 2", "on true"]);
});

Deno.test("tracing: one trace follows a call across two nodes and back", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const spans: Recorded[] = [];
  const provider: TracerProvider = { getTracer: () => new RecordingTracer(spans) };
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AlsContextManager());
  setTracing(true);
  const a = await pul.actorSystem({ addr: "127.0.0.1:0", logger: () => {} });
  const b = await pul.actorSystem({ addr: "127.0.0.1:0", seeds: [a.addr], logger: () => {} });
  try {
    const Back = pul.remote(
      class TracedBack {
        square(x: number): number {
          return x * x;
        }
      },
    );
    const Front = pul.remote(
      class TracedFront {
        async compute(x: number): Promise<number> {
          const back = await Back.resolve("back", { system: a, timeout: 5000 });
          return (await back.square(x)) + 1;
        }
        fail(): never {
          throw new pul.PulsingBusinessError(409, "no");
        }
      },
    );
    await Back.spawn({ name: "back", system: b });
    await Front.spawn({ name: "front", system: a });
    const front = await Front.resolve("front", { system: b, timeout: 5000 });
    spans.length = 0;
    assert.equal(await front.compute(7), 50);
    // b → a (call front.compute), then a → b (call back.square): four spans, one trace
    const calls = spans.filter((s) => s.name.startsWith("pulsing call"));
    assert.equal(calls.length, 4, JSON.stringify(spans.map((s) => s.name)));
    assert.equal(new Set(calls.map((s) => s.traceId)).size, 1);
    const [c1, s1, c2, s2] = calls;
    assert.equal(c1.name, "pulsing call actors/front.compute");
    assert.equal(s1.parentId, c1.spanId); // the server span is the client span's child
    assert.equal(c2.name, "pulsing call actors/back.square");
    assert.equal(c2.parentId, s1.spanId); // the nested call is a child of the handling
    assert.equal(s2.parentId, c2.spanId);
    assert.ok(calls.every((s) => s.ended));
    // an error is recorded on both sides
    spans.length = 0;
    await assert.rejects(front.fail(), pul.PulsingBusinessError);
    assert.equal(spans.length, 2);
    assert.ok(
      spans.every((s) => s.status?.code === 2 && /PulsingBusinessError/.test(s.status.message!)),
    );
  } finally {
    setTracing(false);
    await b.shutdown();
    await a.shutdown();
    trace.disable();
    context.disable();
  }
});
