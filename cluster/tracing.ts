/**
 * Distributed tracing: every remote call carries a W3C `traceparent` in its request head and
 * opens spans through `@opentelemetry/api`, so a trace follows a call across nodes — with
 * Deno's built-in OpenTelemetry export (`OTEL_DENO=true`) or any OpenTelemetry SDK on Node.
 *
 * Off by default and free when off: one cached boolean check per call. On when
 * `OTEL_DENO=true` or `PULSING_TRACING=1`, or after {@linkcode setTracing}`(true)`.
 *
 * Spans: `pulsing call <actor>.<method>` / `pulsing ask <actor>` (kind CLIENT on the caller,
 * SERVER on the callee, which is the caller span's child); `pulsing tell <actor>` (PRODUCER /
 * CONSUMER). Attributes: `pulsing.actor`, `pulsing.method`, `pulsing.peer`; errors are
 * recorded with their class and message.
 *
 * @module
 */

import {
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from "@opentelemetry/api";
import { readEnv } from "../core/log.ts";

let enabled: boolean | undefined;

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
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Parse a W3C `traceparent` header value into a context carrying it as the remote parent.
 *
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
  base: Context = context.active(),
): Context | undefined {
  if (typeof tp !== "string") return undefined;
  const m = TRACEPARENT.exec(tp);
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return trace.setSpanContext(base, {
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
 * import { traceparentOf } from "./tracing.ts";
 * console.log(traceparentOf(trace.wrapSpanContext({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 }))); // undefined
 * ```
 */
export function traceparentOf(span: Span): string | undefined {
  const c = span.spanContext();
  if (!trace.isSpanContextValid(c)) return undefined;
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

function tracer() {
  return trace.getTracer("pulsing", "0.1.0");
}

function finish<T>(span: Span, p: Promise<T>): Promise<T> {
  return p.then((v) => {
    span.end();
    return v;
  }, (e) => {
    const err = e as Error;
    span.recordException(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: `${err?.name}: ${err?.message}` });
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
