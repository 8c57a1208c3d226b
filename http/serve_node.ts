/**
 * Node adapter of the gateway: a `node:http` server around a fetch handler, translating
 * `IncomingMessage` to `Request` and writing the `Response` body chunk by chunk (so streams
 * flush item by item and a client that goes away cancels the body). The only file of `http/`
 * that touches `node:*`.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { ListenResult } from "./gateway.ts";

/**
 * Listen with `node:http`; resolves once bound.
 *
 * @example
 * ```ts ignore
 * const s = await listen(() => Promise.resolve(new Response("ok")), { port: 0, hostname: "127.0.0.1" });
 * await s.close();
 * ```
 */
export function listen(
  handler: (req: Request) => Promise<Response>,
  options: { port: number; hostname: string },
): Promise<ListenResult> {
  const server = createServer((req, res) => void handle(handler, req, res));
  return new Promise<ListenResult>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const a = server.address();
      const port = typeof a === "object" && a !== null ? a.port : options.port;
      resolve({
        hostname: options.hostname,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
  });
}

async function handle(
  handler: (req: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const ac = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) ac.abort();
  });
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    else if (v !== undefined) headers.set(k, v);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  let response: Response;
  try {
    const request = new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
      method,
      headers,
      body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : null,
      signal: ac.signal,
      // @ts-ignore: `duplex` is required by Node's fetch for streamed bodies, unknown to the DOM types
      duplex: "half",
    });
    response = await handler(request);
  } catch {
    response = new Response('{"error":{"class":"PulsingError","message":"internal error"}}', {
      status: 500,
      headers: { "content-type": "application/json" },
    });
  }
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    if (k !== "set-cookie") out[k] = v;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  res.writeHead(response.status, out);
  if (response.body === null) {
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  ac.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((r) => {
          res.once("drain", r);
          res.once("close", r);
        });
      }
      if (ac.signal.aborted) return;
    }
    res.end();
  } catch {
    res.destroy();
  }
}
