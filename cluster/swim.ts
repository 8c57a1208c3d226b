/**
 * SWIM cluster membership as a pure, transport-agnostic state machine.
 *
 * The protocol (Das, Gupta, Motivala 2002, with the Lifeguard suspicion refinement used by
 * HashiCorp memberlist):
 *
 * - Every protocol period a node probes one member, round-robin over a list that is reshuffled
 *   each round. No ack within the probe timeout: it asks `indirectProbes` other members to probe
 *   the target (`ping-req`). Still no ack at the end of the period: the target becomes
 *   **suspect**.
 * - A suspect that does not refute within the suspicion timeout becomes **dead**. The timeout
 *   scales with log(n) and starts long (`suspicionMaxMult` × the minimum) when only one node
 *   suspects; every independent confirmation shortens it, down to the minimum. A single lossy
 *   link therefore cannot kill a node, while a real crash (seen by many probers) is declared
 *   dead fast.
 * - A node that hears it is suspect (or dead) refutes by bumping its incarnation number.
 * - Membership updates ride on protocol messages (piggybacked dissemination): a bounded buffer,
 *   each update sent about `retransmitMult · ⌈log10(n+1)⌉` times, least-sent and newest first,
 *   at most `maxPiggyback` per message. Per-node traffic per period is O(1) in the cluster size.
 * - Full state moves only on join (one push-pull round trip with every seed at once), on
 *   anti-entropy (one push-pull with a random member every `syncIntervalMs`), when trying
 *   to reach a dead member again (`reconnectIntervalMs`, heals partitions), on
 *   {@linkcode Swim.sync} (merge with a group formed separately, at any time), every
 *   `reconnectIntervalMs` with one seed address where no live member is known (so separately
 *   formed groups keep merging), and with a sender we do not know or think dead.
 * - Dead and left members stay as tombstones for `tombstoneMs`, so stale gossip cannot bring
 *   them back, then they are forgotten.
 *
 * Nothing here touches the network, the clock or randomness directly: all three are injected,
 * so the same code runs on a real transport and in a deterministic simulator.
 *
 * Ordering of records about one member: a record supersedes another when its incarnation is
 * higher, or when the incarnations are equal and its state ranks higher
 * (`alive < suspect < dead < left`). Only the member itself raises its incarnation: to refute,
 * to change its meta, and to leave.
 *
 * @module
 */

/**
 * The state of a member as seen by one node.
 *
 * @example
 * ```ts
 * import type { MemberState } from "./swim.ts";
 * const s: MemberState = "suspect";
 * console.log(s); // "suspect"
 * ```
 */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/**
 * Small application data attached to a node (for example the version of its named-actor
 * registry). Must be encodable by msgpack; keep it small, it travels in gossip.
 *
 * @example
 * ```ts
 * import type { SwimMeta } from "./swim.ts";
 * const meta: SwimMeta = { registryVersion: 3, role: "worker" };
 * console.log(meta.role); // "worker"
 * ```
 */
export type SwimMeta = Record<string, unknown>;

/**
 * One member of the cluster as seen by the local node.
 *
 * @example
 * ```ts
 * import type { Member } from "./swim.ts";
 * const m: Member = { nodeId: "n1", addr: "10.0.0.1:7000", state: "alive", incarnation: 0 };
 * console.log(m.state); // "alive"
 * ```
 */
export interface Member {
  /** Unique id of the node process. A restarted process gets a new id. */
  nodeId: string;
  /** The address other nodes send to (what the transport passes as `toAddr`). */
  addr: string;
  /** Current state. */
  state: MemberState;
  /** Incarnation number; only the node itself increases it. */
  incarnation: number;
  /** Application data, disseminated with the member's alive record. */
  meta?: SwimMeta;
}

/**
 * A member record as carried on the wire, in gossip (`g`) and in full state (`members`).
 * `by` names the node that suspected it (suspect records only), used to count independent
 * confirmations.
 *
 * @example
 * ```ts
 * import type { MemberRecord } from "./swim.ts";
 * const r: MemberRecord = {
 *   nodeId: "n2", addr: "10.0.0.2:7000", state: "suspect", incarnation: 4, by: "n1",
 * };
 * console.log(r.by); // "n1"
 * ```
 */
export interface MemberRecord extends Member {
  /** The suspecting node (suspect records only). */
  by?: string;
}

/**
 * An application broadcast piggybacked on protocol messages (see {@linkcode Swim.broadcast}).
 * Identified by `(origin, seq)`; delivered at most once per node (within the dedup window).
 *
 * @example
 * ```ts
 * import type { UserBroadcast } from "./swim.ts";
 * const b: UserBroadcast = { origin: "n1", seq: 7, data: { op: "register", name: "svc/a" } };
 * console.log(b.seq); // 7
 * ```
 */
export interface UserBroadcast {
  /** Node that issued it. */
  origin: string;
  /** Per-origin sequence number. */
  seq: number;
  /** Application payload (msgpack-encodable). */
  data: unknown;
}

/**
 * Every message the protocol sends. All are plain objects that msgpack carries as they are.
 * `from` is always the sender's node id; `g` and `u` (omitted when empty) are the piggybacked
 * member updates and application broadcasts.
 *
 * - `ping` `{t, from, seq, to}`: probe; `to` is the node id the sender expects at that address.
 * - `ack` `{t, from, seq}`: answer to a ping, from the node that was pinged.
 * - `ping-req` `{t, from, seq, to, toAddr}`: please probe `to` at `toAddr` for me.
 * - `ind-ack` `{t, from, seq, to}`: the relay `from` got an ack from `to` for ping-req `seq`.
 * - `sync` `{t, from, seq, join, members}`: push full state, asking for the receiver's.
 * - `sync-ack` `{t, from, seq, join, members}`: the reply, with the receiver's full state.
 * - `gossip` `{t, from}`: piggyback only, no reply (used to announce a leave at once).
 *
 * @example
 * ```ts
 * import type { SwimMessage } from "./swim.ts";
 * const ping: SwimMessage = { t: "ping", from: "n1", seq: 1, to: "n2" };
 * console.log(ping.t); // "ping"
 * ```
 */
export type SwimMessage =
  | { t: "ping"; from: string; seq: number; to: string; g?: MemberRecord[]; u?: UserBroadcast[] }
  | { t: "ack"; from: string; seq: number; g?: MemberRecord[]; u?: UserBroadcast[] }
  | {
    t: "ping-req";
    from: string;
    seq: number;
    to: string;
    toAddr: string;
    g?: MemberRecord[];
    u?: UserBroadcast[];
  }
  | { t: "ind-ack"; from: string; seq: number; to: string; g?: MemberRecord[]; u?: UserBroadcast[] }
  | { t: "sync"; from: string; seq: number; join: boolean; members: MemberRecord[] }
  | { t: "sync-ack"; from: string; seq: number; join: boolean; members: MemberRecord[] }
  | { t: "gossip"; from: string; g?: MemberRecord[]; u?: UserBroadcast[] };

/**
 * A scheduled callback that can be cancelled.
 *
 * @example
 * ```ts
 * import { systemClock } from "./swim.ts";
 * const t = systemClock.setTimer(() => console.log("never"), 1000);
 * t.cancel();
 * ```
 */
export interface SwimTimer {
  /** Cancel; idempotent, harmless after the callback ran. */
  cancel(): void;
}

