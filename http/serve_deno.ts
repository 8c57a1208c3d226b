/**
 * Deno adapter of the gateway: `Deno.serve` around a fetch handler. The only file of `http/`
 * that touches `Deno.*`.
 *
 * @module
 */

import type { ListenResult } from "./gateway.ts";

/**
 * Listen with `Deno.serve`; resolves once bound.
 *
 * @example
 * ```ts ignore
 * const s = await listen(() => new Response("ok"), { port: 0, hostname: "127.0.0.1" });
 * await s.close();
 * ```
 */
export function listen(
  handler: (req: Request) => Promise<Response>,
  options: { port: number; hostname: string },
): Promise<ListenResult> {
  return new Promise<ListenResult>((resolve, reject) => {
    const ac = new AbortController();
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        port: options.port,
        hostname: options.hostname,
        signal: ac.signal,
        onListen: () => {},
        onError: (e) => {
          console.error("pulsing http gateway:", e);
          return new Response("internal error", { status: 500 });
        },
      }, handler);
    } catch (e) {
      reject(e);
      return;
    }
    resolve({
      hostname: server.addr.hostname,
      port: server.addr.port,
      async close() {
        ac.abort();
        await server.finished;
      },
    });
  });
}
