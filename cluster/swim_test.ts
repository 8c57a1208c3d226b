/**
 * SWIM membership proven in a deterministic simulation: a virtual clock, a seeded random
 * source, and a simulated network with per-link loss and delay, crashes (stop responding),
 * hangs (stop responding, later resume with the queued messages and overdue timers, like
 * SIGSTOP/SIGCONT) and partitions. No sockets, no real time.
 *
 * Set SWIM_SIM_LOG=1 to print the measured numbers.
 */
import {
  type Member,
  type MemberEvent,
  type MemberRecord,
  Swim,
  type SwimClock,
  type SwimConfig,
  type SwimMessage,
  type SwimTimer,
} from "./swim.ts";

// ------------------------------------------------------------------ assertions (no imports)

function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

function assertEquals(actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`expected ${e}, got ${a}`);
}

// ------------------------------------------------------------------ simulator

/** mulberry32: small, fast, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Status = "up" | "crashed" | "hung";

interface SimNode {
  addr: string;
  swim: Swim;
  status: Status;
  inbox: [string, SwimMessage][];
  deferred: (() => void)[];
  sent: number;
  events: MemberEvent[];
  isolatedReports: boolean[];
  broadcasts: [string, unknown][];
}

interface Ev {
  at: number;
  seq: number;
  fn: () => void;
  owner?: SimNode;
  cancelled: boolean;
}

class Heap {
  #a: Ev[] = [];
  get size(): number {
    return this.#a.length;
  }
  peek(): Ev | undefined {
    return this.#a[0];
  }
  #less(i: number, j: number): boolean {
    const x = this.#a[i], y = this.#a[j];
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }
  push(e: Ev): void {
    const a = this.#a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): Ev | undefined {
    const a = this.#a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.#less(l, m)) m = l;
        if (r < a.length && this.#less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

class Sim {
  now = 0;
  rand: () => number;
  /** Probability that any message is lost. */
  loss = 0;
  /** Extra per-link loss, by "from>to". */
  linkLoss: Map<string, number> = new Map();
  /** Drop messages for which this returns true (targeted faults). */
  drop: ((from: string, to: string, msg: SwimMessage) => boolean) | undefined;
  /** One-way delay in ms. */
  delay: () => number;
  /** addr -> partition group; messages between different groups are dropped. */
  groups: Map<string, number> | undefined;
  nodes: Map<string, SimNode> = new Map();
  totalSent = 0;
  sentByType: Map<string, number> = new Map();
  #heap = new Heap();
  #seq = 0;
  #ids = 0;
  config: Partial<SwimConfig>;

  constructor(seed: number, config: Partial<SwimConfig> = {}) {
    this.rand = rng(seed);
    this.delay = () => 0.2 + this.rand() * 0.8;
    this.config = config;
  }

  schedule(ms: number, fn: () => void, owner?: SimNode): Ev {
    const e: Ev = { at: this.now + Math.max(0, ms), seq: ++this.#seq, fn, owner, cancelled: false };
    this.#heap.push(e);
    return e;
  }

  clockFor(owner: () => SimNode): SwimClock {
    return {
      now: () => this.now,
      setTimer: (fn: () => void, ms: number): SwimTimer => {
        const e = this.schedule(ms, fn, owner());
        return { cancel: () => (e.cancelled = true) };
      },
    };
  }

  /** Create (not start) a node at `addr` with a fresh node id; replaces a previous one. */
  add(addr: string, config: Partial<SwimConfig> = {}): SimNode {
    const node: SimNode = {
      addr,
      swim: undefined as unknown as Swim, // set just below
      status: "up",
      inbox: [],
      deferred: [],
      sent: 0,
      events: [],
      isolatedReports: [],
      broadcasts: [],
    };
    const nodeId = `${addr}#${++this.#ids}`;
    const seed = Math.floor(this.rand() * 2 ** 32);
    node.swim = new Swim({
      nodeId,
      addr,
      send: (to, msg) => this.#send(node, to, msg),
      clock: this.clockFor(() => node),
      random: rng(seed),
      config: { ...this.config, ...config },
      onChange: (e) => node.events.push(e),
      onIsolated: (v) => node.isolatedReports.push(v),
      onBroadcast: (origin, data) => node.broadcasts.push([origin, data]),
    });
    const old = this.nodes.get(addr);
    if (old) old.status = "crashed";
    this.nodes.set(addr, node);
    return node;
  }

  #send(from: SimNode, to: string, msg: SwimMessage): void {
    if (from.status !== "up") return;
    from.sent++;
    this.totalSent++;
    this.sentByType.set(msg.t, (this.sentByType.get(msg.t) ?? 0) + 1);
    if (this.rand() < this.loss) return;
    const ll = this.linkLoss.get(`${from.addr}>${to}`);
    if (ll !== undefined && this.rand() < ll) return;
    if (this.drop?.(from.addr, to, msg)) return;
    if (this.groups && this.groups.get(from.addr) !== this.groups.get(to)) return;
    const copy = structuredClone(msg); // what crosses the wire is plain data
    this.schedule(this.delay(), () => {
      const dst = this.nodes.get(to);
      if (!dst || dst.status === "crashed") return;
      if (this.groups && this.groups.get(from.addr) !== this.groups.get(to)) return;
      if (dst.status === "hung") dst.inbox.push([from.addr, copy]);
      else dst.swim.receive(from.addr, copy);
    });
  }

  crash(addr: string): void {
    this.nodes.get(addr)!.status = "crashed";
  }

  hang(addr: string): void {
    this.nodes.get(addr)!.status = "hung";
  }

  /**
   * SIGCONT: the node runs again. Its overdue timers and the messages queued while it was
   * stopped are processed in either order (`timersFirst` is the harder one).
   */
  resume(addr: string, timersFirst = false): void {
    const n = this.nodes.get(addr)!;
    n.status = "up";
    const inbox = n.inbox.splice(0);
    const deferred = n.deferred.splice(0);
    const msgs = () => {
      for (const [from, msg] of inbox) n.swim.receive(from, msg);
    };
    if (!timersFirst) msgs();
    for (const fn of deferred) fn();
    if (timersFirst) msgs();
  }

  /** Advance virtual time to `t`, running everything due. */
  runUntil(t: number): void {
    for (;;) {
      const e = this.#heap.peek();
      if (!e || e.at > t) break;
      this.#heap.pop();
      if (e.cancelled) continue;
      this.now = e.at;
      const o = e.owner;
      if (o) {
        if (o.status === "crashed") continue;
        if (o.status === "hung") {
          o.deferred.push(e.fn);
          continue;
        }
      }
      e.fn();
    }
    this.now = t;
  }

  run(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /** Run until `pred` holds (checked every `stepMs`); returns the elapsed ms or -1. */
  runUntilTrue(pred: () => boolean, maxMs: number, stepMs = 5): number {
    const start = this.now;
    while (this.now - start <= maxMs) {
      if (pred()) return this.now - start;
      this.run(stepMs);
    }
    return pred() ? this.now - start : -1;
  }

  up(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.status === "up");
  }

  /** Every up node sees every other up node alive. */
  converged(): boolean {
    const up = this.up();
    const ids = up.map((n) => n.swim.nodeId);
    return up.every((n) =>
      ids.every((id) => id === n.swim.nodeId || n.swim.member(id)?.state === "alive")
    );
  }

  /** Every up node other than `nodeId` itself sees `nodeId` in `state`. */
  allSee(nodeId: string, state: Member["state"]): boolean {
    return this.up().every((n) =>
      n.swim.nodeId === nodeId || n.swim.member(nodeId)?.state === state
    );
  }

  /** Start `n` nodes n0..n(n-1); n0 starts alone, the others join it at `staggerMs` steps. */
  async cluster(n: number, staggerMs = 0): Promise<SimNode[]> {
    const nodes: SimNode[] = [];
    for (let i = 0; i < n; i++) nodes.push(this.add(`n${i}`));
    nodes[0].swim.start();
    const joins: Promise<unknown>[] = [];
    for (let i = 1; i < n; i++) {
      if (staggerMs > 0) this.run(staggerMs);
      joins.push(nodes[i].swim.join([nodes[0].addr]));
    }
    this.run(10);
    await Promise.all(joins);
    return nodes;
  }

  stopAll(): void {
    for (const n of this.nodes.values()) n.swim.stop();
  }
}

