/**
 * The HTTP gateway: reach any named actor of the cluster from outside it, watch the cluster.
 *
 * Routes (every one but `GET /health` and the dashboard page `GET /` needs
 * `Authorization: Bearer <token>` when a token is set; the page holds no data and reads the
 * token from its `#token=...` fragment):
 *
 * | route                             | answer                                                   |
 * | --------------------------------- | -------------------------------------------------------- |
 * | `GET /health`                     | `{ status: "healthy", nodeId, addr, actorCount, uptimeMs }` |
 * | `GET /metrics`                    | Prometheus text format                                   |
 * | `GET /cluster/members`            | `{ nodeId, members: [{ nodeId, addr, status }] }`        |
 * | `GET /actors[?all=true]`          | `{ actors: [{ path, instanceCount, instances }] }`       |
 * | `GET /actors/{name}`              | resolve: `{ path, nodeId, actorId }` or 404              |
 * | `POST /actors/{name}/{method}`    | `{ args: [...] }` (or a bare array) → `{ result }`, or a stream |
 * | `POST /ask/{name}`                | `{ msg }` → `{ result }`, or a stream                    |
 * | `POST /tell/{name}`               | `{ msg }` → 202 `{}`                                     |
 * | `GET /stats`                      | JSON snapshot for the dashboard                          |
 * | `GET /`                           | the dashboard page                                       |
 *
 * Names may contain `/`: in `POST /actors/services/llm/router/generate` the last segment is the
 * method and the rest the name (segments are percent-decoded one by one). `?node=<nodeId>` pins
 * the call to the instance on that node; header `x-pulsing-timeout: <ms>` bounds the call.
 *
 * A streaming method answers `application/x-ndjson`, one line per item, flushed as produced:
 * `{"item": v}` ... then `{"done": true}`, or `{"error": {...}}` if it fails midway. With
 * `Accept: text/event-stream` it answers SSE instead: `data: <item json>` events, then
 * `event: done` or `event: error`. Errors raised before the first item get a real HTTP status.
 * When the client goes away mid-stream the stream is cancelled: the generator's `finally` runs.
 *
 * Errors answer `{ error: { class, message, code?, details?, originalName?, ... } }` with the
 * status of the table in `error_status.ts` (404 not found, 400 bad request or invalid method,
 * business error: its code if in 400..499 else 422, 504 timeout, 500 otherwise).
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { ActorRef } from "../core/actor_ref.ts";
import { isStreamLike } from "../core/actor_stream.ts";
import type { ActorSystem } from "../core/system.ts";
import { isInternalName } from "../core/names.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { errorBody, type HttpErrorBody, HttpRequestError, statusOf } from "./error_status.ts";
import { GatewayMetrics, renderMetrics } from "./metrics.ts";

/** Options of {@linkcode createGatewayApp}. */
export interface GatewayOptions {
  /** Require `Authorization: Bearer <token>` on every route but `/health` and `/`. */
  token?: string;
  /** Default bound of a call, in ms (default 30 000; header `x-pulsing-timeout` overrides). */
  callTimeout?: number;
  /** Largest request body accepted, in bytes (default 4 MiB; larger gets 413). */
  maxBodyBytes?: number;
  /** Origins allowed to call from a browser page (`"*"` for any); CORS is off by default. */
  cors?: string | string[];
}

/**
 * A gateway as a plain fetch handler: serve it with any server, or call it in tests.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * import { createGatewayApp } from "@pulsing/pulsing/http";
 * const system = new ActorSystem();
 * const app = createGatewayApp(system);
 * const res = await app.fetch(new Request("http://gw/health"));
 * console.log(res.status); // 200
 * await system.shutdown();
 * ```
 */
export interface GatewayApp {
  /** Answer one request. */
  fetch(req: Request): Promise<Response>;
}

const PUBLIC_PATHS = new Set(["/health", "/", "/favicon.ico"]);
const MAX_TIMEOUT = 3_600_000;
const enc = new TextEncoder();

