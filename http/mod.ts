/**
 * The HTTP surface of Pulsing: a gateway that reaches any named actor of the cluster over
 * REST (JSON calls, NDJSON/SSE streams, health, Prometheus metrics, a live dashboard), and an
 * out-of-cluster client that calls actors through gateways with the same typed proxies as
 * inside the cluster, on `fetch` only.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * import { connect, serveHttp } from "@pulsing/pulsing/http";
 *
 * const Counter = pul.remote(class Counter { n = 0; incr(): number { return ++this.n; } });
 * const system = new ActorSystem();
 * await Counter.spawn({ name: "counter", system });
 * const gw = await serveHttp(system, { port: 0 });   // dashboard at gw.url
 *
 * const counter = await connect(gw.url).resolve("counter", { cls: Counter });
 * console.log(await counter.incr()); // 1
 * await gw.close();
 * await system.shutdown();
 * ```
 *
 * @module
 */

export {
  createGatewayApp,
  type GatewayApp,
  type GatewayOptions,
  type HttpServerHandle,
  serveHttp,
  type ServeHttpOptions,
} from "./gateway.ts";
export {
  type ClientResolveOptions,
  connect,
  type ConnectOptions,
  type GatewayClient,
  type TypedClientResolveOptions,
} from "./client.ts";
export type { HttpErrorBody } from "./error_status.ts";