const LOG = (() => {
  try {
    return Deno.env.get("SWIM_SIM_LOG") === "1";
  } catch {
    return false;
  }
})();
function log(...args: unknown[]): void {
  if (LOG) console.log("  [sim]", ...args);
}

// ------------------------------------------------------------------ unit tests of the rules

function harness(config: Partial<SwimConfig> = {}): {
  swim: Swim;
  sent: [string, SwimMessage][];
  events: MemberEvent[];
  sim: Sim;
} {
  const sim = new Sim(1, config);
  const sent: [string, SwimMessage][] = [];
  const events: MemberEvent[] = [];
  const swim = new Swim({
    nodeId: "me",
    addr: "A",
    send: (to, msg) => sent.push([to, structuredClone(msg)]),
    clock: sim.clockFor(() => undefined as unknown as SimNode),
    random: rng(7),
    config,
    onChange: (e) => events.push(e),
  });
  swim.start();
  return { swim, sent, events, sim };
}

function rec(
  nodeId: string,
  state: Member["state"],
  incarnation: number,
  extra: Partial<MemberRecord> = {},
): MemberRecord {
  return { nodeId, addr: `addr-${nodeId}`, state, incarnation, ...extra };
}

Deno.test("rules: higher incarnation wins; at equal incarnation alive < suspect < dead < left", () => {
  const { swim, sim } = harness();
  const g = (r: MemberRecord) => swim.receive("x", { t: "gossip", from: "x", g: [r] });
  g(rec("b", "alive", 1));
  assertEquals(swim.member("b")?.state, "alive");
  g(rec("b", "suspect", 0)); // stale
  assertEquals(swim.member("b")?.state, "alive");
  g(rec("b", "suspect", 1, { by: "x" }));
  assertEquals(swim.member("b")?.state, "suspect");
  g(rec("b", "alive", 1)); // same incarnation cannot refute
  assertEquals(swim.member("b")?.state, "suspect");
  g(rec("b", "alive", 2)); // refutation
  assertEquals(swim.member("b")?.state, "alive");
  g(rec("b", "dead", 2));
  assertEquals(swim.member("b")?.state, "dead");
  g(rec("b", "alive", 2)); // stale gossip cannot resurrect a tombstone
  assertEquals(swim.member("b")?.state, "dead");
  g(rec("b", "left", 2));
  assertEquals(swim.member("b")?.state, "left");
  g(rec("b", "alive", 3)); // only the node itself can come back, with a higher incarnation
  assertEquals(swim.member("b")?.state, "alive");
  swim.stop();
  void sim;
});