/**
 * Time source and timer scheduling. Tests inject a virtual clock.
 *
 * @example
 * ```ts
 * import type { SwimClock, SwimTimer } from "./swim.ts";
 * let now = 0;
 * const clock: SwimClock = {
 *   now: () => now,
 *   setTimer: (_fn: () => void, _ms: number): SwimTimer => ({ cancel() {} }),
 * };
 * console.log(clock.now()); // 0
 * ```
 */
export interface SwimClock {
  /** Current time in milliseconds (any monotonic origin). */
  now(): number;
  /** Run `fn` once after `ms` milliseconds. */
  setTimer(fn: () => void, ms: number): SwimTimer;
}

/**
 * The real clock: `performance.now()` and `setTimeout` (web standards, no runtime APIs).
 *
 * @example
 * ```ts
 * import { systemClock } from "./swim.ts";
 * console.log(systemClock.now() >= 0); // true
 * ```
 */
export const systemClock: SwimClock = {
  now: (): number => performance.now(),
  setTimer(fn: () => void, ms: number): SwimTimer {
    const h = setTimeout(fn, ms);
    return { cancel: (): void => clearTimeout(h) };
  },
};

/**
 * Protocol timings and limits. Every field has a default in {@linkcode DEFAULT_SWIM_CONFIG}.
 *
 * @example
 * ```ts
 * import { DEFAULT_SWIM_CONFIG, type SwimConfig } from "./swim.ts";
 * const wan: SwimConfig = { ...DEFAULT_SWIM_CONFIG, periodMs: 1000, probeTimeoutMs: 500 };
 * console.log(wan.periodMs); // 1000
 * ```
 */
export interface SwimConfig {
  /** Protocol period: one probe per period. */
  periodMs: number;
  /** Wait this long for a direct ack before asking others to probe. Less than `periodMs`. */
  probeTimeoutMs: number;
  /** Members asked to probe indirectly (k). */
  indirectProbes: number;
  /** Minimum suspicion timeout = `suspicionMult · max(1, log10 n) · periodMs`. */
  suspicionMult: number;
  /** Maximum suspicion timeout (one suspecter, no confirmation) = this × the minimum. */
  suspicionMaxMult: number;
  /** Independent confirmations that bring the suspicion timeout down to the minimum. */
  suspicionConfirmations: number;
  /** Each update is piggybacked `retransmitMult · ⌈log10(n + 1)⌉` times. */
  retransmitMult: number;
  /** At most this many updates (member records plus broadcasts) ride on one message. */
  maxPiggyback: number;
  /** Bound of the dissemination buffer; the most-sent entries are dropped beyond it. */
  maxQueue: number;
  /** A join with no answer from any seed within this time reports the node as isolated. */
  joinTimeoutMs: number;
  /** First retry delay for unreachable seeds; doubles up to `joinRetryMaxMs`. */
  joinRetryMs: number;
  /** Cap of the seed retry backoff. */
  joinRetryMaxMs: number;
  /**
   * A second push-pull with the seed this long after joining, to learn the members that joined
   * through it at the same time as us (0 = off).
   */
  joinSyncDelayMs: number;
  /**
   * Anti-entropy: full-state push-pull with one random live member this often, multiplied by
   * `1 + ⌈log2(n / 32)⌉` above 32 members (0 = off).
   */
  syncIntervalMs: number;
  /**
   * Ping one random dead member this often, and exchange full state if it answers: heals
   * partitions (0 = off).
   */
  reconnectIntervalMs: number;
  /** Dead and left members are forgotten after this long. */
  tombstoneMs: number;
  /** After `leave()`, keep answering for this long so the "left" record spreads. */
  leaveLingerMs: number;
  /** `leave()` sends its "left" record directly to at most this many live members. */
  leaveFanout: number;
  /** Application broadcasts are deduplicated for this long. */
  broadcastDedupMs: number;
}

/**
 * Defaults tuned for a LAN: period 200 ms, probe timeout 100 ms, minimum suspicion
 * 0.8 s at n ≤ 10, 1.6 s at n = 100, 2.4 s at n = 1000. Measured in simulation (1 ms links),
 * a crashed or hung node is declared dead by every member after about 1.1–1.8 s at n = 10,
 * 2.4–2.9 s at n = 100 and 3.3–4.2 s at n = 1000; each node sends 2 messages per period
 * (3 at 5% loss) whatever n.
 *
 * @example
 * ```ts
 * import { DEFAULT_SWIM_CONFIG } from "./swim.ts";
 * console.log(DEFAULT_SWIM_CONFIG.periodMs); // 200
 * ```
 */
export const DEFAULT_SWIM_CONFIG: Readonly<SwimConfig> = Object.freeze({
  periodMs: 200,
  probeTimeoutMs: 100,
  indirectProbes: 3,
  suspicionMult: 4,
  suspicionMaxMult: 6,
  suspicionConfirmations: 2,
  retransmitMult: 4,
  maxPiggyback: 16,
  maxQueue: 1024,
  joinTimeoutMs: 1000,
  joinRetryMs: 500,
  joinRetryMaxMs: 10_000,
  joinSyncDelayMs: 400,
  syncIntervalMs: 30_000,
  reconnectIntervalMs: 5_000,
  tombstoneMs: 60_000,
  leaveLingerMs: 200,
  leaveFanout: 64,
  broadcastDedupMs: 60_000,
});

/**
 * What happened to a member:
 * `up` (new, or back from dead/left), `alive` (suspicion refuted), `updated` (meta or address
 * changed while alive), `suspect`, `dead`, `left`, `forgotten` (tombstone expired).
 *
 * @example
 * ```ts
 * import type { MemberEventType } from "./swim.ts";
 * const t: MemberEventType = "dead";
 * console.log(t); // "dead"
 * ```
 */
export type MemberEventType =
  | "up"
  | "alive"
  | "updated"
  | "suspect"
  | "dead"
  | "left"
  | "forgotten";

/**
 * A membership change seen by the local node. Events are never emitted about the local node.
 *
 * @example
 * ```ts
 * import type { MemberEvent } from "./swim.ts";
 * const e: MemberEvent = {
 *   type: "up",
 *   member: { nodeId: "n2", addr: "b", state: "alive", incarnation: 0 },
 * };
 * console.log(e.prev); // undefined
 * ```
 */
export interface MemberEvent {
  /** Kind of change. */
  type: MemberEventType;
  /** The member after the change (a copy). */
  member: Member;
  /** The member before the change (a copy); undefined when it was unknown. */
  prev?: Member;
}

/**
 * Outcome of {@linkcode Swim.join}.
 *
 * @example
 * ```ts
 * import type { JoinResult } from "./swim.ts";
 * const r: JoinResult = { joined: true, seed: "10.0.0.1:7000" };
 * console.log(r.joined); // true
 * ```
 */
export interface JoinResult {
  /** True once a seed answered with its full state. */
  joined: boolean;
  /** The address of the seed that answered first. */
  seed?: string;
}

/**
 * Options of {@linkcode Swim.sync}.
 *
 * @example
 * ```ts
 * import type { SyncOptions } from "./swim.ts";
 * const o: SyncOptions = { remember: false, timeoutMs: 500 };
 * console.log(o.remember); // false
 * ```
 */
export interface SyncOptions {
  /**
   * Keep the addresses as seeds (default true): every `reconnectIntervalMs` the node exchanges
   * full state with one seed address where no live member is known, so separately formed
   * groups still merge if this exchange is lost, and a node left alone goes back to them.
   */
  remember?: boolean;
  /** Stop waiting for answers after this long (default `joinTimeoutMs`). */
  timeoutMs?: number;
}

