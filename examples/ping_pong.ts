/**
 * Ping-pong across two processes.
 *
 * This process starts a node on 127.0.0.1 and a second `deno` process that joins it with
 * `seeds`. Each process hosts one named actor; the ball goes back and forth, each actor
 * resolving the other by name (`players/ping`, `players/pong`) and calling it over TCP.
 *
 * Run: `deno task example:ping_pong` (or `deno run -A examples/ping_pong.ts`).
 *
 * @module
 */
import * as pul from "@pulsing/pulsing";

/** A player: `hit(n)` prints the ball and, until `n` reaches 0, hits it back to the other one. */
class Player {
  readonly me: string;
  readonly other: string;
  constructor(me: string, other: string) {
    this.me = me;
    this.other = other;
  }
  async hit(n: number): Promise<string> {
    console.log(`  [${this.me}, pid ${Deno.pid}] ball ${n}`);
    if (n === 0) return `${this.me} won`;
    // Note: `PlayerActor` (the actor class), not `Player` (the plain class).
    const other = await PlayerActor.resolve(`players/${this.other}`, { timeout: 5_000 });
    return await other.hit(n - 1);
  }
}
/** The actor class: both processes define it, so either can host a player. */
export const PlayerActor = pul.remote(Player);

if (Deno.args[0] === "--pong") {
  // The second process: join the seed, host "players/pong", run until stdin closes.
  await pul.init({ addr: "127.0.0.1:0", seeds: [Deno.args[1]] });
  await PlayerActor.spawn({ name: "players/pong", args: ["pong", "ping"] });
  console.log("  [pong] ready");
  for await (const _ of Deno.stdin.readable) { /* the parent closes stdin to stop us */ }
  await pul.shutdown();
  Deno.exit(0);
}

const system = await pul.init({ addr: "127.0.0.1:0" });
console.log(`ping node listening on ${system.addr}; starting the pong process`);
await PlayerActor.spawn({ name: "players/ping", args: ["ping", "pong"] });

const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "--quiet", new URL(import.meta.url).pathname, "--pong", system.addr],
  stdin: "piped",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const stdin = child.stdin.getWriter();

try {
  // Wait for the other process to join and register its actor.
  const pong = await pul.resolve("players/pong", { cls: PlayerActor, timeout: 20_000 });
  const members = await system.members();
  console.log(`cluster: ${members.map((m) => `${m.addr} ${m.status}`).join(", ")}`);
  console.log("serve: ping hits the ball to pong, 5 hits to go");
  const result = await pong.hit(5);
  console.log(`rally over: ${result}`);
} finally {
  await stdin.close(); // the pong process leaves the cluster and exits
  const status = await child.status;
  console.log(`pong process exited with code ${status.code}`);
  await pul.shutdown();
}
console.log("ping-pong example done");