Deno.test("rules: a node refutes suspicion and death by raising its incarnation", () => {
  const { swim, sent } = harness();
  swim.receive("x", { t: "gossip", from: "x", g: [rec("me", "suspect", 0, { by: "x" })] });
  assertEquals(swim.self.incarnation, 1);
  assertEquals(swim.self.state, "alive");
  swim.receive("x", { t: "gossip", from: "x", g: [rec("me", "dead", 5)] });
  assertEquals(swim.self.incarnation, 6);
  swim.receive("x", { t: "gossip", from: "x", g: [rec("me", "suspect", 2)] }); // stale: ignored
  assertEquals(swim.self.incarnation, 6);
  // The refutation rides on the next message.
  swim.receive("x", { t: "ping", from: "x", seq: 1, to: "me" });
  const ack = sent.at(-1)![1];
  assertEquals(ack.t, "ack");
  assert("g" in ack && ack.g?.some((r) => r.nodeId === "me" && r.incarnation === 6));
  swim.stop();
});

Deno.test("rules: suspicion times out to dead; timeout is long with one suspecter, short with confirmations", () => {
  const { swim, sim, events } = harness();
  const g = (r: MemberRecord) => swim.receive("x", { t: "gossip", from: "x", g: [r] });
  for (const id of ["b", "c", "d", "e", "f"]) g(rec(id, "alive", 0));
  const { minMs, maxMs } = swim.suspicionTimeouts();
  assertEquals(minMs, 800); // n = 6 -> 4 * max(1, log10 6) * 200
  assertEquals(maxMs, 4800);
  g(rec("b", "suspect", 0, { by: "c" }));
  g(rec("c", "suspect", 0, { by: "b" }));
  g(rec("c", "suspect", 0, { by: "d" }));
  g(rec("c", "suspect", 0, { by: "e" })); // two confirmations: minimum timeout
  sim.run(minMs + 1);
  assertEquals(swim.member("c")?.state, "dead");
  assertEquals(swim.member("b")?.state, "suspect"); // one suspecter: still waiting
  sim.run(maxMs - minMs);
  assertEquals(swim.member("b")?.state, "dead");
  assert(events.some((e) => e.type === "dead" && e.member.nodeId === "b"));
  swim.stop();
});