/**
 * Build the gateway of a system as a fetch handler (see the module doc for the routes).
 *
 * @param system The node's actor system: calls reach actors on any node it can resolve.
 * @param options Token, call timeout, body limit, CORS.
 * @returns A {@linkcode GatewayApp}.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * import { createGatewayApp } from "@pulsing/pulsing/http";
 * const system = new ActorSystem();
 * await system.spawn({ receive: (m: unknown) => m }, { name: "echo" });
 * const app = createGatewayApp(system, { token: "s3cret" });
 * const res = await app.fetch(
 *   new Request("http://gw/ask/echo", {
 *     method: "POST",
 *     headers: { authorization: "Bearer s3cret" },
 *     body: JSON.stringify({ msg: "hi" }),
 *   }),
 * );
 * console.log(await res.json()); // { result: "hi" }
 * await system.shutdown();
 * ```
 */
export function createGatewayApp(system: ActorSystem, options: GatewayOptions = {}): GatewayApp {
  const metrics = new GatewayMetrics();
  const callTimeout = options.callTimeout ?? 30_000;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const token = options.token === undefined || options.token === ""
    ? undefined
    : enc.encode(options.token);
  const origins = options.cors === undefined
    ? undefined
    : new Set(Array.isArray(options.cors) ? options.cors : [options.cors]);
  const app = new Hono();

  app.use("*", async (c, next) => {
    const path = c.req.path;
    const origin = c.req.header("origin");
    const allowed = origins !== undefined && origin !== undefined &&
      (origins.has("*") || origins.has(origin));
    if (allowed && c.req.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": origin!,
          "access-control-allow-methods": "GET, POST",
          "access-control-allow-headers": "authorization, content-type, accept, x-pulsing-timeout",
          "access-control-max-age": "600",
          "vary": "origin",
        },
      });
    }
    if (
      token !== undefined && !PUBLIC_PATHS.has(path) &&
      !bearerMatches(c.req.header("authorization"), token)
    ) {
      c.res = errorResponse(new HttpRequestError(401, "Missing or invalid bearer token"));
      c.res.headers.set("www-authenticate", 'Bearer realm="pulsing"');
    } else {
      await next();
    }
    if (allowed) {
      c.res.headers.set("access-control-allow-origin", origin!);
      c.res.headers.append("vary", "origin");
    }
    metrics.request(c.req.method, routeOf(path), c.res.status);
  });

  app.get("/health", (c) => {
    const body = {
      status: system.isShutdown ? "shutting_down" : "healthy",
      nodeId: system.nodeId.value,
      addr: system.addr,
      actorCount: system.actorCount,
      uptimeMs: Date.now() - metrics.startedAt,
    };
    return c.json(body, system.isShutdown ? 503 : 200);
  });

  app.get("/", () =>
    new Response(DASHBOARD_HTML, {
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
    }));
  app.get("/favicon.ico", () => new Response(null, { status: 204 }));

  app.get("/metrics", async () =>
    new Response(await renderMetrics(system, metrics), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    }));

  app.get("/cluster/members", async (c) => {
    return c.json({ nodeId: system.nodeId.value, members: await system.members() });
  });

  app.get("/actors", async (c) => {
    const all = c.req.query("all") === "true";
    const actors = (await system.allNamedActors({ includeSystem: true })).filter((a) =>
      all || !isInternalName(a.path)
    );
    return c.json({ actors });
  });

  app.get("/stats", async (c) => {
    const local = new Map<string, { handled: number; mailboxDepth: number; restarts: number }>();
    for (const cell of system.localNamedCells()) {
      local.set(cell.name!, {
        handled: cell.handled,
        mailboxDepth: cell.mailboxDepth,
        restarts: cell.restarts,
      });
    }
    const actors = (await system.allNamedActors()).filter((a) => !isInternalName(a.path)).map(
      (a) => {
        const g = metrics.actors.get(a.path);
        let errors = 0;
        if (g) { for (const n of g.errors.values()) errors += n; }
        return {
          path: a.path,
          instances: a.instances,
          local: local.get(a.path) ?? null,
          gateway: g ? { ok: g.ok, errors } : null,
        };
      },
    );
    return c.json({
      nodeId: system.nodeId.value,
      addr: system.addr,
      now: Date.now(),
      uptimeMs: Date.now() - metrics.startedAt,
      actorCount: system.actorCount,
      members: await system.members(),
      actors,
    });
  });

  app.get("/actors/*", async (c) => {
    const url = new URL(c.req.url);
    const name = decodeSegments(url.pathname.slice("/actors/".length).split("/"));
    const timeout = clampTimeout(url.searchParams.get("timeout"), 0);
    const ref = await system.resolve(name, {
      nodeId: url.searchParams.get("node") ?? undefined,
      timeout: timeout || undefined,
    });
    return c.json({ path: ref.name ?? name, nodeId: ref.nodeId.value, actorId: ref.actorId.value });
  });

  const dispatch = async (c: Context, kind: "call" | "ask" | "tell"): Promise<Response> => {
    const req = c.req.raw;
    const url = new URL(req.url);
    const prefix = kind === "call" ? "/actors/" : `/${kind}/`;
    const segs = url.pathname.slice(prefix.length).split("/");
    let method = "";
    if (kind === "call") {
      if (segs.length < 2) throw new HttpRequestError(400, "Expected POST /actors/{name}/{method}");
      method = decodeSegments([segs.pop()!]);
    }
    const name = decodeSegments(segs);
    const body = parseBody(await readBody(req, maxBody, metrics));
    const timeout = clampTimeout(
      req.headers.get("x-pulsing-timeout") ?? url.searchParams.get("timeout"),
      callTimeout,
    );
    const ref = await system.resolve(name, { nodeId: url.searchParams.get("node") ?? undefined });
    const path = ref.name ?? name;
    const t0 = performance.now();
    let result: unknown;
    try {
      result = await invoke(ref, kind, method, body, timeout);
    } catch (e) {
      const body = errorBody(e, path);
      metrics.observe(path, (performance.now() - t0) / 1000, body.class);
      return jsonError(body, statusOf(e));
    }
    if (kind === "tell") {
      metrics.observe(path, (performance.now() - t0) / 1000);
      return countedJson(metrics, {}, 202);
    }
    if (result !== null && typeof result === "object" && isStreamLike(result)) {
      const sse = (req.headers.get("accept") ?? "").includes("text/event-stream");
      return await streamResponse(result, sse, metrics, path, t0);
    }
    metrics.observe(path, (performance.now() - t0) / 1000);
    return countedJson(metrics, result === undefined ? {} : { result }, 200);
  };
  app.post("/actors/*", (c) => dispatch(c, "call"));
  app.post("/ask/*", (c) => dispatch(c, "ask"));
  app.post("/tell/*", (c) => dispatch(c, "tell"));

  app.notFound((c) =>
    errorResponse(new HttpRequestError(404, `No route: ${c.req.method} ${c.req.path}`))
  );
  app.onError((e) => errorResponse(e));

  return {
    async fetch(req: Request): Promise<Response> {
      return await app.fetch(req);
    },
  };
}

