/**
 * Pub/sub fan-out on a topic: one publisher, three subscribers, every subscriber gets every
 * message.
 *
 * Two nodes run in this process (so messages cross a real TCP connection): the publisher and
 * two subscribers on the first, a third subscriber on the second. The subscribers consume in
 * different ways — a callback, a slow async callback, an async iterator — and the slow one
 * never holds up the others. Publishing shows the delivery modes: `fire_and_forget` (queued
 * for every subscriber) and `wait_all_acks` (returns once every subscriber has it).
 *
 * Run: `deno task example:topic_fanout` (or `deno run -A examples/topic_fanout.ts`).
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";

interface Price {
  symbol: string;
  price: number;
  seq: number;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const N = 20;

const nodeA = await pul.init({ addr: "127.0.0.1:0" });
const nodeB = await pul.actorSystem({ addr: "127.0.0.1:0", seeds: [nodeA.addr] });
console.log(`node A ${nodeA.addr} (publisher), node B ${nodeB.addr}`);

// Subscriber 1 (node A): a plain callback.
const ticker = await pul.topic.read<Price>("prices", { readerId: "ticker" });
const tickerGot: number[] = [];
ticker.onMessage((m) => void tickerGot.push(m.seq));
await ticker.start();

// Subscriber 2 (node A): a slow async callback (the next message waits for it, here only).
const archive = await pul.topic.read<Price>("prices", { readerId: "archive" });
const archiveGot: number[] = [];
archive.onMessage(async (m) => {
  await sleep(20);
  archiveGot.push(m.seq);
});
await archive.start();

// Subscriber 3 (node B): an async iterator.
const alerts = await nodeB.topic.read<Price>("prices", { readerId: "alerts" });
const alertsGot: number[] = [];
const it = alerts.messages();
await alerts.start(); // waits until the subscription is in place
const consume = (async () => {
  for await (const m of it) {
    alertsGot.push(m.seq);
    if (m.price > 104) console.log(`  [alerts on B] ${m.symbol} above 104: ${m.price}`);
    if (m.seq === N) break;
  }
})();

const writer = await pul.topic.write("prices", { writerId: "feed" });
console.log(`publish ${N - 1} prices (fire_and_forget), then 1 more (wait_all_acks)`);
const t0 = performance.now();
for (let seq = 1; seq < N; seq++) {
  await writer.publish({ symbol: "ACME", price: 100 + (seq % 7), seq });
}
const fastMs = performance.now() - t0;
const last = await writer.publish({ symbol: "ACME", price: 100, seq: N }, {
  mode: "wait_all_acks",
});
console.log(
  `  ${N - 1} publishes took ${fastMs.toFixed(0)} ms; the last reached ` +
    `${last.delivered} of ${last.subscriberCount} subscribers`,
);

await consume;
while (archiveGot.length < N) await sleep(20); // the slow subscriber catches up
console.log(`ticker  got ${tickerGot.length} messages, in order: ${isOrdered(tickerGot)}`);
console.log(`archive got ${archiveGot.length} messages, in order: ${isOrdered(archiveGot)}`);
console.log(`alerts  got ${alertsGot.length} messages, in order: ${isOrdered(alertsGot)}`);

await Promise.all([ticker.stop(), archive.stop(), alerts.stop()]);
await nodeB.shutdown();
await pul.shutdown();
console.log("topic fan-out example done");

function isOrdered(xs: number[]): boolean {
  return xs.every((x, i) => x === i + 1);
}