Deno.test("rules: tombstones are forgotten after tombstoneMs", () => {
  const { swim, sim, events } = harness({ tombstoneMs: 5000 });
  swim.receive("x", { t: "gossip", from: "x", g: [rec("b", "alive", 0)] });
  swim.receive("x", { t: "gossip", from: "x", g: [rec("b", "dead", 0)] });
  sim.run(3000);
  assertEquals(swim.member("b")?.state, "dead");
  sim.run(4000);
  assertEquals(swim.member("b"), undefined);
  assert(events.some((e) => e.type === "forgotten"));
  swim.stop();
});

Deno.test("rules: piggyback is bounded per message and each update is retransmitted a bounded number of times", () => {
  const { swim, sent } = harness({ maxPiggyback: 4 });
  const g: MemberRecord[] = [];
  for (let i = 0; i < 20; i++) g.push(rec(`m${i}`, "alive", 0));
  swim.receive("x", { t: "gossip", from: "x", g });
  let carried = 0;
  for (let i = 0; i < 100; i++) {
    swim.receive("x", { t: "ping", from: "x", seq: i, to: "me" });
    const m = sent.at(-1)![1];
    const n = "g" in m ? m.g?.length ?? 0 : 0;
    assert(n <= 4);
    carried += n;
  }
  // 21 members + self: limit = 4 * ceil(log10 23) = 8 transmissions each, 21 updates queued.
  assertEquals(carried, 21 * 8);
  swim.stop();
});

// ------------------------------------------------------------------ simulation tests

Deno.test("sim: 3 nodes converge to all-alive within one round trip of the joins", async () => {
  const sim = new Sim(11);
  const t0 = sim.now;
  await sim.cluster(3);
  const t = sim.runUntilTrue(() => sim.converged(), 2000, 1);
  log(`3 nodes: converged ${sim.now - t0} ms after the joins (${t} ms after join replies)`);
  assert(t >= 0 && sim.now - t0 <= 3 * 200, `took ${sim.now - t0} ms`);
  sim.stopAll();
});

Deno.test("sim: 50 nodes joining one seed at once converge within a few periods", async () => {
  const sim = new Sim(12);
  const t0 = sim.now;
  await sim.cluster(50);
  const t = sim.runUntilTrue(() => sim.converged(), 10_000, 10);
  log(`50 nodes (all join at once): converged ${sim.now - t0} ms after the joins`);
  assert(t >= 0 && sim.now - t0 <= 10 * 200, `took ${sim.now - t0} ms`);
  sim.stopAll();
});

