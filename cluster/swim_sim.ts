/**
 * A deterministic simulator for {@linkcode Swim}: a virtual clock, a seeded random source and
 * a simulated network with per-link loss and delay, crashes (stop responding), hangs (stop
 * responding, later resume with the queued messages and overdue timers, like SIGSTOP/SIGCONT),
 * partitions and — optionally — the stale connections a real transport has after a pause
 * (see {@linkcode SwimSim.staleConnections}). No sockets, no real time: the same membership
 * code as in production runs against it, so a run with a given seed is reproducible.
 *
 * It also holds the three measurements the membership issue asks for, shared by
 * `cluster/swim_test.ts` and `bench/swim_sim_bench.ts`: {@linkcode measureDetection},
 * {@linkcode measureFalsePositives} and {@linkcode measureMessageRate}.
 *
 * @example
 * ```ts
 * import { SwimSim } from "./swim_sim.ts";
 * const sim = new SwimSim(1);
 * const nodes = await sim.cluster(5);
 * sim.runUntilTrue(() => sim.converged(), 5000);
 * sim.crash(nodes[3].addr);
 * const ms = sim.runUntilTrue(() => sim.allSee(nodes[3].swim.nodeId, "dead"), 10_000);
 * console.log(ms > 0); // true
 * sim.stopAll();
 * ```
 *
 * @module
 */

import {
  type Member,
  type MemberEvent,
  Swim,
  type SwimClock,
  type SwimConfig,
  type SwimMessage,
  type SwimTimer,
} from "./swim.ts";

/**
 * mulberry32: a small, fast, seeded uniform random source in [0, 1).
 *
 * @param seed Any 32-bit integer.
 * @returns The generator.
 * @example
 * ```ts
 * import { rng } from "./swim_sim.ts";
 * const a = rng(42), b = rng(42);
 * console.log(a() === b()); // true
 * ```
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Process status of a simulated node: running, crashed (gone for good), or hung (SIGSTOP:
 * messages and timers queue up until {@linkcode SwimSim.resume}).
 *
 * @example
 * ```ts
 * import type { SimStatus } from "./swim_sim.ts";
 * const s: SimStatus = "hung";
 * console.log(s); // "hung"
 * ```
 */
export type SimStatus = "up" | "crashed" | "hung";

/**
 * One simulated node: its {@linkcode Swim} instance and what it saw.
 *
 * @example
 * ```ts
 * import { SwimSim, type SimNode } from "./swim_sim.ts";
 * const sim = new SwimSim(1);
 * const n: SimNode = sim.add("a");
 * console.log(n.status, n.sent); // "up" 0
 * ```
 */
export interface SimNode {
  /** Its address. */
  addr: string;
  /** The membership code under test. */
  swim: Swim;
  /** Process status. */
  status: SimStatus;
  /** Messages that arrived while hung, delivered on resume. */
  inbox: [string, SwimMessage][];
  /** Timers that fired while hung, run on resume. */
  deferred: (() => void)[];
  /** Messages it sent. */
  sent: number;
  /** Every membership event it emitted. */
  events: MemberEvent[];
  /** Every `onIsolated` report. */
  isolatedReports: boolean[];
  /** Application broadcasts it received, as `[origin, data]`. */
  broadcasts: [string, unknown][];
}

