/**
 * Distributed tracing: every remote call carries a W3C `traceparent` in its request head and
 * opens spans through `@opentelemetry/api`, so a trace follows a call across nodes — with
 * Deno's built-in OpenTelemetry export (`OTEL_DENO=true`) or any OpenTelemetry SDK on Node.
 *
 * Off by default and free when off: one cached boolean check per call, and the OpenTelemetry
 * API is not even loaded. On when `OTEL_DENO=true` or `PULSING_TRACING=1`, or after
 * {@linkcode setTracing}`(true)`; the API is then loaded ({@linkcode loadTracingApi}) and the
 * first traced call waits for it.
 *
 * Spans: `pulsing call <actor>.<method>` / `pulsing ask <actor>` (kind CLIENT on the caller,
 * SERVER on the callee, which is the caller span's child); `pulsing tell <actor>` (PRODUCER /
 * CONSUMER). Attributes: `pulsing.actor`, `pulsing.method`, `pulsing.peer`; errors are
 * recorded with their class and message.
 *
 * @module
 */

import type { Context, Span } from "@opentelemetry/api";
import { readEnv } from "../core/log.ts";
import { once } from "../core/runtime.ts";

let enabled: boolean | undefined;

type OtelApi = typeof import("@opentelemetry/api");
let api: OtelApi | undefined;

/**
 * Load `@opentelemetry/api` (once; later calls return the same promise). It is loaded when
 * tracing is turned on, not when this module is imported: a process that does not trace does
 * not load the npm package (on Deno, loading an npm package starts the Node compatibility layer:
 * ~0.3 MB of heap, ~1.7 MB of resident memory and 3-4 ms of startup).
 *
 * @returns The API module.
 *
 * @example
 * ```ts
 * import { loadTracingApi } from "./tracing.ts";
 * const otel = await loadTracingApi();
 * console.log(typeof otel.trace.getTracer); // "function"
 * ```
 */
export const loadTracingApi: () => Promise<OtelApi> = once(() =>
  import("@opentelemetry/api").then((m) => (api = m))
);

/**
 * Whether `@opentelemetry/api` has been loaded by this module.
 *
 * @example
 * ```ts
 * import { tracingApiLoaded } from "./tracing.ts";
 * console.log(typeof tracingApiLoaded()); // "boolean"
 * ```
 */
export function tracingApiLoaded(): boolean {
  return api !== undefined;
}

/** The loaded API, for the span helpers below (loaded before any of them runs). */
function otel(): OtelApi {
  if (api === undefined) {
    throw new Error("the tracing API is not loaded yet: await loadTracingApi() first");
  }
  return api;
}

/** Start loading the API in the background once tracing is on (errors show on first use). */
function preload(): void {
  loadTracingApi().catch(() => {});
}

/**
 * Whether remote calls are traced.
 *
 * @example
 * ```ts
 * import { tracingEnabled } from "./tracing.ts";
 * console.log(typeof tracingEnabled()); // "boolean"
 * ```
 */
export function tracingEnabled(): boolean {
  if (enabled === undefined) {
    enabled = readEnv("OTEL_DENO") === "true" || readEnv("PULSING_TRACING") === "1";
    if (enabled) preload();
  }
  return enabled;
}

/**
 * Turn tracing on or off for this process (overrides the environment).
 *
 * @example
 * ```ts
 * import { setTracing } from "./tracing.ts";
 * setTracing(false);
 * ```
 */