function invoke(
  ref: ActorRef,
  kind: "call" | "ask" | "tell",
  method: string,
  body: Record<string, unknown> | unknown[],
  timeout: number,
): Promise<unknown> {
  const opts = timeout > 0 ? { timeout } : undefined;
  if (kind === "call") {
    const args = Array.isArray(body) ? body : body.args ?? [];
    if (!Array.isArray(args)) throw new HttpRequestError(400, "`args` must be a JSON array");
    return ref.call(method, args, opts);
  }
  const msg = Array.isArray(body) ? body : body.msg;
  return kind === "ask" ? ref.ask(msg, opts) : ref.tell(msg);
}

/**
 * Serve a stream as NDJSON or SSE; an error before the first item answers a real status. A
 * client that goes away cancels the body (both adapters do so), which stops the source. The
 * request's `signal` is not used: `Deno.serve` aborts it after every successful response too.
 */
async function streamResponse(
  source: AsyncIterable<unknown> | Iterable<unknown>,
  sse: boolean,
  metrics: GatewayMetrics,
  path: string,
  t0: number,
): Promise<Response> {
  const it: AsyncIterator<unknown> | Iterator<unknown> =
    typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function"
      ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (source as Iterable<unknown>)[Symbol.iterator]();
  let first: IteratorResult<unknown>;
  try {
    first = await it.next();
  } catch (e) {
    const body = errorBody(e, path);
    metrics.observe(path, (performance.now() - t0) / 1000, body.class);
    return jsonError(body, statusOf(e));
  }
  metrics.observe(path, (performance.now() - t0) / 1000);
  let pending: IteratorResult<unknown> | undefined = first;
  let finished = false;
  const stop = () => {
    if (finished) return;
    finished = true;
    Promise.resolve(it.return?.()).catch(() => {});
  };
  const push = (ctrl: ReadableStreamDefaultController<Uint8Array>, text: string) => {
    const bytes = enc.encode(text);
    metrics.bytesOut += bytes.byteLength;
    ctrl.enqueue(bytes);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (finished) return;
      try {
        const r = pending ?? await it.next();
        pending = undefined;
        if (finished) return;
        if (r.done) {
          finished = true;
          push(ctrl, sse ? "event: done\ndata: {}\n\n" : '{"done":true}\n');
          ctrl.close();
          return;
        }
        push(
          ctrl,
          sse
            ? `data: ${JSON.stringify(r.value) ?? "null"}\n\n`
            : `${JSON.stringify({ item: r.value })}\n`,
        );
      } catch (e) {
        if (finished) return;
        finished = true;
        Promise.resolve(it.return?.()).catch(() => {});
        const err = JSON.stringify({ error: errorBody(e, path) });
        push(ctrl, sse ? `event: error\ndata: ${err}\n\n` : `${err}\n`);
        ctrl.close();
      }
    },
    cancel() {
      stop();
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": sse
        ? "text/event-stream; charset=utf-8"
        : "application/x-ndjson; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      "x-pulsing-stream": "1",
    },
  });
}

