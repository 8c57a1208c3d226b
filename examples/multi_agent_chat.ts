/**
 * A multi-agent chat: three agents, each a named actor (`agents/alice`, `agents/bob`,
 * `agents/carol`), spread over three processes. An agent speaks, posts its line to the chat
 * room (`chat/room`), then resolves the agent it addressed *by name* and hands it the turn.
 * Nobody holds a reference to anybody: names are the only addresses.
 *
 * The extra processes are started with `pul.init({ workers: 2 })`: two local worker nodes
 * that import this module (so they know the `Agent` class) and stop with this process.
 * `placement: "remote"` puts an agent on one of them.
 *
 * The agents' lines are scripted (swap `reply()` for an LLM call to make them think).
 *
 * Run: `deno task example:multi_agent_chat` (or `deno run -A examples/multi_agent_chat.ts`).
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";

/** The room keeps the transcript. */
class Room {
  transcript: string[] = [];
  post(speaker: string, line: string, where: string): number {
    this.transcript.push(`${speaker}: ${line}`);
    console.log(`  ${speaker.padEnd(6)}(${where}) ${line}`);
    return this.transcript.length;
  }
  lines(): string[] {
    return this.transcript;
  }
}
/** The room actor class. */
export const RoomActor = pul.remote(Room);

/** What each agent says on its k-th turn, and whom it hands the turn to. */
const SCRIPT: Record<string, [line: string, next: string][]> = {
  alice: [
    ["We need a name for the release. Bob, any idea?", "bob"],
    ["Carol, can you check 'Pulse' is free?", "carol"],
    ["Then 'Pulse' it is. Bob, write the notes.", "bob"],
  ],
  bob: [
    ["'Pulse', since actors exchange beats of messages. Carol?", "carol"],
    ["Notes are done. Over to Alice.", "alice"],
  ],
  carol: [
    ["I like it. Alice, do you agree?", "alice"],
    ["It is free. Back to you, Alice.", "alice"],
  ],
};

/** An agent: says its next line, then resolves the agent it named and gives it the turn. */
class Agent {
  readonly me: string;
  spoken = 0;
  constructor(me: string) {
    this.me = me;
  }
  reply(): [string, string] | undefined {
    return SCRIPT[this.me][this.spoken++];
  }
  async turn(left: number): Promise<number> {
    const said = this.reply();
    if (said === undefined || left === 0) return left;
    const [line, next] = said;
    const room = await RoomActor.resolve("chat/room");
    await room.post(this.me, line, `pid ${Deno.pid}`);
    // Resolve the next speaker by name: it may live in any process of the cluster.
    const peer = await AgentActor.resolve(`agents/${next}`, { timeout: 5_000 });
    return await peer.turn(left - 1); // an async method: this agent stays responsive meanwhile
  }
}
/** The agent actor class (workers import this module, so they can host agents). */
export const AgentActor = pul.remote(Agent);

if (import.meta.main) {
  console.log("start this node and 2 worker processes");
  const system = await pul.init({
    addr: "127.0.0.1:0",
    workers: { count: 2, modules: [import.meta.url] },
  });
  const members = await system.members();
  console.log(`  ${members.length} nodes: ${members.map((m) => m.addr).join(", ")}`);

  await RoomActor.spawn({ name: "chat/room" });
  await AgentActor.spawn({ name: "agents/alice", args: ["alice"] });
  for (const name of ["bob", "carol"]) {
    const agent = await AgentActor.spawn({
      name: `agents/${name}`,
      args: [name],
      placement: "remote",
    });
    console.log(`  agents/${name} runs on node ${pul.refOf(agent).nodeId.value.slice(0, 8)}`);
  }

  console.log(`the chat (this process is pid ${Deno.pid}):`);
  const alice = await AgentActor.resolve("agents/alice");
  await alice.turn(7);
  const room = await RoomActor.resolve("chat/room");
  console.log(`transcript: ${(await room.lines()).length} lines`);

  await pul.shutdown(); // stops the workers too
  console.log("multi-agent chat example done");
}