export function setTracing(on: boolean): void {
  enabled = on;
  if (on) preload();
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Parse a W3C `traceparent` header value into a context carrying it as the remote parent.
 * A well-formed value needs the API loaded ({@linkcode loadTracingApi}).
 *
 * @param tp The header value.
 * @param base The context to extend (default: the active one).
 * @returns The context, or `undefined` for a malformed or all-zero value.
 *
 * @example
 * ```ts
 * import { contextFromTraceparent } from "./tracing.ts";
 * console.log(contextFromTraceparent("garbage")); // undefined
 * ```
 */
export function contextFromTraceparent(
  tp: unknown,
  base?: Context,
): Context | undefined {
  if (typeof tp !== "string") return undefined;
  const m = TRACEPARENT.exec(tp);
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  const { context, trace, TraceFlags } = otel();
  return trace.setSpanContext(base ?? context.active(), {
    traceId: m[1],
    spanId: m[2],
    traceFlags: parseInt(m[3], 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/**
 * The `traceparent` value of a span, or `undefined` when it has no valid context (no
 * tracer provider installed).
 *
 * @example
 * ```ts
 * import { trace } from "@opentelemetry/api";
 * import { loadTracingApi, traceparentOf } from "./tracing.ts";
 * await loadTracingApi();
 * console.log(traceparentOf(trace.wrapSpanContext({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 }))); // undefined
 * ```
 */
export function traceparentOf(span: Span): string | undefined {
  const c = span.spanContext();
  if (!otel().trace.isSpanContextValid(c)) return undefined;
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

function tracer() {
  return otel().trace.getTracer("pulsing", "0.1.0");
}

function finish<T>(span: Span, p: Promise<T>): Promise<T> {
  return p.then((v) => {
    span.end();
    return v;
  }, (e) => {
    const err = e as Error;
    span.recordException(err);
    span.setStatus({
      code: otel().SpanStatusCode.ERROR,
      message: `${err?.name}: ${err?.message}`,
    });
    span.end();
    throw e;
  });
}

/** What the node puts in a request head. */
export interface TracedHead {
  /** The operation (`call`, `ask`, `tell`). */
  op: string;
  /** The target actor. */
  to?: string;
  /** The method (calls). */
  m?: string;
  /** The W3C traceparent. */
  tp?: string;
}

function spanName(head: TracedHead, actor: string | undefined): string {
  const who = actor ?? head.to;
  return head.op === "call" ? `pulsing call ${who}.${head.m}` : `pulsing ${head.op} ${who}`;
}

/**
 * Run an outgoing request inside a CLIENT (or PRODUCER, for tells) span whose traceparent is
 * written into `head.tp`. Call only when {@linkcode tracingEnabled}.
 *
 * @example
 * ```ts
 * import { traceOutgoing } from "./tracing.ts";
 * const head = { op: "call", to: "actors/x", m: "f" };
 * console.log(await traceOutgoing(head, "127.0.0.1:7000", "actors/x", async () => 1)); // 1
 * ```
 */
export function traceOutgoing<T>(
  head: TracedHead,
  peer: string,
  actor: string | undefined,
  send: () => Promise<T>,
): Promise<T> {
  if (api === undefined) {
    return loadTracingApi().then(() => traceOutgoing(head, peer, actor, send));
  }
  const { context, trace, SpanKind } = api;
  const span = tracer().startSpan(spanName(head, actor), {
    kind: head.op === "tell" ? SpanKind.PRODUCER : SpanKind.CLIENT,
    attributes: attributes(head, peer, actor),
  });
  const tp = traceparentOf(span);
  if (tp) head.tp = tp;
  return finish(span, context.with(trace.setSpan(context.active(), span), send));
}

/**
 * Run the handling of an incoming request inside a SERVER (or CONSUMER) span, child of the
 * caller's span named by `head.tp`. Calls made by the actor meanwhile become its children
 * (where the runtime propagates context across awaits, as Deno's OpenTelemetry does).
 *
 * @example
 * ```ts
 * import { traceIncoming } from "./tracing.ts";
 * console.log(await traceIncoming({ op: "ask", to: "actors/x" }, "node", "actors/x", async () => 2)); // 2
 * ```
 */
export function traceIncoming<T>(
  head: TracedHead,
  node: string,
  actor: string | undefined,
  handle: () => Promise<T>,
): Promise<T> {
  if (api === undefined) {
    return loadTracingApi().then(() => traceIncoming(head, node, actor, handle));
  }
  const { context, trace, SpanKind } = api;
  const parent = contextFromTraceparent(head.tp) ?? context.active();
  const span = tracer().startSpan(spanName(head, actor), {
    kind: head.op === "tell" ? SpanKind.CONSUMER : SpanKind.SERVER,
    attributes: attributes(head, node, actor),
  }, parent);
  return finish(span, context.with(trace.setSpan(parent, span), handle));
}

function attributes(
  head: TracedHead,
  peer: string,
  actor: string | undefined,
): Record<string, string> {
  const a: Record<string, string> = { "pulsing.peer": peer };
  if (actor ?? head.to) a["pulsing.actor"] = (actor ?? head.to)!;
  if (head.m) a["pulsing.method"] = head.m;
  return a;
}