function countedJson(metrics: GatewayMetrics, value: unknown, status: number): Response {
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new HttpRequestError(500, `The result is not JSON-serializable: ${(e as Error).message}`);
  }
  const bytes = enc.encode(text);
  metrics.bytesOut += bytes.byteLength;
  return new Response(bytes, { status, headers: { "content-type": "application/json" } });
}

function errorResponse(e: unknown): Response {
  return jsonError(errorBody(e), statusOf(e));
}

function jsonError(body: HttpErrorBody, status: number): Response {
  return new Response(JSON.stringify({ error: body }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function readBody(req: Request, max: number, metrics: GatewayMetrics): Promise<string> {
  const declared = Number(req.headers.get("content-length"));
  if (declared > max) throw new HttpRequestError(413, `Request body over ${max} bytes`);
  if (req.body === null) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new HttpRequestError(413, `Request body over ${max} bytes`);
    }
    chunks.push(value);
  }
  metrics.bytesIn += total;
  if (chunks.length === 1) return new TextDecoder().decode(chunks[0]);
  const all = new Uint8Array(total);
  let off = 0;
  for (const ch of chunks) {
    all.set(ch, off);
    off += ch.byteLength;
  }
  return new TextDecoder().decode(all);
}

function parseBody(text: string): Record<string, unknown> | unknown[] {
  if (text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpRequestError(400, `Invalid JSON body: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object") {
    throw new HttpRequestError(
      400,
      "The body must be a JSON object ({ args } or { msg }) or array",
    );
  }
  return v as Record<string, unknown> | unknown[];
}

function decodeSegments(segs: string[]): string {
  try {
    const out = segs.map((s) => decodeURIComponent(s));
    if (out.some((s) => s === "")) throw new HttpRequestError(400, "Empty segment in actor name");
    return out.join("/");
  } catch (e) {
    if (e instanceof HttpRequestError) throw e;
    throw new HttpRequestError(400, "Malformed percent-encoding in the path");
  }
}

function clampTimeout(v: string | null, dflt: number): number {
  if (v === null || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new HttpRequestError(400, `Invalid timeout: ${v}`);
  return Math.min(n, MAX_TIMEOUT);
}

function routeOf(path: string): string {
  if (path.startsWith("/actors/")) return "/actors/*";
  if (path.startsWith("/ask/")) return "/ask/*";
  if (path.startsWith("/tell/")) return "/tell/*";
  switch (path) {
    case "/":
    case "/health":
    case "/metrics":
    case "/stats":
    case "/actors":
    case "/cluster/members":
      return path;
  }
  return "other";
}

/** Constant-time comparison of a bearer header against the expected token bytes. */
function bearerMatches(header: string | undefined, expected: Uint8Array): boolean {
  if (header === undefined || !/^bearer /i.test(header)) return false;
  const got = enc.encode(header.slice(7).trim());
  let diff = got.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) diff |= (got[i % (got.length || 1)] ?? 0) ^ expected[i];
  return diff === 0;
}

/** Options of {@linkcode serveHttp}. */
export interface ServeHttpOptions extends GatewayOptions {
  /** TCP port (0 picks a free one; default 8080). */
  port?: number;
  /** Interface to listen on (default `127.0.0.1`; `0.0.0.0` for every interface). */
  hostname?: string;
  /** Stop serving when aborted. */
  signal?: AbortSignal;
}

/**
 * A running gateway.
 *
 * @example
 * ```ts
 * import type { HttpServerHandle } from "@pulsing/pulsing/http";
 * function log(h: HttpServerHandle) { console.log(`gateway on ${h.url}`); }
 * ```
 */
export interface HttpServerHandle {
  /** `host:port` it listens on. */
  readonly addr: string;
  /** `http://host:port`. */
  readonly url: string;
  /** Stop listening and close open connections (streams in flight are cancelled). */
  close(): Promise<void>;
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** What a runtime adapter (`serve_deno.ts`, `serve_node.ts`) provides. */
export interface ListenResult {
  /** Bound hostname. */
  hostname: string;
  /** Bound port. */
  port: number;
  /** Stop the server. */
  close(): Promise<void>;
}

/**
 * Serve the gateway of `system` over HTTP (`Deno.serve` on Deno, `node:http` on Node). It
 * closes by itself when the system shuts down or `signal` aborts.
 *
 * @param system The node's actor system.
 * @param options Port, hostname, token, signal, and the {@linkcode GatewayOptions}.
 * @returns A handle with the bound address and `close()`.
 * @throws when the port cannot be bound.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * import { serveHttp } from "@pulsing/pulsing/http";
 * const system = new ActorSystem();
 * const gw = await serveHttp(system, { port: 0, hostname: "127.0.0.1" });
 * console.log((await fetch(`${gw.url}/health`).then((r) => r.json())).status); // "healthy"
 * await gw.close();
 * await system.shutdown();
 * ```
 */
export async function serveHttp(
  system: ActorSystem,
  options: ServeHttpOptions = {},
): Promise<HttpServerHandle> {
  const app = createGatewayApp(system, options);
  const listen = "Deno" in globalThis
    ? (await import("./serve_deno.ts")).listen
    : (await import("./serve_node.ts")).listen;
  const server = await listen((req) => app.fetch(req), {
    port: options.port ?? 8080,
    hostname: options.hostname ?? "127.0.0.1",
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    options.signal?.removeEventListener("abort", onAbort);
    return closing ??= server.close();
  };
  const onAbort = () => void close();
  if (options.signal?.aborted) await close();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  system.onShutdown(close);
  const host = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
  const addr = `${host}:${server.port}`;
  return { addr, url: `http://${addr}`, close, [Symbol.asyncDispose]: close };
}
