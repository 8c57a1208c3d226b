/**
 * A worker node of the demo: joins the seed given as argument, subscribes to the "events"
 * topic, and runs until its stdin closes.
 */
import * as pul from "../mod.ts";
import "./_demo_actors.ts";

const [seed, label] = Deno.args;
const system = await pul.init({ addr: "127.0.0.1:0", seeds: [seed] });
const reader = await system.topic.read<{ type: string; user: string }>("events");
reader.onMessage((m) => console.log(`  [${label}] got event ${m.type} from ${m.user}`));
await reader.start();
console.log(JSON.stringify({ ready: true, nodeId: system.nodeId.value, addr: system.addr }));
for await (const _ of Deno.stdin.readable) { /* wait for the parent to close stdin */ }
await reader.stop();
await pul.shutdown();
