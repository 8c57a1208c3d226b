// Gateway call round trip vs a direct ActorRef.call, in one run (ratios against the direct call).
// Run: deno bench -A http/gateway_bench.ts
import { ActorSystem } from "../core/system.ts";
import { remote } from "../core/remote.ts";
import { connect } from "./client.ts";
import { createGatewayApp, serveHttp } from "./gateway.ts";

const Counter = remote(
  class BenchCounter {
    n = 0;
    incr(): number {
      return ++this.n;
    }
  },
);

const system = new ActorSystem();
await Counter.spawn({ name: "bench/counter", system });
const ref = await system.resolve("bench/counter");
const app = createGatewayApp(system);
const gw = await serveHttp(system, { port: 0 });
const proxy = await connect(gw.url).resolve("bench/counter", { cls: Counter });
const body = JSON.stringify({ args: [] });

Deno.bench("direct ActorRef.call", { group: "call", baseline: true }, async () => {
  await ref.call("incr", []);
});

Deno.bench("gateway in-process (app.fetch)", { group: "call" }, async () => {
  const res = await app.fetch(
    new Request("http://gw/actors/bench/counter/incr", { method: "POST", body }),
  );
  await res.json();
});

Deno.bench("gateway over loopback HTTP (fetch)", { group: "call" }, async () => {
  const res = await fetch(`${gw.url}/actors/bench/counter/incr`, { method: "POST", body });
  await res.json();
});

Deno.bench("connect() proxy over loopback HTTP", { group: "call" }, async () => {
  await proxy.incr();
});

globalThis.addEventListener("unload", () => {
  void gw.close();
  void system.shutdown();
});