/**
 * Outcome of {@linkcode Swim.sync}.
 *
 * @example
 * ```ts
 * import type { SyncResult } from "./swim.ts";
 * const r: SyncResult = { answered: ["10.0.0.2:7000"] };
 * console.log(r.answered.length); // 1
 * ```
 */
export interface SyncResult {
  /** The addresses that answered with their full state within the timeout. */
  answered: string[];
}

/**
 * Construction options of {@linkcode Swim}.
 *
 * @example
 * ```ts
 * import type { SwimOptions } from "./swim.ts";
 * const opts: SwimOptions = {
 *   nodeId: "n1",
 *   addr: "10.0.0.1:7000",
 *   send: (to, msg) => console.log(to, msg.t),
 *   config: { periodMs: 250 },
 * };
 * console.log(opts.nodeId); // "n1"
 * ```
 */
export interface SwimOptions {
  /** This node's unique id (new per process start). */
  nodeId: string;
  /** This node's advertised address. */
  addr: string;
  /** Initial meta of this node. */
  meta?: SwimMeta;
  /**
   * Fire-and-forget send. Must not throw synchronously for an unreachable peer (drop instead).
   * The receiving side must call {@linkcode Swim.receive} with this node's advertised `addr`.
   */
  send: (toAddr: string, msg: SwimMessage) => void;
  /** Clock and timers; default {@linkcode systemClock}. */
  clock?: SwimClock;
  /** Uniform random in [0, 1); default `Math.random`. Inject a seeded one for tests. */
  random?: () => number;
  /** Overrides of {@linkcode DEFAULT_SWIM_CONFIG}. */
  config?: Partial<SwimConfig>;
  /** Every change (same as {@linkcode Swim.subscribe}). */
  onChange?: (event: MemberEvent) => void;
  /** A member became alive (joined, or came back). */
  onMemberUp?: (member: Member) => void;
  /** A member became suspect. */
  onMemberSuspect?: (member: Member) => void;
  /** A member was declared dead. */
  onMemberDead?: (member: Member) => void;
  /** A member left gracefully. */
  onMemberLeft?: (member: Member) => void;
  /** `true` when no seed answered a join (the node runs alone); `false` once one does. */
  onIsolated?: (isolated: boolean) => void;
  /** An application broadcast arrived (once per `(origin, seq)`). */
  onBroadcast?: (origin: string, data: unknown) => void;
}

const RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
const STATES = new Set<string>(["alive", "suspect", "dead", "left"]);

interface Entry {
  member: Member;
  /** When it entered its current state. */
  since: number;
  /** Independent suspecters of the current suspicion (first one included). */
  suspecters?: Set<string>;
  suspectTimer?: SwimTimer;
}

interface QueueItem {
  record?: MemberRecord;
  user?: UserBroadcast;
  transmits: number;
  order: number;
}

interface Probe {
  seq: number;
  target: string;
  acked: boolean;
  timer?: SwimTimer;
}

interface Relay {
  requesterAddr: string;
  requesterSeq: number;
  target: string;
  timer: SwimTimer;
}

function copyMember(m: Member): Member {
  const c: Member = {
    nodeId: m.nodeId,
    addr: m.addr,
    state: m.state,
    incarnation: m.incarnation,
  };
  if (m.meta !== undefined) c.meta = m.meta;
  return c;
}

function isLive(s: MemberState): boolean {
  return s === "alive" || s === "suspect";
}

