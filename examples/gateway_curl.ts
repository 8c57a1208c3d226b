/**
 * The HTTP gateway, called with curl.
 *
 * Starts a node with two actors and its HTTP gateway on a free port (with a bearer token),
 * then calls it the way any program outside the cluster would: `curl` for health, a method
 * call, a business error, a streamed (NDJSON) answer and the Prometheus metrics; and
 * `pul.connect(url)` for typed calls from TypeScript without joining the cluster. Without
 * `curl` on the PATH the same requests go through `fetch`.
 *
 * Run: `deno task example:gateway_curl` (or `deno run -A examples/gateway_curl.ts`).
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";
import { serveHttp } from "@pulsing/pulsing/http";

const Counter = pul.remote(
  class Counter {
    value = 0;
    incr(by = 1): number {
      if (by > 100) throw new pul.PulsingBusinessError(400, "step too large", { max: 100 });
      return (this.value += by);
    }
  },
);
const Llm = pul.remote(
  class Llm {
    async *generate(prompt: string): AsyncGenerator<string> {
      for (const word of `you said: ${prompt}`.split(" ")) {
        await new Promise((r) => setTimeout(r, 10));
        yield word;
      }
    }
  },
);

const TOKEN = "s3cret-token";
const system = await pul.init();
await Counter.spawn({ name: "counter" });
await Llm.spawn({ name: "services/llm" });
const gateway = await serveHttp(system, { port: 0, token: TOKEN });
console.log(`gateway on ${gateway.url}; GW=${gateway.url} below`);
console.log(`dashboard: open ${gateway.url}/#token=${TOKEN} in a browser`);

const hasCurl = await new Deno.Command("curl", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);
console.log(hasCurl ? "using curl" : "curl not found: using fetch for the same requests");

/** Run one request with curl (or fetch) and print the command and the answer. */
async function request(
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  grep?: RegExp,
): Promise<string> {
  const url = `${gateway.url}${path}`;
  const auth = `Authorization: Bearer ${TOKEN}`;
  const json = body === undefined ? undefined : JSON.stringify(body);
  const shown = [`curl -s`, method === "POST" ? "-X POST" : "", `-H '${auth}'`];
  if (json) shown.push(`-H 'content-type: application/json' -d '${json}'`);
  const pipe = grep ? ` | grep -E '${grep.source}'` : "";
  console.log(`\n$ ${shown.filter(Boolean).join(" ")} ${url.replace(gateway.url, "$GW")}${pipe}`);
  let text: string;
  if (hasCurl) {
    const args = ["-s", "-N", "-X", method, "-H", auth, "-w", "\n[HTTP %{http_code}]"];
    if (json) args.push("-H", "content-type: application/json", "-d", json);
    const out = await new Deno.Command("curl", { args: [...args, url], stdout: "piped" }).output();
    text = new TextDecoder().decode(out.stdout);
  } else {
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: json,
    });
    text = `${await res.text()}\n[HTTP ${res.status}]`;
  }
  const lines = text.trimEnd().split("\n");
  console.log((grep ? lines.filter((l) => grep.test(l)) : lines).join("\n"));
  return text;
}

await request("GET", "/health");
await request("POST", "/actors/counter/incr", { args: [5] });
await request("POST", "/actors/counter/incr", [2]); // a bare array is the arguments
await request("POST", "/actors/counter/incr", { args: [1000] }); // a business error: its code
await request("POST", "/actors/services/llm/generate", { args: ["hello gateway"] }); // NDJSON
const metrics = await request("GET", "/metrics", undefined, /^pulsing_actor_(messages|errors)/);
const families = new Set([...metrics.matchAll(/^# TYPE (pulsing_[a-z_]+)/gm)].map((m) => m[1]));
console.log(`(${families.size} metric families in all)`);

console.log("\nthe same actors from TypeScript through the gateway, typed (pul.connect):");
const client = pul.connect(gateway.url, { token: TOKEN });
const counter = await client.resolve("counter", { cls: Counter });
console.log(`  counter.incr() -> ${await counter.incr()}`);
const llm = await client.resolve("services/llm", { cls: Llm });
console.log(`  llm.generate() -> ${(await llm.generate("typed").collect()).join(" ")}`);

await gateway.close();
await pul.shutdown();
console.log("\ngateway example done");