async function detect(
  n: number,
  seed: number,
  how: "crash" | "hang",
): Promise<{ first: number; all: number }> {
  const sim = new Sim(seed);
  const nodes = await sim.cluster(n, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  sim.run(3000 + sim.rand() * 200);
  const victim = nodes[1 + Math.floor(sim.rand() * (n - 1))];
  const id = victim.swim.nodeId;
  const t0 = sim.now;
  if (how === "crash") sim.crash(victim.addr);
  else sim.hang(victim.addr);
  const first = sim.runUntilTrue(
    () => sim.up().some((x) => x.swim.member(id)?.state === "dead"),
    30_000,
    5,
  );
  sim.runUntilTrue(() => sim.allSee(id, "dead"), 30_000, 5);
  const all = sim.now - t0;
  sim.stopAll();
  return { first, all };
}

Deno.test("sim: a crashed node is declared dead by everyone within ~2 s (n = 10, 5 seeds)", async () => {
  const all: number[] = [];
  for (let s = 0; s < 5; s++) {
    const r = await detect(10, 100 + s, "crash");
    all.push(r.all);
    log(`n=10 crash seed ${s}: first dead ${r.first} ms, everyone ${r.all} ms`);
  }
  assert(all.every((t) => t > 0 && t <= 2500), `detection times ${all}`);
});

Deno.test("sim: a hung node (SIGSTOP, never resumed) is declared dead like a crash (n = 20)", async () => {
  const r = await detect(20, 200, "hang");
  log(`n=20 hang: first dead ${r.first} ms, everyone ${r.all} ms`);
  assert(r.all > 0 && r.all <= 3000, `detection ${r.all}`);
});

Deno.test("sim: a hung node that resumes before the suspicion timeout refutes and stays alive", async () => {
  const sim = new Sim(21);
  const nodes = await sim.cluster(10, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  sim.run(2000);
  const victim = nodes[4];
  const id = victim.swim.nodeId;
  const t0 = sim.now;
  sim.hang(victim.addr);
  // Wait until somebody suspects it, then resume it shortly after.
  const suspectedAfter = sim.runUntilTrue(
    () => sim.up().some((x) => x.swim.member(id)?.state === "suspect"),
    5000,
    5,
  );
  assert(suspectedAfter >= 0);
  sim.run(150);
  const hungFor = sim.now - t0;
  sim.resume(victim.addr);
  const refuted = sim.runUntilTrue(() => sim.allSee(id, "alive"), 5000, 5);
  sim.run(5000);
  const deaths = sim.up().flatMap((x) =>
    x.events.filter((e) => e.member.nodeId === id && e.type === "dead")
  );
  log(
    `hang ${hungFor} ms (first suspected after ${suspectedAfter} ms): everyone sees it alive ` +
      `again ${refuted} ms after resume; incarnation ${victim.swim.self.incarnation}`,
  );
  assertEquals(deaths.length, 0);
  assert(refuted >= 0);
  assert(victim.swim.self.incarnation >= 1);
  assert(sim.converged());
  sim.stopAll();
});

Deno.test("sim: a node hung for 10 s is declared dead, then refutes on resume, and its stale timers kill nobody", async () => {
  const sim = new Sim(23);
  const nodes = await sim.cluster(10, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  sim.run(2000);
  const victim = nodes[6];
  const id = victim.swim.nodeId;
  // Hang while it is in the middle of a probe and holds a suspicion of its own.
  // Only the victim loses n2 (n2's acks to it and every indirect ack to it are dropped), and
  // its suspicion never gets out before it hangs: the worst case for a stale suspicion.
  sim.drop = (from, to, msg) =>
    (to === victim.addr && (from === nodes[2].addr || msg.t === "ind-ack")) ||
    (from === victim.addr && "g" in msg && !!msg.g?.some((r) => r.state === "suspect"));
  assert(
    sim.runUntilTrue(() => victim.swim.member(nodes[2].swim.nodeId)?.state === "suspect", 10_000) >=
      0,
  );
  sim.drop = undefined;
  sim.hang(victim.addr);
  sim.runUntilTrue(() => sim.allSee(id, "dead"), 10_000);
  sim.run(10_000);
  const before = new Map([...sim.nodes.values()].map((n) => [n, n.events.length]));
  assertEquals(nodes[2].swim.self.incarnation, 0); // only the victim ever suspected n2
  sim.resume(victim.addr, true);
  const back = sim.runUntilTrue(() => sim.converged(), 10_000, 5);
  sim.run(5000);
  const deaths = sim.up().flatMap((n) =>
    n.events.slice(before.get(n)).filter((e) => e.type === "dead").map((e) => ({ at: n.addr, e }))
  );
  for (const d of deaths) log("death after resume:", d.at, JSON.stringify(d.e));
  log(
    `10 s hang: alive again everywhere ${back} ms after resume (incarnation ` +
      `${victim.swim.self.incarnation}); deaths caused by the resumed node: ${deaths.length}`,
  );
  assert(back >= 0 && back <= 2000, `back after ${back}`);
  assertEquals(deaths.length, 0);
  assert(sim.converged());
  sim.stopAll();
});

Deno.test("sim: 10% message loss for 60 s with 20 nodes causes no false deaths", async () => {
  const sim = new Sim(31);
  await sim.cluster(20, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  sim.loss = 0.1;
  const before = sim.up().map((n) => n.events.length);
  sim.run(60_000);
  const evs = sim.up().flatMap((n, i) => n.events.slice(before[i]));
  const deaths = evs.filter((e) => e.type === "dead");
  const suspicions = evs.filter((e) => e.type === "suspect");
  log(
    `20 nodes, 10% loss, 60 s: ${suspicions.length} suspect events (all refuted), ` +
      `${deaths.length} deaths`,
  );
  assertEquals(deaths.length, 0);
  assert(sim.converged());
  sim.stopAll();
});

Deno.test("sim: a graceful leave is seen as left by everyone at once", async () => {
  const sim = new Sim(41);
  const nodes = await sim.cluster(20, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  sim.run(1000);
  const leaver = nodes[7];
  const id = leaver.swim.nodeId;
  const p = leaver.swim.leave();
  const t = sim.runUntilTrue(
    () => sim.up().every((n) => n === leaver || n.swim.member(id)?.state === "left"),
    5000,
    1,
  );
  sim.run(500);
  await p;
  assert(!leaver.swim.running);
  sim.crash(leaver.addr); // gone
  sim.run(10_000);
  log(`leave: every node saw "left" after ${t} ms`);
  assert(t >= 0 && t <= 50, `took ${t} ms`);
  assert(sim.allSee(id, "left")); // no later "dead" or resurrection
  sim.stopAll();
});

Deno.test("sim: a restarted node (same address, new id) becomes alive and the old id dead", async () => {
  const sim = new Sim(51);
  const nodes = await sim.cluster(10, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  sim.run(1000);
  const oldId = nodes[3].swim.nodeId;
  sim.crash(nodes[3].addr);
  sim.run(50);
  const t0 = sim.now;
  const fresh = sim.add(nodes[3].addr);
  const joined = fresh.swim.join([nodes[0].addr]);
  const t = sim.runUntilTrue(
    () => sim.allSee(fresh.swim.nodeId, "alive") && sim.allSee(oldId, "dead"),
    5000,
    5,
  );
  assertEquals((await joined).joined, true);
  log(`restart: new id alive and old id dead everywhere ${sim.now - t0} ms after the restart`);
  assert(t >= 0 && sim.now - t0 <= 1500, `took ${sim.now - t0} ms`);
  sim.run(10_000);
  assert(sim.allSee(oldId, "dead") && sim.converged());
  sim.stopAll();
});

async function msgRate(n: number, seed: number): Promise<{ perNodePerPeriod: number }> {
  const sim = new Sim(seed);
  await sim.cluster(n, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 30_000, 20) >= 0);
  sim.run(5000);
  const before = sim.totalSent;
  const ms = 30_000;
  sim.run(ms);
  const periods = ms / 200;
  const perNodePerPeriod = (sim.totalSent - before) / n / periods;
  sim.stopAll();
  return { perNodePerPeriod };
}

Deno.test("sim: messages per node per period stay flat from n = 10 to n = 100", async () => {
  const a = await msgRate(10, 61);
  const b = await msgRate(100, 62);
  log(
    `messages/node/period: n=10 ${a.perNodePerPeriod.toFixed(3)}, ` +
      `n=100 ${b.perNodePerPeriod.toFixed(3)}`,
  );
  assert(a.perNodePerPeriod <= 3 && b.perNodePerPeriod <= 3);
  assert(b.perNodePerPeriod / a.perNodePerPeriod < 1.25);
});

Deno.test("sim: unreachable seeds: the node runs alone, says so, retries with backoff and joins later", async () => {
  const sim = new Sim(71);
  const lonely = sim.add("late-joiner");
  let result: { joined: boolean } | undefined;
  lonely.swim.join(["seed"]).then((r) => (result = r));
  sim.run(1100);
  await Promise.resolve();
  assertEquals(result?.joined, false);
  assert(lonely.swim.isolated);
  assertEquals(lonely.isolatedReports, [true]);
  const seedSends = () => sim.sentByType.get("sync") ?? 0;
  const before = seedSends();
  sim.run(10_000);
  const retries = seedSends() - before;
  assert(retries >= 3 && retries <= 6, `retries ${retries}`); // 2 s, 4 s, 8 s ... backoff
  // The seed comes up; the next retry joins.
  const seed = sim.add("seed");
  seed.swim.start();
  const t = sim.runUntilTrue(() => sim.converged() && !lonely.swim.isolated, 20_000, 10);
  log(`isolated node joined ${t} ms after the seed came up (backoff)`);
  assert(t >= 0);
  assertEquals(lonely.isolatedReports, [true, false]);
  sim.stopAll();
});

Deno.test("sim: a partition heals: both sides declare each other dead, then all come back", async () => {
  const sim = new Sim(81);
  const nodes = await sim.cluster(10, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  sim.groups = new Map(nodes.map((n, i) => [n.addr, i < 5 ? 0 : 1]));
  const split = sim.runUntilTrue(
    () =>
      nodes.every((n, i) =>
        nodes.every((o, j) => (i < 5) === (j < 5) || n.swim.member(o.swim.nodeId)?.state === "dead")
      ),
    20_000,
    10,
  );
  sim.run(2000);
  sim.groups = undefined;
  const healed = sim.runUntilTrue(() => sim.converged(), 30_000, 10);
  log(`partition 5|5: sides saw each other dead after ${split} ms; healed ${healed} ms after`);
  assert(split >= 0 && healed >= 0 && healed <= 10_000, `split ${split} healed ${healed}`);
  sim.stopAll();
});

Deno.test("sim: meta updates and application broadcasts reach every node", async () => {
  const sim = new Sim(91);
  const nodes = await sim.cluster(20, 5);
  assert(sim.runUntilTrue(() => sim.converged(), 20_000, 10) >= 0);
  const id = nodes[5].swim.nodeId;
  const seen: string[] = [];
  const unsubscribe = nodes[0].swim.subscribe((e) => {
    if (e.member.nodeId === id) seen.push(`${e.type}:${e.prev?.meta?.registryVersion}`);
  });
  nodes[5].swim.setMeta({ registryVersion: 42 });
  const tm = sim.runUntilTrue(
    () => sim.up().every((n) => n === nodes[5] || n.swim.member(id)?.meta?.registryVersion === 42),
    5000,
    5,
  );
  assert(tm >= 0);
  assertEquals(seen, ["updated:undefined"]); // a registry layer learns "n5 is at version 42"
  unsubscribe();
  nodes[2].swim.broadcast({ op: "register", name: "svc/a" });
  const tb = sim.runUntilTrue(
    () => nodes.every((n, i) => i === 2 || n.broadcasts.length === 1),
    5000,
    5,
  );
  log(`meta update seen everywhere after ${tm} ms; broadcast delivered everywhere after ${tb} ms`);
  assert(tb >= 0);
  sim.run(5000);
  assert(nodes.every((n, i) => n.broadcasts.length === (i === 2 ? 0 : 1))); // exactly once
  assertEquals(nodes[9].broadcasts[0], [nodes[2].swim.nodeId, { op: "register", name: "svc/a" }]);
  sim.stopAll();
});
