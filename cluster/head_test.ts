import assert from "node:assert/strict";
import {
  digestTerm,
  HeadClient,
  type HeadHost,
  type HeadPush,
  HeadService,
  type HeadWelcome,
  versionDigest,
} from "./head.ts";
import * as pul from "../mod.ts";
import type { ClusterNode } from "./node.ts";
import { NameRegistry, type RegistryDelta, type RegistrySnapshot } from "./registry.ts";
import type { MemberEvent } from "./swim.ts";

function fakeHost() {
  const told: { addr: string; op: unknown; body: unknown }[] = [];
  const events: MemberEvent[] = [];
  const host: HeadHost = {
    selfId: "H",
    selfAddr: "h:1",
    registry: new NameRegistry("H"),
    ask: () => Promise.reject(new Error("no network here")),
    tell: (addr, head, body) => told.push({ addr, op: head.op, body }),
    log: () => {},
    onMember: (e) => events.push(e),
  };
  return { host, told, events };
}

Deno.test("head service: registration gives the full view and tells the others", () => {
  const { host, told, events } = fakeHost();
  const now = 0;
  const head = new HeadService(host, { heartbeatMs: 1e9 }, () => now);
  try {
    const a = new NameRegistry("A");
    a.addLocal("actors/x", "ida", {});
    head.register("A", "a:1", a.localSnapshot());
    const w = head.register("B", "b:1", { n: "B", v: 0, e: [] });
    assert.deepEqual(w.members.map((m) => m.nodeId).sort(), ["A", "B", "H"]);
    assert.deepEqual(w.parts.map((p) => p.n).sort(), ["A", "H"]);
    assert.equal(host.registry.instances("actors/x")[0].nodeId, "A");
    // A was told about B
    assert.ok(told.some((t) => t.addr === "a:1" && t.op === "h-push"));
    assert.deepEqual(events.map((e) => `${e.type}:${e.member.nodeId}`), ["up:A", "up:B"]);
    // a delta from A is applied and forwarded to B only
    told.length = 0;
    head.onDelta(a.addLocal("actors/y", "idy", {}));
    assert.deepEqual(told.map((t) => `${t.addr}:${t.op}`), ["b:1:reg"]);
    assert.equal(host.registry.instances("actors/y").length, 1);
    // an unknown worker's heartbeat says "register again"
    assert.equal(head.heartbeat("Z", 0), false);
    assert.equal(head.heartbeat("A", 2), true);
  } finally {
    head.stop();
  }
});

Deno.test("head service: a silent worker is dropped, its names vanish, it can come back", () => {
  const { host, told, events } = fakeHost();
  let now = 0;
  const head = new HeadService(host, { heartbeatMs: 1e9, heartbeatTimeoutMs: 1000 }, () => now);
  try {
    const a = new NameRegistry("A");
    a.addLocal("actors/x", "ida", {});
    head.register("A", "a:1", a.localSnapshot());
    head.register("B", "b:1", undefined);
    now = 900;
    head.heartbeat("B", 0);
    now = 1500;
    head.sweep();
    assert.equal(head.member("A")?.state, "dead");
    assert.equal(head.member("B")?.state, "alive");
    assert.equal(host.registry.instances("actors/x").length, 0);
    assert.ok(
      told.some((t) =>
        t.addr === "b:1" && (t.body as { m?: { state: string } }).m?.state === "dead"
      ),
    );
    assert.equal(head.heartbeat("A", 1), false);
    // it registers again: names back, "up" again
    head.register("A", "a:1", a.localSnapshot());
    assert.equal(head.member("A")?.state, "alive");
    assert.equal(host.registry.instances("actors/x").length, 1);
    assert.deepEqual(events.map((e) => `${e.type}:${e.member.nodeId}`), [
      "up:A",
      "up:B",
      "dead:A",
      "up:A",
    ]);
    // a new process at A's address replaces it
    head.register("A2", "a:1", undefined);
    assert.equal(head.member("A")?.state, "dead");
    assert.equal(host.registry.instances("actors/x").length, 0);
    // graceful leave
    head.bye("B");
    assert.equal(head.member("B")?.state, "left");
    assert.deepEqual(head.aliveMembers().map((m) => m.nodeId), ["A2"]);
  } finally {
    head.stop();
  }
});

