/**
 * The main demo (`deno task demo`): a three-node cluster on this machine — this process and
 * two worker processes — showing actors, remote placement, streaming, the distributed queue
 * and the pub/sub topic. Runs in a few seconds and exits 0.
 *
 * @module
 */
import * as pul from "../mod.ts";
import { Counter, Llm } from "./_demo_actors.ts";

const step = (s: string) => console.log(`\n== ${s}`);
const t0 = performance.now();

step("start a node on 127.0.0.1 and two worker processes that join it");
const system = await pul.init({ addr: "127.0.0.1:0" });
console.log(`  this node: ${system.addr} (${system.nodeId.value.slice(0, 8)})`);

interface Worker {
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  nodeId: string;
}
async function startWorker(label: string): Promise<Worker> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("./_demo_node.ts", import.meta.url).pathname,
      system.addr,
      label,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (true) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${label} exited early`);
    buf += value;
    const nl = buf.indexOf("\n");
    if (nl < 0) continue;
    const ready = JSON.parse(buf.slice(0, nl));
    // keep echoing what the worker prints (its topic messages)
    (async () => {
      let rest = buf.slice(nl + 1);
      if (rest) Deno.stdout.writeSync(new TextEncoder().encode(rest));
      while (true) {
        const r = await lines.read();
        if (r.done) break;
        rest = r.value;
        Deno.stdout.writeSync(new TextEncoder().encode(rest));
      }
    })();
    return { child, stdin: child.stdin.getWriter(), nodeId: ready.nodeId };
  }
}
const workers = await Promise.all([startWorker("worker-1"), startWorker("worker-2")]);
let members = await system.members();
for (let i = 0; i < 100 && members.filter((m) => m.status === "alive").length < 3; i++) {
  await new Promise((r) => setTimeout(r, 20));
  members = await system.members();
}
console.log(`  members: ${members.map((m) => `${m.addr} ${m.status}`).join(", ")}`);

step("spawn a Counter on worker-1 and call it from here");
const counter = await Counter.spawn({ name: "counter", placement: workers[0].nodeId, args: [10] });
console.log(
  `  incr -> ${await counter.incr()}, ${await counter.incr(5)} (runs on ${
    pul.refOf(counter).nodeId.value.slice(0, 8)
  })`,
);
const again = await Counter.resolve("counter");
console.log(`  resolved by name, incr -> ${await again.incr()}`);

step("stream tokens from a generator method on worker-2");
const llm = await Llm.spawn({ name: "llm", placement: workers[1].nodeId });
const enc = new TextEncoder();
Deno.stdout.writeSync(enc.encode(" "));
for await (const token of llm.generate("what is an actor?")) {
  Deno.stdout.writeSync(enc.encode(` ${token}`)); // each token printed as it arrives
}
console.log(`   (${await llm.where()})`);

step("distributed queue: 100 records in 4 buckets spread over the nodes, read by 2 ranks");
const writer = await system.queue.write("jobs", { numBuckets: 4 });
await writer.put(Array.from({ length: 100 }, (_, i) => ({ id: `job-${i}`, n: i })));
await writer.flush();
const placement = (await system.allNamedActors())
  .filter((a) => a.path.startsWith("queues/jobs/"))
  .map((a) => `${a.path.split("/").pop()}@${a.instances[0].nodeId.slice(0, 8)}`);
console.log(`  buckets: ${placement.sort().join(", ")}`);
let total = 0;
for (const rank of [0, 1]) {
  const reader = await system.queue.read("jobs", { rank, worldSize: 2, numBuckets: 4 });
  const records = await reader.get({ limit: 1000 });
  total += records.length;
  console.log(
    `  rank ${rank} (buckets ${reader.bucketIds.join(",")}) read ${records.length} records`,
  );
}
console.log(`  total ${total} of 100, each exactly once`);

step("pub/sub topic: publish 2 events, both workers receive them");
const events = await system.topic.write("events");
for (const user of ["alice", "bob"]) {
  const r = await events.publish({ type: "login", user }, { mode: "wait_all_acks" });
  console.log(`  published login/${user}: delivered to ${r.delivered} of ${r.subscriberCount}`);
}
await new Promise((r) => setTimeout(r, 200));

step("shut down: workers leave the cluster, then this node");
for (const w of workers) await w.stdin.close();
await Promise.all(workers.map((w) => w.child.status));
await pul.shutdown();
console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