function sameMeta(a: SwimMeta | undefined, b: SwimMeta | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function validRecord(r: unknown): r is MemberRecord {
  if (typeof r !== "object" || r === null) return false;
  const x = r as Record<string, unknown>;
  return typeof x.nodeId === "string" && typeof x.addr === "string" &&
    typeof x.state === "string" && STATES.has(x.state) &&
    typeof x.incarnation === "number" && Number.isFinite(x.incarnation) &&
    (x.meta === undefined || (typeof x.meta === "object" && x.meta !== null)) &&
    (x.by === undefined || typeof x.by === "string");
}

/**
 * One node's SWIM membership. Drive it with {@linkcode Swim.receive} for every inbound message;
 * it sends through the injected `send` and schedules through the injected clock.
 *
 * @example
 * ```ts
 * import { Swim, type SwimMessage } from "./swim.ts";
 * const nodes = new Map<string, Swim>();
 * const send = (from: string) => (to: string, msg: SwimMessage) =>
 *   queueMicrotask(() => nodes.get(to)?.receive(from, msg));
 * for (const addr of ["a", "b"]) {
 *   nodes.set(addr, new Swim({ nodeId: `id-${addr}`, addr, send: send(addr) }));
 * }
 * nodes.get("a")!.start();
 * const r = await nodes.get("b")!.join(["a"]);
 * console.log(r.joined, nodes.get("a")!.aliveMembers().length); // true 1
 * for (const n of nodes.values()) n.stop();
 * ```
 */
export class Swim {
  /** Effective configuration. */
  readonly config: Readonly<SwimConfig>;

  #self: Member;
  #send: (toAddr: string, msg: SwimMessage) => void;
  #clock: SwimClock;
  #random: () => number;
  #opts: SwimOptions;

  #members: Map<string, Entry> = new Map();
  #live = 1; // alive + suspect members, self included
  #addrOwner: Map<string, string> = new Map();
  #listeners: Set<(e: MemberEvent) => void> = new Set();

  #queue: Map<string, QueueItem> = new Map();
  #order = 0;
  #seq = 0;

  #probeList: string[] = [];
  #probeIdx = 0;
  #probe: Probe | undefined;
  #relays: Map<number, Relay> = new Map();
  #reconnects: Map<number, string> = new Map();
  #tickTimer: SwimTimer | undefined;
  #tickDueAt = 0;

  #started = false;
  #running = false;
  #leaving = false;

  #seeds: string[] = [];
  #joined = false;
  #isolated = false;
  #joinWaiters: ((r: JoinResult) => void)[] = [];
  #joinTimer: SwimTimer | undefined;
  #retryTimer: SwimTimer | undefined;
  #retryDelay = 0;

  #bseq = 0;
  #seenBroadcasts: Map<string, number> = new Map();

  #unknownSyncs: Map<string, number> = new Map();
  /** Outstanding `sync()` exchanges: sync seq → the address asked and its waiter. */
  #pendingSyncs: Map<number, { addr: string; answered: () => void }> = new Map();
  #nextSyncAt = 0;
  #nextReconnectAt = 0;
  #nextSeedSyncAt = 0;
  #nextGcAt = 0;

  /** Create a node; call {@linkcode Swim.start} or {@linkcode Swim.join} to run it. */
  constructor(options: SwimOptions) {
    this.#opts = options;
    this.config = Object.freeze({ ...DEFAULT_SWIM_CONFIG, ...options.config });
    this.#send = options.send;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#self = {
      nodeId: options.nodeId,
      addr: options.addr,
      state: "alive",
      incarnation: 0,
    };
    if (options.meta !== undefined) this.#self.meta = options.meta;
  }

  // ---------------------------------------------------------------- public API

  /** This node's id. */
  get nodeId(): string {
    return this.#self.nodeId;
  }

  /** A copy of this node's own record. */
  get self(): Member {
    return copyMember(this.#self);
  }

  /** True when a join found no reachable seed and no other member is known alive. */
  get isolated(): boolean {
    return this.#isolated;
  }

  /** True between `start()`/`join()` and `stop()`/the end of `leave()`. */
  get running(): boolean {
    return this.#running;
  }

  /** Number of alive or suspect members, this node included. */
  get liveCount(): number {
    return this.#live;
  }

  /** Start the protocol loop (idempotent; `join` calls it). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#running = true;
    const now = this.#now();
    const c = this.config;
    this.#nextSyncAt = now + c.syncIntervalMs * (0.5 + this.#random());
    this.#nextReconnectAt = now + c.reconnectIntervalMs * (0.5 + this.#random());
    this.#nextSeedSyncAt = now + c.reconnectIntervalMs * (0.5 + this.#random());
    this.#nextGcAt = now + 1000;
    this.#enqueueRecord(this.#selfRecord());
    // Desynchronize the nodes' periods.
    this.#scheduleTick(c.periodMs * this.#random());
  }

  /**
   * Join through seed addresses: push our full state to every seed at once and pull theirs
   * (one round trip). Resolves on the first answer, or with `joined: false` after
   * `joinTimeoutMs` if no seed answered; the node then runs alone, reports `isolated`, and keeps
   * retrying the seeds with exponential backoff until one answers. With no seed other than
   * ourselves (the first node) it resolves `{ joined: false }` at once and is not isolated.
   * If every other member later disappears, the node goes back to its seeds the same way.
   */
  join(seedAddrs: string[]): Promise<JoinResult> {
    this.start();
    this.#seeds = [...new Set([...this.#seeds, ...seedAddrs])].filter((a) => a !== this.#self.addr);
    if (this.#seeds.length === 0 || !this.#running) {
      return Promise.resolve({ joined: this.#joined });
    }
    if (this.#joined) return Promise.resolve({ joined: true });
    const p = new Promise<JoinResult>((resolve) => this.#joinWaiters.push(resolve));
    this.#sendJoins();
    if (!this.#joinTimer) {
      this.#joinTimer = this.#clock.setTimer(() => {
        this.#joinTimer = undefined;
        if (this.#joined || !this.#running) return;
        this.#setIsolated(true);
        this.#resolveJoin({ joined: false });
      }, this.config.joinTimeoutMs);
    }
    this.#retryDelay = this.config.joinRetryMs;
    this.#scheduleRetry();
    return p;
  }

  /**
   * Push-pull full state with `addrs` now, whether or not this node has joined: one `sync`
   * round trip with each address, at once. Unlike {@linkcode Swim.join}, which does nothing
   * once joined, this merges groups that formed separately — Kubernetes pods that started
   * before DNS listed each other, two halves of a partition that forgot each other — in one
   * round trip plus a few periods of gossip. Addresses of this node are ignored.
   *
   * @param addrs Addresses to exchange full state with.
   * @param options `remember` (keep them as seeds, default true) and `timeoutMs`.
   * @returns The addresses that answered within the timeout (resolves early when all did).
   * @example
   * ```ts
   * import { SwimSim } from "./swim_sim.ts";
   * const sim = new SwimSim(1);
   * const a = await sim.cluster(2, 5, "a");
   * const b = await sim.cluster(2, 5, "b");
   * const done = a[0].swim.sync([b[0].addr]);
   * sim.run(1000);
   * console.log((await done).answered, sim.converged()); // ["b0"] true
   * sim.stopAll();
   * ```
   */
  sync(addrs: string[], options: SyncOptions = {}): Promise<SyncResult> {
    this.start();
    const targets = [...new Set(addrs)].filter((a) => a !== this.#self.addr);
    if (options.remember ?? true) {
      for (const a of targets) if (!this.#seeds.includes(a)) this.#seeds.push(a);
    }
    if (targets.length === 0 || !this.#running || this.#leaving) {
      return Promise.resolve({ answered: [] });
    }
    return new Promise<SyncResult>((resolve) => {
      const answered: string[] = [];
      const seqs: number[] = [];
      const finish = (): void => {
        timer.cancel();
        for (const q of seqs) this.#pendingSyncs.delete(q);
        resolve({ answered });
      };
      const timer = this.#clock.setTimer(finish, options.timeoutMs ?? this.config.joinTimeoutMs);
      for (const addr of targets) {
        const seq = this.#sendSync(addr, false);
        seqs.push(seq);
        this.#pendingSyncs.set(seq, {
          addr,
          answered: () => {
            if (!answered.includes(addr)) answered.push(addr);
            if (answered.length === targets.length) finish();
          },
        });
      }
    });
  }

  /**
   * Leave gracefully: raise the incarnation, mark ourselves "left", send that record directly to
   * up to `leaveFanout` live members and piggyback it for `leaveLingerMs`, then stop.
   */
  leave(): Promise<void> {
    if (!this.#running || this.#leaving) return Promise.resolve();
    this.#leaving = true;
    this.#tickTimer?.cancel();
    this.#tickTimer = undefined;
    this.#self.incarnation++;
    this.#self.state = "left";
    const rec = this.#selfRecord();
    this.#enqueueRecord(rec);
    const targets = this.#shuffle(this.#liveOthers()).slice(0, this.config.leaveFanout);
    for (const e of targets) {
      this.#sendMsg(e.member.addr, { t: "gossip", from: this.#self.nodeId, g: [rec] }, false);
    }
    return new Promise((resolve) => {
      this.#clock.setTimer(() => {
        this.stop();
        resolve();
      }, this.config.leaveLingerMs);
    });
  }

  /** Stop at once, without telling anyone (others will detect it as a failure). */
  stop(): void {
    this.#running = false;
    this.#tickTimer?.cancel();
    this.#tickTimer = undefined;
    this.#probe?.timer?.cancel();
    this.#probe = undefined;
    for (const r of this.#relays.values()) r.timer.cancel();
    this.#relays.clear();
    for (const e of this.#members.values()) e.suspectTimer?.cancel();
    this.#joinTimer?.cancel();
    this.#joinTimer = undefined;
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
    this.#resolveJoin({ joined: this.#joined });
  }

  /**
   * Change this node's meta. Raises the incarnation so the new alive record supersedes the old
   * one everywhere, and disseminates it.
   */
  setMeta(meta: SwimMeta | undefined): void {
    if (meta === undefined) delete this.#self.meta;
    else this.#self.meta = meta;
    if (this.#leaving) return;
    this.#self.incarnation++;
    this.#enqueueRecord(this.#selfRecord());
  }

  /**
   * Piggyback an application payload to every node (infection style, same retransmit budget
   * as membership updates). Receivers get it once through `onBroadcast`. Best effort: a node
   * that misses every copy does not get it; put the durable state in meta or pull it.
   */
  broadcast(data: unknown): void {
    const b: UserBroadcast = { origin: this.#self.nodeId, seq: ++this.#bseq, data };
    this.#seenBroadcasts.set(`${b.origin}:${b.seq}`, this.#now());
    this.#enqueue(`u:${b.origin}:${b.seq}`, { user: b, transmits: 0, order: ++this.#order });
  }

  /** Subscribe to membership events; returns the unsubscribe function. */
  subscribe(listener: (event: MemberEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Copies of every known member except this node, tombstones included. */
  members(): Member[] {
    return [...this.#members.values()].map((e) => copyMember(e.member));
  }

  /** Copies of the members (not this node) currently alive. */
  aliveMembers(): Member[] {
    const out: Member[] = [];
    for (const e of this.#members.values()) {
      if (e.member.state === "alive") out.push(copyMember(e.member));
    }
    return out;
  }

  /** A copy of one member (this node included), or undefined. */
  member(nodeId: string): Member | undefined {
    if (nodeId === this.#self.nodeId) return this.self;
    const e = this.#members.get(nodeId);
    return e ? copyMember(e.member) : undefined;
  }

  /**
   * Declare a member dead on evidence from outside the protocol — its address refuses
   * connections, so no process listens there any more — as if its suspicion had timed out here.
   * The death is gossiped like any other; a member that is in fact alive refutes it with a higher
   * incarnation.
   *
   * @param nodeId The member.
   * @returns Whether its state changed (false for this node, unknown or not live members).
   */
  confirmDead(nodeId: string): boolean {
    if (nodeId === this.#self.nodeId) return false;
    const e = this.#members.get(nodeId);
    if (!e || !isLive(e.member.state)) return false;
    this.#declareDead(e);
    return true;
  }

  /** Current suspicion timeout bounds in ms for the current cluster size. */
  suspicionTimeouts(): { minMs: number; maxMs: number } {
    const b = this.#suspicionBounds();
    return { minMs: b.min, maxMs: b.max };
  }

  /** Handle an inbound message. `fromAddr` is the sender's advertised address. */
  receive(fromAddr: string, msg: unknown): void {
    if (!this.#running) return;
    if (typeof msg !== "object" || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (typeof m.t !== "string" || typeof m.from !== "string") return;
    if (m.from === this.#self.nodeId) return;
    const from = m.from;
    if (Array.isArray(m.g)) this.#applyGossip(m.g);
    if (Array.isArray(m.u)) this.#applyBroadcasts(m.u);
    if (
      m.t !== "sync" && m.t !== "sync-ack" && !this.#leaving &&
      this.#members.get(from)?.member.state !== "alive" &&
      this.#members.get(from)?.member.state !== "suspect" &&
      this.#members.get(from)?.member.state !== "left"
    ) {
      // A running node we have never heard of (its alive record did not reach us), or one we
      // declared dead (it was paused, or partitioned away, and its refutation has not reached
      // us): exchange full state with it, at most once per second per address. Ours tells it
      // it is dead, so it refutes in its answer.
      const last = this.#unknownSyncs.get(fromAddr);
      const now = this.#now();
      if (last === undefined || now - last >= 1000) {
        this.#unknownSyncs.set(fromAddr, now);
        this.#sendSync(fromAddr, false);
      }
    }
    const seq = typeof m.seq === "number" ? m.seq : -1;
    switch (m.t) {
      case "ping":
        this.#sendMsg(fromAddr, { t: "ack", from: this.#self.nodeId, seq }, true, from);
        break;
      case "ack":
        this.#onAck(from, seq);
        break;
      case "ping-req":
        if (typeof m.to === "string" && typeof m.toAddr === "string") {
          this.#onPingReq(fromAddr, seq, m.to, m.toAddr);
        }
        break;
      case "ind-ack":
        if (this.#probe && this.#probe.seq === seq && this.#probe.target === m.to) {
          this.#probe.acked = true;
        }
        break;
      case "sync":
      case "sync-ack":
        if (Array.isArray(m.members)) {
          this.#onSync(fromAddr, from, seq, m.t, m.join === true, m.members);
        }
        break;
    }
  }

  // ---------------------------------------------------------------- protocol loop

  #now(): number {
    return this.#clock.now();
  }

  #tick(): void {
    this.#tickTimer = undefined;
    if (!this.#running || this.#leaving) return;
    const c = this.config;
    const now = this.#now();
    // End of the previous period: an unanswered probe makes its target suspect, unless this
    // tick itself is more than a period late (we were paused or starved: the missing ack says
    // more about us than about the target).
    const late = now - this.#tickDueAt > c.periodMs;
    const p = this.#probe;
    if (p) {
      p.timer?.cancel();
      this.#probe = undefined;
      if (!p.acked && !late) this.#suspect(p.target, this.#self.nodeId);
    }
    if (late) this.#afterPause();
    if (now >= this.#nextGcAt) {
      this.#nextGcAt = now + 1000;
      this.#gc(now);
    }
    if (c.syncIntervalMs > 0 && now >= this.#nextSyncAt) {
      // Above 32 members, full state grows: space the exchanges out with log2(n / 32).
      const scale = this.#live > 32 ? 1 + Math.ceil(Math.log2(this.#live / 32)) : 1;
      this.#nextSyncAt = now + scale * c.syncIntervalMs * (0.75 + 0.5 * this.#random());
      const live = this.#liveOthers();
      if (live.length > 0) this.#sendSync(this.#pick(live).member.addr, false);
    }
    if (c.reconnectIntervalMs > 0 && now >= this.#nextReconnectAt) {
      this.#nextReconnectAt = now + c.reconnectIntervalMs * (0.75 + 0.5 * this.#random());
      const dead = [...this.#members.values()].filter((e) => e.member.state === "dead");
      if (dead.length > 0) {
        // A cheap ping first (it carries the "dead" record, so a live target refutes in its
        // ack); full state follows only when it answers, i.e. when a partition healed.
        const e = this.#pick(dead);
        const seq = ++this.#seq;
        this.#reconnects.set(seq, e.member.nodeId);
        this.#clock.setTimer(() => this.#reconnects.delete(seq), c.periodMs);
        this.#sendMsg(
          e.member.addr,
          { t: "ping", from: this.#self.nodeId, seq, to: e.member.nodeId },
          true,
          e.member.nodeId,
        );
      }
    }
    if (c.reconnectIntervalMs > 0 && now >= this.#nextSeedSyncAt && !this.#retryTimer) {
      // Seeds where no live member is known: a group that formed without us (or forgot us).
      this.#nextSeedSyncAt = now + c.reconnectIntervalMs * (0.75 + 0.5 * this.#random());
      const lone = this.#seeds.filter((a) => !this.#liveAt(a));
      if (lone.length > 0) this.#sendSync(this.#pick(lone), false);
    }
    if (this.#seeds.length > 0 && this.#live === 1 && this.#joined && !this.#retryTimer) {
      // Everyone we knew is gone: go back to the seeds.
      this.#joined = false;
      this.#retryDelay = c.joinRetryMs;
      this.#scheduleRetry();
    }
    const target = this.#nextTarget();
    if (target) {
      const seq = ++this.#seq;
      const probe: Probe = { seq, target: target.member.nodeId, acked: false };
      this.#probe = probe;
      this.#sendMsg(
        target.member.addr,
        { t: "ping", from: this.#self.nodeId, seq, to: target.member.nodeId },
        true,
        target.member.nodeId,
      );
      probe.timer = this.#clock.setTimer(() => this.#probeTimeout(probe), c.probeTimeoutMs);
    }
    this.#scheduleTick(c.periodMs);
  }

  /**
   * Back from a pause (SIGSTOP, a long GC, a starved event loop): others may have suspected us
   * or declared us dead, and our view is stale. Refute at once with a higher incarnation (it
   * supersedes any suspicion or death of the old one) and pull a fresh view. What we send first
   * may be lost — the others closed their connections to a dead member, and the transport
   * notices only after the first sends — so one period later announce our alive record
   * directly to up to `leaveFanout` members (as `leave()` does with its "left" record: one
   * message each, once per pause), queue it again with a fresh budget, and exchange full state
   * with another member. Suspicions that expired while we were paused start over (see
   * #scheduleSuspicion).
   */
  #afterPause(): void {
    this.#self.incarnation++;
    this.#enqueueRecord(this.#selfRecord());
    const live = this.#liveOthers();
    if (live.length > 0) this.#sendSync(this.#pick(live).member.addr, false);
    this.#clock.setTimer(() => {
      if (!this.#running || this.#leaving) return;
      const rec = this.#selfRecord();
      this.#enqueueRecord(rec);
      const live = this.#shuffle(this.#liveOthers());
      for (const e of live.slice(0, this.config.leaveFanout)) {
        this.#sendMsg(e.member.addr, { t: "gossip", from: this.#self.nodeId, g: [rec] }, false);
      }
      if (live.length > 0) this.#sendSync(this.#pick(live).member.addr, false);
    }, this.config.periodMs);
  }

  #scheduleTick(ms: number): void {
    this.#tickDueAt = this.#now() + ms;
    this.#tickTimer = this.#clock.setTimer(() => this.#tick(), ms);
  }

  #probeTimeout(p: Probe): void {
    p.timer = undefined;
    if (!this.#running || p.acked || this.#probe !== p) return;
    const target = this.#members.get(p.target);
    if (!target) return;
    const helpers = this.#shuffle(
      this.#liveOthers().filter((e) => e.member.state === "alive" && e.member.nodeId !== p.target),
    ).slice(0, this.config.indirectProbes);
    for (const h of helpers) {
      this.#sendMsg(
        h.member.addr,
        {
          t: "ping-req",
          from: this.#self.nodeId,
          seq: p.seq,
          to: p.target,
          toAddr: target.member.addr,
        },
        true,
        h.member.nodeId,
      );
    }
  }

  #onAck(from: string, seq: number): void {
    const relay = this.#relays.get(seq);
    if (relay) {
      if (relay.target !== from) return;
      relay.timer.cancel();
      this.#relays.delete(seq);
      this.#sendMsg(relay.requesterAddr, {
        t: "ind-ack",
        from: this.#self.nodeId,
        seq: relay.requesterSeq,
        to: from,
      }, true);
      return;
    }
    const back = this.#reconnects.get(seq);
    if (back !== undefined) {
      this.#reconnects.delete(seq);
      const e = this.#members.get(back);
      if (back === from && e) this.#sendSync(e.member.addr, false);
      return;
    }
    const p = this.#probe;
    if (!p || p.seq !== seq) return;
    if (from === p.target) {
      p.acked = true;
      return;
    }
    // Someone else answers at the target's address: the target is gone (address reused).
    const e = this.#members.get(p.target);
    if (e && isLive(e.member.state)) {
      p.acked = true; // do not also suspect it
      this.#declareDead(e);
    }
  }

  #onPingReq(requesterAddr: string, requesterSeq: number, target: string, toAddr: string): void {
    if (target === this.#self.nodeId) {
      // Asked to probe ourselves (stale view at the requester): answer for us.
      this.#sendMsg(requesterAddr, {
        t: "ind-ack",
        from: this.#self.nodeId,
        seq: requesterSeq,
        to: target,
      }, true);
      return;
    }
    const seq = ++this.#seq;
    const timer = this.#clock.setTimer(() => this.#relays.delete(seq), this.config.periodMs);
    this.#relays.set(seq, { requesterAddr, requesterSeq, target, timer });
    this.#sendMsg(toAddr, { t: "ping", from: this.#self.nodeId, seq, to: target }, true, target);
  }

  #nextTarget(): Entry | undefined {
    for (let tries = 0; tries <= this.#probeList.length + 1; tries++) {
      if (this.#probeIdx >= this.#probeList.length) {
        this.#probeList = this.#shuffle(this.#liveOthers().map((e) => e.member.nodeId));
        this.#probeIdx = 0;
        if (this.#probeList.length === 0) return undefined;
      }
      const e = this.#members.get(this.#probeList[this.#probeIdx++]);
      if (e && isLive(e.member.state)) return e;
    }
    return undefined;
  }

  #gc(now: number): void {
    for (const [id, e] of this.#members) {
      if (!isLive(e.member.state) && now - e.since >= this.config.tombstoneMs) {
        this.#members.delete(id);
        this.#queue.delete(`m:${id}`);
        if (this.#addrOwner.get(e.member.addr) === id) this.#addrOwner.delete(e.member.addr);
        this.#emit("forgotten", e.member, copyMember(e.member));
      }
    }
    for (const [k, t] of this.#unknownSyncs) {
      if (now - t >= 10_000) this.#unknownSyncs.delete(k);
    }
    for (const [k, t] of this.#seenBroadcasts) {
      if (now - t >= this.config.broadcastDedupMs) this.#seenBroadcasts.delete(k);
    }
  }

  // ---------------------------------------------------------------- join and full state

  #sendJoins(): void {
    for (const s of this.#seeds) this.#sendSync(s, true);
  }

  #scheduleRetry(): void {
    this.#retryTimer?.cancel();
    this.#retryTimer = this.#clock.setTimer(() => {
      this.#retryTimer = undefined;
      if (!this.#running || this.#joined || this.#leaving) return;
      this.#sendJoins();
      this.#retryDelay = Math.min(this.#retryDelay * 2, this.config.joinRetryMaxMs);
      this.#scheduleRetry();
    }, this.#retryDelay);
  }

  #sendSync(addr: string, join: boolean): number {
    const seq = ++this.#seq;
    this.#sendMsg(addr, {
      t: "sync",
      from: this.#self.nodeId,
      seq,
      join,
      members: this.#fullState(),
    }, false);
    return seq;
  }

  #fullState(): MemberRecord[] {
    const out: MemberRecord[] = [this.#selfRecord()];
    for (const e of this.#members.values()) out.push(copyMember(e.member));
    return out;
  }

  #onSync(
    fromAddr: string,
    from: string,
    seq: number,
    t: "sync" | "sync-ack",
    join: boolean,
    members: unknown[],
  ): void {
    // A joiner does not re-gossip the seed's view (the cluster already has it); everything
    // else that is news to us is news to our side of the cluster too.
    const gossipNews = !(t === "sync-ack" && join);
    for (const r of members) {
      if (!validRecord(r)) continue;
      if (r.nodeId === from && isLive(r.state)) this.#claimAddr(r.addr, from);
      let rec: MemberRecord = r;
      const local = this.#members.get(r.nodeId);
      if (
        r.state === "dead" && r.nodeId !== this.#self.nodeId && local && isLive(local.member.state)
      ) {
        // Full state may be old: a remote "dead" only makes a live member suspect, so it can
        // refute.
        rec = { ...r, state: "suspect", by: from };
      }
      this.#apply(rec, gossipNews);
    }
    if (!this.#joined && this.#seeds.length > 0 && this.#live > 1) {
      // Contact with the cluster, whether our join answer or someone joining through us.
      this.#markJoined(fromAddr);
    }
    if (t === "sync-ack") this.#pendingSyncs.get(seq)?.answered();
    if (t === "sync") {
      this.#sendMsg(fromAddr, {
        t: "sync-ack",
        from: this.#self.nodeId,
        seq,
        join,
        members: this.#fullState(),
      }, false);
    } else if (join && !this.#joined) {
      this.#markJoined(fromAddr);
    }
  }

  #markJoined(seed: string): void {
    this.#joined = true;
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
    this.#joinTimer?.cancel();
    this.#joinTimer = undefined;
    this.#setIsolated(false);
    this.#resolveJoin({ joined: true, seed });
    if (this.config.joinSyncDelayMs > 0) {
      this.#clock.setTimer(() => {
        // The seed saw every join that went through it, including those after ours.
        if (this.#running && !this.#leaving) this.#sendSync(seed, false);
      }, this.config.joinSyncDelayMs);
    }
  }

  #resolveJoin(r: JoinResult): void {
    const ws = this.#joinWaiters;
    this.#joinWaiters = [];
    for (const w of ws) w(r);
  }

  #setIsolated(v: boolean): void {
    if (this.#isolated === v) return;
    this.#isolated = v;
    this.#safe(() => this.#opts.onIsolated?.(v));
  }

  /** The member at `addr` is now `owner`: any other live member there is gone. */
  #claimAddr(addr: string, owner: string): void {
    const prev = this.#addrOwner.get(addr);
    if (prev !== undefined && prev !== owner) {
      const e = this.#members.get(prev);
      if (e && isLive(e.member.state) && e.member.addr === addr) this.#declareDead(e);
    }
    this.#addrOwner.set(addr, owner);
  }

  /**
   * Second-hand news of a member at `addr`: record it as the owner only if no live member is
   * there. Stale gossip about a former process must not evict the current one; only direct
   * evidence (`#claimAddr`) does.
   */
  #noteAddr(addr: string, id: string): void {
    const prev = this.#addrOwner.get(addr);
    if (prev === undefined || prev === id) {
      this.#addrOwner.set(addr, id);
      return;
    }
    const e = this.#members.get(prev);
    if (!e || !isLive(e.member.state) || e.member.addr !== addr) this.#addrOwner.set(addr, id);
  }

  // ---------------------------------------------------------------- state transitions

  #applyGossip(g: unknown[]): void {
    for (const r of g) if (validRecord(r)) this.#apply(r, true);
  }

  #apply(r: MemberRecord, gossipNews: boolean): void {
    if (r.nodeId === this.#self.nodeId) return this.#applySelf(r);
    let rec = r;
    if (
      isLive(r.state) && r.addr === this.#self.addr
    ) {
      // A former process at our address: it is certainly not there any more.
      rec = { ...r, state: "dead" };
      delete rec.by;
      gossipNews = true;
    }
    const e = this.#members.get(rec.nodeId);
    const now = this.#now();
    if (!e) {
      const member = copyMember(rec);
      const entry: Entry = { member, since: now };
      this.#members.set(member.nodeId, entry);
      if (isLive(member.state)) {
        this.#live++;
        this.#noteAddr(member.addr, member.nodeId);
        // Probe it still this round.
        const at = this.#probeIdx +
          Math.floor(this.#random() * (this.#probeList.length - this.#probeIdx + 1));
        this.#probeList.splice(at, 0, member.nodeId);
      }
      if (member.state === "suspect") this.#startSuspicion(entry, rec.by ?? rec.nodeId);
      if (gossipNews) this.#enqueueRecord(rec);
      if (member.state === "alive") this.#emit("up", member, undefined);
      else if (member.state === "suspect") this.#emit("suspect", member, undefined);
      return;
    }
    const m = e.member;
    if (
      rec.state === "suspect" && m.state === "suspect" && rec.incarnation === m.incarnation &&
      rec.by !== undefined && e.suspecters && !e.suspecters.has(rec.by)
    ) {
      // An independent confirmation: shortens the timeout, and is worth spreading.
      e.suspecters.add(rec.by);
      this.#scheduleSuspicion(e);
      if (gossipNews) this.#enqueueRecord(rec);
      return;
    }
    const newer = rec.incarnation > m.incarnation ||
      (rec.incarnation === m.incarnation && RANK[rec.state] > RANK[m.state]);
    if (!newer) return;
    const prev = copyMember(m);
    this.#setState(e, rec.state, now);
    m.incarnation = rec.incarnation;
    if (rec.state === "alive") {
      if (rec.meta === undefined) delete m.meta;
      else m.meta = rec.meta;
      if (rec.addr !== m.addr) m.addr = rec.addr;
      this.#noteAddr(m.addr, m.nodeId);
    } else if (rec.meta !== undefined) {
      m.meta = rec.meta;
    }
    if (rec.state === "suspect") this.#startSuspicion(e, rec.by ?? rec.nodeId);
    else this.#clearSuspicion(e);
    if (gossipNews) this.#enqueueRecord(rec);
    this.#emitTransition(prev, m);
  }

  #applySelf(r: MemberRecord): void {
    if (this.#leaving) return;
    const s = this.#self;
    if (r.state === "alive" && r.incarnation <= s.incarnation) return;
    if (r.state !== "alive" && r.incarnation < s.incarnation) {
      // We already refuted this, but the sender has not heard: our refutation may have used up
      // its budget on messages that were lost (after a pause, on connections the others had
      // closed). Send it again, with a fresh budget.
      if (!this.#queue.get(`m:${s.nodeId}`)) this.#enqueueRecord(this.#selfRecord());
      return;
    }
    // Someone thinks we are suspect, dead or gone (or holds a newer record of us): refute.
    s.incarnation = r.incarnation + 1;
    this.#enqueueRecord(this.#selfRecord());
  }

  #setState(e: Entry, state: MemberState, now: number): void {
    const was = isLive(e.member.state);
    const will = isLive(state);
    if (was && !will) this.#live--;
    if (!was && will) {
      this.#live++;
      const at = this.#probeIdx +
        Math.floor(this.#random() * (this.#probeList.length - this.#probeIdx + 1));
      this.#probeList.splice(at, 0, e.member.nodeId);
    }
    if (e.member.state !== state) e.since = now;
    e.member.state = state;
  }

  #suspect(nodeId: string, by: string): void {
    const e = this.#members.get(nodeId);
    if (!e) return;
    const m = e.member;
    if (m.state === "alive") {
      const prev = copyMember(m);
      this.#setState(e, "suspect", this.#now());
      this.#startSuspicion(e, by);
      this.#enqueueRecord({ ...copyMember(m), by });
      this.#emitTransition(prev, m);
    } else if (m.state === "suspect" && e.suspecters && !e.suspecters.has(by)) {
      e.suspecters.add(by);
      this.#scheduleSuspicion(e);
      this.#enqueueRecord({ ...copyMember(m), by });
    }
  }

  #declareDead(e: Entry): void {
    const m = e.member;
    if (!isLive(m.state)) return;
    const prev = copyMember(m);
    this.#setState(e, "dead", this.#now());
    this.#clearSuspicion(e);
    this.#enqueueRecord(copyMember(m));
    this.#emitTransition(prev, m);
  }

  #suspicionBounds(): { min: number; max: number; k: number } {
    const c = this.config;
    const n = this.#live;
    const min = c.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * c.periodMs;
    const max = min * c.suspicionMaxMult;
    const k = n - 2 < c.suspicionConfirmations ? 0 : c.suspicionConfirmations;
    return { min, max, k };
  }

  #startSuspicion(e: Entry, by: string): void {
    e.suspecters = new Set([by]);
    this.#scheduleSuspicion(e);
  }

  #scheduleSuspicion(e: Entry): void {
    e.suspectTimer?.cancel();
    const { min, max, k } = this.#suspicionBounds();
    const confirmations = (e.suspecters?.size ?? 1) - 1;
    const timeout = k <= 0 ? min : Math.max(
      min,
      max - (max - min) * Math.log(confirmations + 1) / Math.log(k + 1),
    );
    const ms = Math.max(0, e.since + timeout - this.#now());
    const inc = e.member.incarnation;
    const dueAt = this.#now() + ms;
    e.suspectTimer = this.#clock.setTimer(() => {
      e.suspectTimer = undefined;
      if (!this.#running) return;
      if (e.member.state !== "suspect" || e.member.incarnation !== inc) return;
      if (this.#now() - dueAt > this.config.periodMs) {
        // We were paused past the deadline, so the suspect had no fair chance to hear of the
        // suspicion and refute: restart it from now and spread it again.
        e.since = this.#now();
        const by = e.suspecters?.values().next().value ?? this.#self.nodeId;
        this.#enqueueRecord({ ...copyMember(e.member), by });
        this.#scheduleSuspicion(e);
        return;
      }
      this.#declareDead(e);
    }, ms);
  }

  #clearSuspicion(e: Entry): void {
    e.suspectTimer?.cancel();
    e.suspectTimer = undefined;
    e.suspecters = undefined;
  }

  #emitTransition(prev: Member, m: Member): void {
    switch (m.state) {
      case "alive":
        if (prev.state === "suspect") this.#emit("alive", m, prev);
        else if (prev.state !== "alive") this.#emit("up", m, prev);
        else if (prev.addr !== m.addr || !sameMeta(prev.meta, m.meta)) {
          this.#emit("updated", m, prev);
        }
        break;
      case "suspect":
        if (prev.state !== "suspect") this.#emit("suspect", m, prev);
        break;
      case "dead":
        if (prev.state !== "dead") this.#emit("dead", m, prev);
        break;
      case "left":
        if (prev.state !== "left") this.#emit("left", m, prev);
        break;
    }
  }

  #emit(type: MemberEventType, m: Member, prev: Member | undefined): void {
    const member = copyMember(m);
    const ev: MemberEvent = prev ? { type, member, prev } : { type, member };
    const o = this.#opts;
    this.#safe(() => o.onChange?.(ev));
    if (type === "up") this.#safe(() => o.onMemberUp?.(member));
    else if (type === "suspect") this.#safe(() => o.onMemberSuspect?.(member));
    else if (type === "dead") this.#safe(() => o.onMemberDead?.(member));
    else if (type === "left") this.#safe(() => o.onMemberLeft?.(member));
    for (const l of this.#listeners) this.#safe(() => l(ev));
  }

  /** Listener errors must not corrupt protocol state: rethrow them outside the call. */
  #safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  // ---------------------------------------------------------------- dissemination

  #selfRecord(): MemberRecord {
    return copyMember(this.#self);
  }

  #enqueueRecord(r: MemberRecord): void {
    const rec = copyMember(r) as MemberRecord;
    if (r.by !== undefined && r.state === "suspect") rec.by = r.by;
    this.#enqueue(`m:${r.nodeId}`, { record: rec, transmits: 0, order: ++this.#order });
  }

  #enqueue(key: string, item: QueueItem): void {
    this.#queue.delete(key); // a newer update about the same member replaces the older one
    this.#queue.set(key, item);
    if (this.#queue.size > this.config.maxQueue) {
      let worstKey: string | undefined;
      let worst: QueueItem | undefined;
      for (const [k, it] of this.#queue) {
        if (!worst || it.transmits > worst.transmits) {
          worst = it;
          worstKey = k;
        }
      }
      if (worstKey !== undefined) this.#queue.delete(worstKey);
    }
  }

  #retransmitLimit(): number {
    return this.config.retransmitMult * Math.max(1, Math.ceil(Math.log10(this.#live + 1)));
  }

  /** Take up to `maxPiggyback` updates, least-sent then newest first. */
  #takeGossip(forId: string | undefined): { g?: MemberRecord[]; u?: UserBroadcast[] } {
    const cap = this.config.maxPiggyback;
    const g: MemberRecord[] = [];
    const u: UserBroadcast[] = [];
    let skip: string | undefined;
    if (forId !== undefined) {
      // A member we suspect (or think dead) hears it from every message we send it, so it can
      // refute.
      const e = this.#members.get(forId);
      if (e && (e.member.state === "suspect" || e.member.state === "dead")) {
        g.push(copyMember(e.member));
        skip = `m:${forId}`;
      }
    }
    if (this.#queue.size > 0) {
      const items = [...this.#queue.entries()];
      if (items.length > cap) {
        items.sort((a, b) => a[1].transmits - b[1].transmits || b[1].order - a[1].order);
      }
      const limit = this.#retransmitLimit();
      for (const [k, it] of items) {
        if (g.length + u.length >= cap) break;
        if (k === skip) continue;
        // The receiver knows its own alive record best: do not spend a transmission on it.
        if (forId !== undefined && it.record?.nodeId === forId && it.record.state === "alive") {
          continue;
        }
        if (it.record) g.push(it.record);
        else if (it.user) u.push(it.user);
        if (++it.transmits >= limit) this.#queue.delete(k);
      }
    }
    const out: { g?: MemberRecord[]; u?: UserBroadcast[] } = {};
    if (g.length > 0) out.g = g;
    if (u.length > 0) out.u = u;
    return out;
  }

  #applyBroadcasts(u: unknown[]): void {
    for (const x of u) {
      if (typeof x !== "object" || x === null) continue;
      const b = x as UserBroadcast;
      if (typeof b.origin !== "string" || typeof b.seq !== "number") continue;
      if (b.origin === this.#self.nodeId) continue;
      const key = `${b.origin}:${b.seq}`;
      if (this.#seenBroadcasts.has(key)) continue;
      this.#seenBroadcasts.set(key, this.#now());
      this.#enqueue(`u:${key}`, {
        user: { origin: b.origin, seq: b.seq, data: b.data },
        transmits: 0,
        order: ++this.#order,
      });
      this.#safe(() => this.#opts.onBroadcast?.(b.origin, b.data));
    }
  }

  #sendMsg(toAddr: string, msg: SwimMessage, piggyback: boolean, forId?: string): void {
    if (piggyback && msg.t !== "sync" && msg.t !== "sync-ack") {
      const { g, u } = this.#takeGossip(forId);
      const carrier = msg as { g?: MemberRecord[]; u?: UserBroadcast[] };
      if (g) carrier.g = g;
      if (u) carrier.u = u;
    }
    try {
      this.#send(toAddr, msg);
    } catch {
      // Fire-and-forget: a failed send is a lost message, which the protocol tolerates.
    }
  }

  // ---------------------------------------------------------------- helpers

  /** Is a live member (or this node) known at `addr`? */
  #liveAt(addr: string): boolean {
    if (addr === this.#self.addr) return true;
    const id = this.#addrOwner.get(addr);
    const e = id === undefined ? undefined : this.#members.get(id);
    return e !== undefined && isLive(e.member.state) && e.member.addr === addr;
  }

  #liveOthers(): Entry[] {
    const out: Entry[] = [];
    for (const e of this.#members.values()) if (isLive(e.member.state)) out.push(e);
    return out;
  }

  #pick<T>(xs: T[]): T {
    return xs[Math.floor(this.#random() * xs.length)];
  }

  #shuffle<T>(xs: T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}