// ---- anti-entropy: a head and its workers wired in-process, with a network that can hold,
// ---- drop and reorder messages (the races seen under load), and the repair on heartbeats.

interface Msg {
  to: string;
  op: unknown;
  body: unknown;
}

interface SimWorker {
  id: string;
  addr: string;
  reg: NameRegistry;
  client: HeadClient;
  /** Registration replies held back (the test releases them: a push can overtake them). */
  holdWelcome: boolean;
  heldWelcomes: (() => void)[];
  /** The membership events this worker emitted, as `type:nodeId`. */
  events: string[];
}

/** What node.ts does on a member event: drop names on dead/left, accept them again on up. */
function onMemberLikeNode(reg: NameRegistry) {
  return (ev: MemberEvent) => {
    if (ev.type === "dead" || ev.type === "left") reg.dropNode(ev.member.nodeId);
    else if (ev.type === "up") reg.revive(ev.member.nodeId);
  };
}

class SimNet {
  readonly headReg = new NameRegistry("H");
  readonly head: HeadService;
  readonly workers = new Map<string, SimWorker>();
  readonly queue: Msg[] = [];
  /** Drop messages for which this returns true. */
  lose: (m: Msg) => boolean = () => false;
  pulls = 0;
  /** The head's clock (ms): its sweep drops workers silent for longer than the timeout. */
  now = 0;
  /** Welcomes without the members gone (as an older head sends them). */
  oldHead = false;

  constructor() {
    const host: HeadHost = {
      selfId: "H",
      selfAddr: "h:1",
      registry: this.headReg,
      ask: (addr, head) => {
        const w = [...this.workers.values()].find((x) => x.addr === addr);
        if (!w || head.op !== "pull") return Promise.reject(new Error("unreachable"));
        this.pulls++;
        return Promise.resolve(w.reg.localSnapshot());
      },
      tell: (addr, head, body) => this.#send({ to: addr, op: head.op, body }),
      log: () => {},
      onMember: () => {},
    };
    this.head = new HeadService(host, { heartbeatMs: 1e9 }, () => this.now);
  }