/** Deep copy of msgpack-like data; much faster than `structuredClone` for small messages. */
function clonePlain(x: unknown): unknown {
  if (typeof x !== "object" || x === null) return x;
  if (Array.isArray(x)) return x.map(clonePlain);
  if (Object.getPrototypeOf(x) !== Object.prototype) return structuredClone(x);
  const out: Record<string, unknown> = {};
  for (const k in x) out[k] = clonePlain((x as Record<string, unknown>)[k]);
  return out;
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

/**
 * The simulated cluster: virtual time, a seeded network, and the nodes on it.
 *
 * @example
 * ```ts
 * import { SwimSim } from "./swim_sim.ts";
 * const sim = new SwimSim(7, { periodMs: 200 });
 * sim.loss = 0.05;
 * await sim.cluster(10, 5);
 * console.log(sim.runUntilTrue(() => sim.converged(), 10_000) >= 0); // true
 * sim.stopAll();
 * ```
 */
export class SwimSim {
  /** Virtual time in ms. */
  now = 0;
  /** The simulator's own seeded random source (loss, delays, node seeds). */
  rand: () => number;
  /** Probability that any message is lost. */
  loss = 0;
  /** Extra per-link loss, keyed `"from>to"`. */
  linkLoss: Map<string, number> = new Map();
  /** Drop messages for which this returns true (targeted faults). */
  drop: ((from: string, to: string, msg: SwimMessage) => boolean) | undefined;
  /** One-way delay in ms (default uniform 0.2–1 ms). */
  delay: () => number;
  /** Address → partition group; messages between different groups are dropped. */
  groups: Map<string, number> | undefined;
  /**
   * Model the transport's connections: when node A declares B dead (or left), A closes its
   * connection with B. B only notices when it reads the end of the stream — at once if it is
   * running, `eofDelayMs` after it resumes if it was hung — and everything B sends A before
   * that is lost. Off by default.
   */
  staleConnections = false;
  /** How long a running node takes to notice a closed connection (ms). */
  eofDelayMs = 5;
  /** Every node by address (the latest one at a reused address). */
  nodes: Map<string, SimNode> = new Map();
  /** Messages sent by all nodes. */
  totalSent = 0;
  /** Messages sent, by type. */
  sentByType: Map<string, number> = new Map();
  /** Messages lost on stale connections (see {@linkcode SwimSim.staleConnections}). */
  lostOnStale = 0;
  /** Config overrides applied to every node. */
  config: Partial<SwimConfig>;
  #heap = new Heap();
  #seq = 0;
  #ids = 0;
  /** `"from>to"` → time from which the link works again (Infinity: not noticed yet). */
  #stale: Map<string, number> = new Map();

  /**
   * An empty simulated network at virtual time 0.
   *
   * @param seed Seed of every random choice in the run.
   * @param config SWIM overrides for every node.
   */
  constructor(seed: number, config: Partial<SwimConfig> = {}) {
    this.rand = rng(seed);
    this.delay = () => 0.2 + this.rand() * 0.8;
    this.config = config;
  }

  /** Run `fn` after `ms` of virtual time (as a timer of `owner`, which pauses with it). */
  schedule(ms: number, fn: () => void, owner?: SimNode): { cancel(): void } {
    const e: Ev = { at: this.now + Math.max(0, ms), seq: ++this.#seq, fn, owner, cancelled: false };
    this.#heap.push(e);
    return { cancel: () => (e.cancelled = true) };
  }

  /** A {@linkcode SwimClock} on virtual time whose timers belong to `owner()`. */
  clockFor(owner: () => SimNode | undefined): SwimClock {
    return {
      now: () => this.now,
      setTimer: (fn: () => void, ms: number): SwimTimer => this.schedule(ms, fn, owner()),
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
      onChange: (e) => {
        node.events.push(e);
        if (this.staleConnections && (e.type === "dead" || e.type === "left")) {
          this.#closeLink(e.member.addr, addr);
        }
      },
      onIsolated: (v) => node.isolatedReports.push(v),
      onBroadcast: (origin, data) => node.broadcasts.push([origin, data]),
    });
    const old = this.nodes.get(addr);
    if (old) old.status = "crashed";
    this.nodes.set(addr, node);
    return node;
  }

  /** `closer` closed its connection with `peer`: `peer`'s sends to it are lost until noticed. */
  #closeLink(peer: string, closer: string): void {
    const p = this.nodes.get(peer);
    const at = p?.status === "up" ? this.now + this.eofDelayMs : Infinity;
    this.#stale.set(`${peer}>${closer}`, at);
  }

  #send(from: SimNode, to: string, msg: SwimMessage): void {
    if (from.status !== "up") return;
    from.sent++;
    this.totalSent++;
    this.sentByType.set(msg.t, (this.sentByType.get(msg.t) ?? 0) + 1);
    if (this.#stale.size > 0) {
      const key = `${from.addr}>${to}`;
      const until = this.#stale.get(key);
      if (until !== undefined) {
        if (this.now < until) {
          this.lostOnStale++;
          return;
        }
        this.#stale.delete(key);
      }
    }
    if (this.rand() < this.loss) return;
    const ll = this.linkLoss.get(`${from.addr}>${to}`);
    if (ll !== undefined && this.rand() < ll) return;
    if (this.drop?.(from.addr, to, msg)) return;
    if (this.groups && this.groups.get(from.addr) !== this.groups.get(to)) return;
    const copy = clonePlain(msg) as SwimMessage; // what crosses the wire is plain data
    this.schedule(this.delay(), () => {
      const dst = this.nodes.get(to);
      if (!dst || dst.status === "crashed") return;
      if (this.groups && this.groups.get(from.addr) !== this.groups.get(to)) return;
      if (dst.status === "hung") dst.inbox.push([from.addr, copy]);
      else dst.swim.receive(from.addr, copy);
    });
  }

  /** kill -9: the node stops for good. */
  crash(addr: string): void {
    this.nodes.get(addr)!.status = "crashed";
  }

  /** SIGSTOP: messages and timers queue until {@linkcode SwimSim.resume}. */
  hang(addr: string): void {
    this.nodes.get(addr)!.status = "hung";
  }

  /**
   * SIGCONT: the node runs again. Its overdue timers and the messages queued while it was
   * stopped are processed in either order (`timersFirst` is the harder one). With
   * {@linkcode SwimSim.staleConnections}, it notices its closed connections `eofDelayMs` later.
   */
  resume(addr: string, timersFirst = false): void {
    const n = this.nodes.get(addr)!;
    n.status = "up";
    for (const [k, until] of this.#stale) {
      if (until === Infinity && k.startsWith(`${addr}>`)) {
        this.#stale.set(k, this.now + this.eofDelayMs);
      }
    }
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

  /** Advance virtual time by `ms`. */
  run(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /** Run until `pred` holds (checked every `stepMs`); returns the elapsed ms, or -1. */
  runUntilTrue(pred: () => boolean, maxMs: number, stepMs = 5): number {
    const start = this.now;
    while (this.now - start <= maxMs) {
      if (pred()) return this.now - start;
      this.run(stepMs);
    }
    return pred() ? this.now - start : -1;
  }

  /** The running nodes. */
  up(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.status === "up");
  }

  /** Every running node sees every other running node alive. */
  converged(): boolean {
    return this.convergedAmong(this.up());
  }

  /** Every node of `nodes` sees every other one alive. */
  convergedAmong(nodes: SimNode[]): boolean {
    // Cheap necessary condition first: O(n) instead of O(n²) while it does not hold.
    if (nodes.some((n) => n.swim.liveCount < nodes.length)) return false;
    const ids = nodes.map((n) => n.swim.nodeId);
    return nodes.every((n) =>
      ids.every((id) => id === n.swim.nodeId || n.swim.member(id)?.state === "alive")
    );
  }

  /** Every running node other than `nodeId` itself sees `nodeId` in `state`. */
  allSee(nodeId: string, state: Member["state"]): boolean {
    return this.up().every((n) =>
      n.swim.nodeId === nodeId || n.swim.member(nodeId)?.state === state
    );
  }

  /**
   * Start `n` nodes `${prefix}0`…: the first starts alone, the others join it at `staggerMs`
   * steps (all at once with 0). Resolves when every join answered.
   */
  async cluster(n: number, staggerMs = 0, prefix = "n"): Promise<SimNode[]> {
    const nodes: SimNode[] = [];
    for (let i = 0; i < n; i++) nodes.push(this.add(`${prefix}${i}`));
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

  /**
   * Start `n` nodes `${prefix}0`… that already know each other alive, as if every join and
   * its dissemination were over: each receives one full-state answer listing all of them.
   * Skips the minutes of virtual time (and the real time) that 1000 joins take, for
   * measurements of a steady cluster.
   */
  formed(n: number, prefix = "n"): SimNode[] {
    const nodes: SimNode[] = [];
    for (let i = 0; i < n; i++) nodes.push(this.add(`${prefix}${i}`));
    for (const x of nodes) x.swim.start();
    const members = nodes.map((x) => x.swim.self);
    nodes.forEach((x, i) => {
      const via = nodes[(i + 1) % n];
      if (via === x) return;
      x.swim.receive(via.addr, {
        t: "sync-ack",
        from: via.swim.nodeId,
        seq: -1,
        join: true,
        members,
      });
    });
    return nodes;
  }

  /** Stop every node's protocol (ends the run). */
  stopAll(): void {
    for (const n of this.nodes.values()) n.swim.stop();
  }
}

/**
 * How a measurement builds its cluster: `"join"` (everyone joins one seed, then converges:
 * the real path, slow beyond a few hundred nodes) or `"formed"` (see
 * {@linkcode SwimSim.formed}).
 *
 * @example
 * ```ts
 * import type { SimStart } from "./swim_sim.ts";
 * const s: SimStart = "formed";
 * console.log(s); // "formed"
 * ```
 */
export type SimStart = "join" | "formed";

async function build(sim: SwimSim, n: number, start: SimStart): Promise<SimNode[]> {
  const nodes = start === "formed" ? sim.formed(n) : await sim.cluster(n, n > 200 ? 2 : 5);
  if (sim.runUntilTrue(() => sim.converged(), 120_000, 20) < 0) {
    sim.stopAll();
    throw new Error(`n=${n}: the cluster did not converge`);
  }
  return nodes;
}

/**
 * Result of {@linkcode measureDetection}.
 *
 * @example
 * ```ts
 * import type { DetectionResult } from "./swim_sim.ts";
 * const r: DetectionResult = { firstMs: 900, allMs: 1400 };
 * console.log(r.allMs - r.firstMs); // 500
 * ```
 */
export interface DetectionResult {
  /** From the failure until the first node declared it dead (-1: never). */
  firstMs: number;
  /** From the failure until every other node declared it dead (-1: never, within 60 s). */
  allMs: number;
}

/**
 * Build a converged cluster of `n`, then crash (or hang) one random node and measure how long
 * until the first node, and every node, declares it dead.
 *
 * @param n Cluster size.
 * @param seed Random seed of the run.
 * @param how `"crash"` (kill -9) or `"hang"` (SIGSTOP, never resumed).
 * @param config SWIM overrides.
 * @param start How the cluster is built (default `"join"`).
 * @returns The two times.
 * @example
 * ```ts
 * import { measureDetection } from "./swim_sim.ts";
 * const r = await measureDetection(10, 1);
 * console.log(r.allMs > 0 && r.allMs < 3000); // true
 * ```
 */
export async function measureDetection(
  n: number,
  seed: number,
  how: "crash" | "hang" = "crash",
  config: Partial<SwimConfig> = {},
  start: SimStart = "join",
): Promise<DetectionResult> {
  const sim = new SwimSim(seed, config);
  const nodes = await build(sim, n, start);
  sim.run(3000 + sim.rand() * 200);
  const victim = nodes[1 + Math.floor(sim.rand() * (n - 1))];
  const id = victim.swim.nodeId;
  const t0 = sim.now;
  if (how === "crash") sim.crash(victim.addr);
  else sim.hang(victim.addr);
  const firstMs = sim.runUntilTrue(
    () => sim.up().some((x) => x.swim.member(id)?.state === "dead"),
    60_000,
    5,
  );
  const rest = sim.runUntilTrue(() => sim.allSee(id, "dead"), 60_000, 5);
  const allMs = rest < 0 ? -1 : sim.now - t0;
  sim.stopAll();
  return { firstMs, allMs };
}

/**
 * Result of {@linkcode measureFalsePositives}.
 *
 * @example
 * ```ts
 * import type { FalsePositiveResult } from "./swim_sim.ts";
 * const r: FalsePositiveResult = {
 *   falselyDead: 0, deadEvents: 0, suspectEvents: 12, rate: 0, suspicionsPerNodeMin: 0.6,
 *   msgsPerNodeSec: 11.2,
 * };
 * console.log(r.rate); // 0
 * ```
 */
export interface FalsePositiveResult {
  /** Live nodes declared dead by at least one other node during the window. */
  falselyDead: number;
  /** "dead" events about live nodes, over all observers. */
  deadEvents: number;
  /** "suspect" events (refuted or not), over all observers. */
  suspectEvents: number;
  /** `falselyDead / n`: the share of live nodes falsely declared dead. */
  rate: number;
  /**
   * Suspicion episodes (a member suspected at one incarnation, however many nodes saw it) per
   * node per minute; each refuted one is a near miss.
   */
  suspicionsPerNodeMin: number;
  /** Messages sent per node per second during the lossy window (indirect probes included). */
  msgsPerNodeSec: number;
}

/**
 * Build a converged cluster of `n` with no failure, then lose `loss` of all messages for
 * `windowMs` and count false suspicions and false deaths.
 *
 * @param n Cluster size.
 * @param seed Random seed of the run.
 * @param loss Message loss probability during the window (e.g. 0.05).
 * @param windowMs Length of the lossy window (virtual ms).
 * @param config SWIM overrides.
 * @param start How the cluster is built (default `"join"`).
 * @returns Counts and rates.
 * @example
 * ```ts
 * import { measureFalsePositives } from "./swim_sim.ts";
 * const r = await measureFalsePositives(10, 1, 0.05, 10_000);
 * console.log(r.falselyDead); // 0
 * ```
 */
export async function measureFalsePositives(
  n: number,
  seed: number,
  loss: number,
  windowMs: number,
  config: Partial<SwimConfig> = {},
  start: SimStart = "join",
): Promise<FalsePositiveResult> {
  const sim = new SwimSim(seed, config);
  const nodes = await build(sim, n, start);
  sim.run(2000);
  const before = nodes.map((x) => x.events.length);
  sim.loss = loss;
  const sentBefore = sim.totalSent;
  sim.run(windowMs);
  const msgsPerNodeSec = (sim.totalSent - sentBefore) / n / (windowMs / 1000);
  const evs = nodes.flatMap((x, i) => x.events.slice(before[i]));
  const dead = evs.filter((e) => e.type === "dead");
  const falselyDead = new Set(dead.map((e) => e.member.nodeId)).size;
  const suspects = evs.filter((e) => e.type === "suspect");
  const suspectEvents = suspects.length;
  // One suspicion is seen by every observer: count episodes (member, incarnation) once.
  const episodes = new Set(suspects.map((e) => `${e.member.nodeId}:${e.member.incarnation}`));
  sim.stopAll();
  return {
    falselyDead,
    deadEvents: dead.length,
    suspectEvents,
    rate: falselyDead / n,
    suspicionsPerNodeMin: episodes.size / n / (windowMs / 60_000),
    msgsPerNodeSec,
  };
}

/**
 * Build a converged cluster of `n`, let it settle, then count the messages each node sends
 * per second over `windowMs` (optionally under message loss, which adds indirect probes).
 *
 * @param n Cluster size.
 * @param seed Random seed of the run.
 * @param windowMs Measured window (virtual ms).
 * @param loss Message loss during the window.
 * @param config SWIM overrides.
 * @param start How the cluster is built (default `"join"`).
 * @returns Messages per node per second.
 * @example
 * ```ts
 * import { measureMessageRate } from "./swim_sim.ts";
 * const perSec = await measureMessageRate(10, 1, 10_000);
 * console.log(perSec > 5 && perSec < 15); // true
 * ```
 */
export async function measureMessageRate(
  n: number,
  seed: number,
  windowMs = 30_000,
  loss = 0,
  config: Partial<SwimConfig> = {},
  start: SimStart = "join",
): Promise<number> {
  const sim = new SwimSim(seed, config);
  await build(sim, n, start);
  sim.run(5000);
  sim.loss = loss;
  const before = sim.totalSent;
  sim.run(windowMs);
  const perNodePerSec = (sim.totalSent - before) / n / (windowMs / 1000);
  sim.stopAll();
  return perNodePerSec;
}