  #send(m: Msg): void {
    if (!this.lose(m)) this.queue.push(m);
  }

  add(id: string): SimWorker {
    const reg = new NameRegistry(id);
    const w: SimWorker = {
      id,
      addr: `${id}:1`,
      reg,
      holdWelcome: false,
      heldWelcomes: [],
      events: [],
      client: undefined as unknown as HeadClient,
    };
    const host: HeadHost = {
      selfId: id,
      selfAddr: w.addr,
      registry: reg,
      ask: (_addr, head, body) => {
        if (head.op === "h-reg") {
          // The head handles the request now; the reply may arrive later.
          const welcome = this.head.register(id, w.addr, body as RegistrySnapshot);
          if (this.oldHead) delete welcome.gone;
          if (!w.holdWelcome) return Promise.resolve(welcome);
          return new Promise((r) => w.heldWelcomes.push(() => r(welcome)));
        }
        if (head.op === "h-hb") return Promise.resolve(this.head.beat(id, body));
        return Promise.reject(new Error("unexpected ask"));
      },
      tell: (_addr, head, body) =>
        this.#send({ to: "h:1", op: head.op, body: head.op === "h-bye" ? head.id : body }),
      log: () => {},
      onMember: (ev) => {
        w.events.push(`${ev.type}:${ev.member.nodeId}`);
        onMemberLikeNode(reg)(ev);
      },
    };
    w.client = new HeadClient(host, "h:1", { heartbeatMs: 1e9, retryMs: 1e9 });
    this.workers.set(id, w);
    return w;
  }

  /** Deliver everything queued (and whatever that causes), in order. */
  async flush(): Promise<void> {
    for (let i = 0; i < 1000 && this.queue.length > 0; i++) {
      const m = this.queue.shift()!;
      if (m.to === "h:1") {
        if (m.op === "reg") this.head.onDelta(m.body as RegistryDelta);
        else if (m.op === "h-bye") this.head.bye(m.body as string);
        continue;
      }
      const w = [...this.workers.values()].find((x) => x.addr === m.to)!;
      if (m.op === "h-push") w.client.onPush(m.body as HeadPush);
      else if (m.op === "reg") {
        // node.ts: apply; on a gap pull the owner's names from the head.
        const d = m.body as RegistryDelta;
        if (w.reg.applyDelta(d) === "gap") {
          const s = this.headReg.snapshotOf(d.n);
          if (s) w.reg.applySnapshot(s);
        }
      }
    }
    await settle();
  }

  /** A worker's heartbeat round trip (what its timer does). */
  async beat(w: SimWorker): Promise<string> {
    const r = w.client.onBeat(this.head.beat(w.id, { v: w.reg.localVersion }));
    await settle();
    return r;
  }

  /** Whether `w`'s view equals the head's (members, epoch, every node's version). */
  converged(w: SimWorker): boolean {
    const want = new Set(["H", ...this.head.aliveMembers().map((m) => m.nodeId)]);
    want.delete(w.id);
    const have = new Set(w.client.aliveMembers().map((m) => m.nodeId));
    return want.size === have.size && [...want].every((x) => have.has(x)) &&
      w.client.epoch === this.head.epoch && w.client.digest() === this.head.digest(w.id) &&
      [...want].every((n) => w.reg.versionOf(n) === this.headReg.versionOf(n));
  }

  stop(): void {
    this.head.stop();
    for (const w of this.workers.values()) w.client.stop();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

Deno.test("digest: order-independent, additive, sensitive to versions", () => {
  const a = versionDigest([["a", 1], ["b", 2], ["c", 3]]);
  assert.equal(a, versionDigest([["c", 3], ["a", 1], ["b", 2]]));
  assert.notEqual(a, versionDigest([["a", 1], ["b", 3], ["c", 3]]));
  assert.notEqual(a, versionDigest([["a", 1], ["b", 2]]));
  assert.equal((a - digestTerm("c", 3)) >>> 0, versionDigest([["a", 1], ["b", 2]]));
});

Deno.test("head repair: a push that overtakes the welcome does not make a live worker dead", async () => {
  const net = new SimNet();
  try {
    const w1 = net.add("W1");
    const w2 = net.add("W2");
    const w3 = net.add("W3");
    assert.equal(await w1.client.start(), true);
    // W2's registration is handled by the head, but its welcome is slow to arrive...
    w2.holdWelcome = true;
    const started = w2.client.start();
    await settle();
    // ...and meanwhile W3 registers with a name: the head pushes "W3 up" to W2 at once.
    w3.reg.addLocal("actors/on-w3", "id3", {});
    assert.equal(await w3.client.start(), true);
    await net.flush(); // the push reaches W2 before its welcome (which does not list W3)
    w2.heldWelcomes.shift()!();
    assert.equal(await started, true);
    await net.flush();
    assert.equal(w2.client.member("W3")?.state, "alive");
    assert.equal(w2.reg.instances("actors/on-w3").length, 1);
    for (const w of [w1, w2, w3]) assert.ok(net.converged(w), `${w.id} converged`);
    assert.equal(await net.beat(w2), "ok");
  } finally {
    net.stop();
  }
});

Deno.test("head repair: lost membership pushes and deltas are repaired from the heartbeat", async () => {
  const net = new SimNet();
  try {
    const [w1, w2, w3] = ["W1", "W2", "W3"].map((id) => net.add(id));
    assert.equal(await w1.client.start(), true);
    assert.equal(await w2.client.start(), true);
    await net.flush();
    // Everything to W2 is lost for a while: W3's "up", W1's new name, the head's own name.
    net.lose = (m) => m.to === w2.addr;
    assert.equal(await w3.client.start(), true);
    w1.client.publish(w1.reg.addLocal("actors/on-w1", "id1", {}));
    net.head.publish(net.headReg.addLocal("actors/on-head", "idh", {}));
    await net.flush();
    assert.equal(w2.client.member("W3"), undefined);
    assert.equal(w2.reg.instances("actors/on-w1").length, 0);
    net.lose = () => false;
    // One heartbeat notes the divergence (it may be a push in flight), the next resyncs.
    assert.equal(await net.beat(w2), "mismatch");
    assert.equal(await net.beat(w2), "resync");
    await net.flush();
    assert.ok(net.converged(w2));
    assert.equal(w2.client.member("W3")?.state, "alive");
    assert.equal(w2.reg.instances("actors/on-w1").length, 1);
    assert.equal(w2.reg.instances("actors/on-head").length, 1);
    assert.equal(w2.client.resyncs, 1);
    assert.equal(await net.beat(w2), "ok");
    // A lost "left" is repaired the same way (and a stale push cannot undo the repair).
    net.lose = (m) => m.to === w2.addr;
    net.head.bye("W3");
    await net.flush();
    net.lose = () => false;
    assert.equal(w2.client.member("W3")?.state, "alive");
    await net.beat(w2);
    await net.beat(w2);
    await net.flush();
    // (the welcome lists the members gone with their state: W3 left, it did not crash)
    assert.equal(w2.client.aliveMembers().some((m) => m.nodeId === "W3"), false);
    assert.equal(w2.client.member("W3")?.state, "left");
    w2.client.onPush({
      m: { nodeId: "W3", addr: w3.addr, state: "alive", incarnation: 0 },
      e: 1,
      h: "H",
    });
    assert.equal(w2.client.aliveMembers().some((m) => m.nodeId === "W3"), false);
    assert.ok(net.converged(w2));
    assert.ok(net.converged(w1));
  } finally {
    net.stop();
  }
});

Deno.test("head repair: pushes out of order and with a gap", async () => {
  const net = new SimNet();
  try {
    const [w1, w2] = ["W1", "W2"].map((id) => net.add(id));
    assert.equal(await w1.client.start(), true);
    assert.equal(await w2.client.start(), true);
    await net.flush();
    const e = net.head.epoch;
    const rec = (state: "alive" | "dead", inc: number) => ({
      nodeId: "X",
      addr: "x:1",
      state,
      incarnation: inc,
    });
    // "X dead" (e+2) arrives before "X up" (e+1): X stays dead, and the epoch catches up.
    w1.client.onPush({ m: rec("dead", 1), e: e + 2, h: "H" });
    assert.equal(w1.client.epoch, e);
    w1.client.onPush({ m: rec("alive", 0), e: e + 1, h: "H" });
    assert.equal(w1.client.member("X")?.state, "dead");
    assert.equal(w1.client.epoch, e + 2);
    // A push from another head is not ours.
    w1.client.onPush({ m: rec("alive", 5), e: e + 3, h: "OLD" });
    assert.equal(w1.client.member("X")?.state, "dead");
  } finally {
    net.stop();
  }
});

Deno.test("head repair: the head pulls a worker's names its heartbeat shows it missed, one pull at a time", async () => {
  const net = new SimNet();
  try {
    const [w1, w2] = ["W1", "W2"].map((id) => net.add(id));
    assert.equal(await w1.client.start(), true);
    assert.equal(await w2.client.start(), true);
    await net.flush();
    net.lose = (m) => m.to === "h:1"; // W1's delta to the head is lost
    w1.client.publish(w1.reg.addLocal("actors/a", "ida", {}));
    net.lose = () => false;
    assert.equal(net.headReg.instances("actors/a").length, 0);
    net.head.beat("W1", { v: w1.reg.localVersion });
    net.head.beat("W1", { v: w1.reg.localVersion });
    await settle();
    assert.equal(net.pulls, 1);
    assert.equal(net.headReg.instances("actors/a").length, 1);
    await net.flush(); // and passed on to W2
    assert.equal(w2.reg.instances("actors/a").length, 1);
    assert.ok(net.converged(w1) && net.converged(w2));
  } finally {
    net.stop();
  }
});

Deno.test("head resync: a member that left is still 'left' after a resync, one that crashed is 'dead'", async () => {
  const net = new SimNet();
  try {
    const [w1, w2, w3, w4] = ["W1", "W2", "W3", "W4"].map((id) => net.add(id));
    for (const w of [w1, w2, w3, w4]) assert.equal(await w.client.start(), true);
    await net.flush();
    assert.equal(w2.client.member("W3")?.state, "alive");
    // Everything to W2 is lost for a while: W3 leaves gracefully, W4 crashes (silent: the
    // head's sweep drops it).
    net.lose = (m) => m.to === w2.addr;
    w3.client.leave();
    await net.flush();
    assert.equal(net.head.member("W3")?.state, "left");
    w4.client.stop();
    net.now = 10_000;
    for (const w of [w1, w2]) net.head.beat(w.id, { v: w.reg.localVersion });
    net.head.sweep();
    assert.equal(net.head.member("W4")?.state, "dead");
    await net.flush();
    net.lose = () => false;
    assert.equal(w2.client.member("W3")?.state, "alive"); // W2 missed both
    // W2's heartbeats see the divergence; it resyncs with a welcome from the head.
    assert.equal(await net.beat(w2), "mismatch");
    assert.equal(await net.beat(w2), "resync");
    await net.flush();
    assert.ok(net.converged(w2));
    assert.equal(w2.client.member("W3")?.state, "left");
    assert.equal(w2.client.member("W4")?.state, "dead");
    assert.deepEqual(w2.events.filter((e) => e.endsWith(":W3")), ["up:W3", "left:W3"]);
    assert.deepEqual(w2.events.filter((e) => e.endsWith(":W4")), ["up:W4", "dead:W4"]);
    // W1 got the pushes: the same records, the same events.
    assert.equal(w1.client.member("W3")?.state, "left");
    assert.equal(w1.client.member("W4")?.state, "dead");
    assert.deepEqual(w1.events.filter((e) => e.endsWith(":W3")), ["up:W3", "left:W3"]);
    // A welcome carries what the head remembers of the members gone: left is left, dead is dead.
    const welcome = net.head.register("W1", w1.addr, w1.reg.localSnapshot());
    assert.deepEqual(
      welcome.members.map((m) => `${m.state}:${m.nodeId}`).sort(),
      ["alive:H", "alive:W1", "alive:W2"],
    );
    assert.deepEqual(
      (welcome.gone ?? []).map((m) => `${m.state}:${m.nodeId}`).sort(),
      ["dead:W4", "left:W3"],
    );
    // Another resync changes nothing, and emits nothing.
    const before = w2.events.length;
    assert.equal(w2.client.onBeat({ ok: false }), "resync"); // registers again
    await settle();
    await net.flush();
    assert.equal(w2.client.member("W3")?.state, "left");
    assert.equal(w2.client.member("W4")?.state, "dead");
    assert.deepEqual(w2.events.slice(before), []);
  } finally {
    net.stop();
  }
});

Deno.test("head leave: a worker that leaves while its registration is in flight is 'left', not 'dead' later", async () => {
  const net = new SimNet();
  try {
    const [w1, w2] = ["W1", "W2"].map((id) => net.add(id));
    assert.equal(await w1.client.start(), true);
    // W2's registration reaches the head, but the welcome has not come back when it leaves.
    w2.holdWelcome = true;
    const started = w2.client.start();
    await settle();
    assert.equal(net.head.member("W2")?.state, "alive");
    w2.client.leave();
    await net.flush();
    w2.heldWelcomes.shift()!();
    assert.equal(await started, false);
    assert.equal(net.head.member("W2")?.state, "left");
    // Its silence afterwards is not a crash.
    net.now = 10_000;
    net.head.beat("W1", { v: w1.reg.localVersion });
    net.head.sweep();
    assert.equal(net.head.member("W2")?.state, "left");
    assert.deepEqual(w1.events.filter((e) => e.endsWith(":W2")), ["up:W2", "left:W2"]);
  } finally {
    net.stop();
  }
});

Deno.test("head resync: without the members gone (an older head) a member not listed is dead; the next welcome says it left", async () => {
  const net = new SimNet();
  try {
    const [w1, w2, w3] = ["W1", "W2", "W3"].map((id) => net.add(id));
    for (const w of [w1, w2, w3]) assert.equal(await w.client.start(), true);
    await net.flush();
    net.lose = (m) => m.to === w2.addr;
    w3.client.leave();
    await net.flush();
    net.lose = () => false;
    net.oldHead = true;
    assert.equal(w2.client.onBeat({ ok: false }), "resync");
    await settle();
    await net.flush();
    assert.equal(w2.client.member("W3")?.state, "dead"); // all it can tell
    net.oldHead = false;
    assert.equal(w2.client.onBeat({ ok: false }), "resync");
    await settle();
    await net.flush();
    assert.equal(w2.client.member("W3")?.state, "left");
    assert.deepEqual(w2.events.filter((e) => e.endsWith(":W3")), ["up:W3", "dead:W3", "left:W3"]);
    assert.ok(net.converged(w2));
  } finally {
    net.stop();
  }
});

Deno.test({
  name: "head mode, nodes on 127.0.0.1: a worker that left is 'left' on the head, the others " +
    "and in the welcome the head sends",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const logs: string[] = [];
  const logger = (name: string) => (_level: string, msg: string) => logs.push(`${name}: ${msg}`);
  const head = await pul.actorSystem({
    addr: "127.0.0.1:0",
    isHeadNode: true,
    logger: logger("head"),
  });
  const systems = [head];
  try {
    const [w1, w2] = await Promise.all(["w1", "w2"].map(async (name) => {
      const w = await pul.actorSystem({
        addr: "127.0.0.1:0",
        headAddr: head.addr,
        logger: logger(name),
      });
      systems.push(w);
      return w;
    }));
    const status = async (on: pul.PulsingSystem, id: string) =>
      (await on.members()).find((m) => m.nodeId === id)?.status;
    const until = async (what: string, cond: () => Promise<boolean>) => {
      const deadline = Date.now() + 10_000;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const id1 = w1.nodeId.value;
    await until("w2 to see w1", async () => (await status(w2, id1)) === "alive");
    await w1.shutdown();
    await until("w1 left on w2", async () => (await status(w2, id1)) === "left");
    assert.equal(await status(head, id1), "left");
    // What a resync of w2 gets: its welcome, over the wire.
    const conn = await (w2.cluster as ClusterNode).connection(head.addr);
    const welcome = await conn.ask(
      { op: "h-reg", id: w2.nodeId.value, a: w2.addr },
      null,
      { timeoutMs: 5_000 },
    ) as HeadWelcome;
    assert.deepEqual(
      welcome.members.map((m) => m.nodeId).sort(),
      [head, w2].map((s) => s.nodeId.value).sort(),
    );
    assert.deepEqual(welcome.gone?.map((m) => `${m.state}:${m.nodeId}`), [`left:${id1}`]);
    assert.equal(await status(w2, id1), "left");
    assert.deepEqual(logs.filter((l) => / is dead|dropped: (?!left)/.test(l)), []);
  } finally {
    for (const s of systems.reverse()) await s.shutdown();
  }
});

Deno.test({
  name: "head mode, nodes on 127.0.0.1: when the head shuts down, the workers see it 'left', " +
    "never 'dead'",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const head = await pul.actorSystem({ addr: "127.0.0.1:0", isHeadNode: true });
  const workers: pul.PulsingSystem[] = [];
  let headDown = false;
  try {
    for (let i = 0; i < 2; i++) {
      workers.push(await pul.actorSystem({ addr: "127.0.0.1:0", headAddr: head.addr }));
    }
    const seen = new Map<string, string[]>();
    const status = async (on: pul.PulsingSystem) =>
      (await on.members()).find((m) => m.nodeId === head.nodeId.value)?.status;
    for (const w of workers) {
      const deadline = Date.now() + 10_000;
      while ((await status(w)) !== "alive") {
        if (Date.now() > deadline) throw new Error("a worker never saw the head alive");
        await new Promise((r) => setTimeout(r, 10));
      }
      seen.set(w.nodeId.value, []);
    }
    await head.shutdown();
    headDown = true;
    const deadline = Date.now() + 5_000;
    for (const w of workers) {
      let s: string | undefined;
      while ((s = await status(w)) === "alive" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      seen.get(w.nodeId.value)!.push(String(s));
    }
    assert.deepEqual([...seen.values()], [["left"], ["left"]]);
  } finally {
    for (const w of workers) await w.shutdown();
    if (!headDown) await head.shutdown();
  }
});
