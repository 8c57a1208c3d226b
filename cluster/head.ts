/**
 * Head mode: a star instead of gossip. One node runs with `isHeadNode: true`; every other node
 * runs with `headAddr` and is a *worker* of it.
 *
 * How it coexists with SWIM: it replaces it. A node is in exactly one mode — gossip (`seeds`,
 * SWIM), head, or worker — and `isHeadNode` with `headAddr` or `seeds` is a `TypeError`. In
 * head mode no node probes another: the head is the failure detector of its workers (a worker
 * silent for `heartbeatTimeoutMs` is dropped), and the workers detect the head by their
 * heartbeats failing (or its connection closing). Workers still talk to each other directly
 * for calls; only membership and the name registry go through the head.
 *
 * Protocol (RPC heads, on the node's ordinary connections):
 * - worker → head `{op:"h-reg", id, a}` (ask, body: the worker's registry snapshot). Reply
 *   {@linkcode HeadWelcome}: the live members, the members gone (dead or left) it still
 *   remembers, every node's names and the membership epoch. Sent at
 *   start, again after the head was lost or did not know the worker, and as a *resync* when a
 *   heartbeat shows the worker's view diverged (registering again while known is idempotent).
 * - worker → head `{op:"h-hb", id}` (ask, body `{v}`: the worker's registry version) every
 *   `heartbeatMs`. Reply {@linkcode HeadBeat} `{ok, e, d}`; `ok: false` means "I do not know
 *   you": register again. `e` is the head's membership epoch, `d` a digest of the registry
 *   versions it holds for its live members (the asking worker left out).
 * - worker → head `{op:"reg"}` (tell): a change of the worker's names; the head applies it and
 *   forwards it to the other workers. The head's own changes go to every worker the same way.
 * - head → worker `{op:"h-push"}` (tell, body {@linkcode HeadPush}): a member changed (up,
 *   dead, left; with the epoch `e` of that change and the head's id `h`) and/or a node's full
 *   names (after a registration or a missed change).
 * - worker → head `{op:"h-bye", id}` (tell): graceful leave (also sent while a registration
 *   is in flight: the head may already hold the worker as alive). A head that shuts down
 *   pushes its own "left" record to every worker.
 * - `{op:"pull", n}` (ask): the names of node `n` as the head holds them (gap repair).
 *
 * Consistency: pushes and deltas are best effort (a tell can be lost on a closing connection,
 * and a push can overtake the welcome it follows), so head mode is made *eventually
 * consistent* by anti-entropy on the heartbeat:
 * - every membership change on the head bumps its epoch; a worker's view carries the epoch it
 *   reflects, advanced only by contiguous pushes (a missed push leaves a gap), and each member
 *   record remembers the epoch it came with, so an older welcome or push never overwrites a
 *   newer record (no spurious "dead" for a worker whose "up" overtook the welcome);
 * - pushes that arrive while a registration is in flight are held and replayed after the
 *   welcome is adopted;
 * - the heartbeat reply carries the head's epoch and registry digest; a worker whose epoch or
 *   digest differs on two heartbeats in a row registers again (a resync: the welcome is
 *   authoritative), so any divergence is repaired within a few heartbeats. The welcome lists
 *   the members gone with their state, so a member whose "left" push was missed is "left"
 *   after the resync, not "dead"; one the head no longer lists at all (its tombstone expired
 *   after `tombstoneMs`, or an older head) is taken as dead;
 * - the head pulls a worker's names when its heartbeat reports a newer version than the head
 *   holds (a lost or reordered delta), at most one pull per worker at a time.
 *
 * Costs: a worker sends one heartbeat per period and receives one push per change, whatever
 * the cluster size. The head receives n heartbeats per period and pushes each change to n
 * workers: it is the central coordinator by design (as in the original), so size its period
 * for the number of workers. The digest is additive (one term per node), so the head computes
 * it once per change, not once per heartbeat; a worker computes its own in O(members).
 *
 * When the head is lost (its connection closes, or heartbeats fail for `heartbeatTimeoutMs`),
 * a worker logs it, marks the head dead (its names vanish; the other workers' names stay
 * resolvable, since they may well be alive and are called directly), keeps serving its own
 * actors, and registers again with exponential backoff (`retryMs` … `retryMaxMs`); once the
 * head answers it logs that it regained the head and adopts the head's view. A restarted head
 * (new node id, empty state) rebuilds its registry from these re-registrations.
 *
 * @module
 */

import type { NameRegistry, RegistryDelta, RegistrySnapshot } from "./registry.ts";
import type { Member, MemberEvent, MemberEventType } from "./swim.ts";

/**
 * Head-mode timings.
 *
 * @example
 * ```ts
 * import { DEFAULT_HEAD_CONFIG, type HeadConfig } from "./head.ts";
 * const slow: HeadConfig = { ...DEFAULT_HEAD_CONFIG, heartbeatMs: 2_000, heartbeatTimeoutMs: 10_000 };
 * console.log(slow.heartbeatMs); // 2000
 * ```
 */
export interface HeadConfig {
  /** A worker heartbeats this often; the head sweeps silent workers this often. */
  heartbeatMs: number;
  /** A worker silent this long is dropped by the head; a head silent this long is lost. */
  heartbeatTimeoutMs: number;
  /** First delay before registering again after losing the head (doubles). */
  retryMs: number;
  /** Cap of that backoff. */
  retryMaxMs: number;
  /** Dead and left workers are remembered this long (so a late message cannot revive them). */
  tombstoneMs: number;
}

/**
 * Defaults for a LAN: heartbeat every 500 ms, a worker or head silent for 3 s is gone,
 * re-registration after 250 ms doubling up to 5 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_HEAD_CONFIG } from "./head.ts";
 * console.log(DEFAULT_HEAD_CONFIG.heartbeatTimeoutMs); // 3000
 * ```
 */
export const DEFAULT_HEAD_CONFIG: Readonly<HeadConfig> = Object.freeze({
  heartbeatMs: 500,
  heartbeatTimeoutMs: 3_000,
  retryMs: 250,
  retryMaxMs: 5_000,
  tombstoneMs: 60_000,
});

/**
 * The head's answer to a registration.
 *
 * @example
 * ```ts
 * import type { HeadWelcome } from "./head.ts";
 * const w: HeadWelcome = { head: "h", members: [], parts: [] };
 * console.log(w.head); // "h"
 * ```
 */
export interface HeadWelcome {
  /** The head's node id. */
  head: string;
  /** Every live member, the head included. */
  members: Member[];
  /** Every live member's names. */
  parts: RegistrySnapshot[];
  /**
   * The members gone ("dead" or "left") the head still remembers (for `tombstoneMs`), so that
   * a worker that missed the push tells one that left from one that crashed (absent from an
   * older head).
   */
  gone?: Member[];
  /** The head's membership epoch this view reflects (absent from an older head). */
  e?: number;
}

/**
 * The head's answer to a heartbeat.
 *
 * @example
 * ```ts
 * import type { HeadBeat } from "./head.ts";
 * const b: HeadBeat = { ok: true, e: 3, d: 123456 };
 * console.log(b.ok); // true
 * ```
 */
export interface HeadBeat {
  /** `false`: the head does not know this worker (register again). */
  ok: boolean;
  /** The head's membership epoch. */
  e?: number;
  /** {@linkcode versionDigest} of the head's live members' registry versions, the asker left out. */
  d?: number;
}

/**
 * What the head pushes to its workers.
 *
 * @example
 * ```ts
 * import type { HeadPush } from "./head.ts";
 * const p: HeadPush = { m: { nodeId: "w", addr: "127.0.0.1:1", state: "dead", incarnation: 1 } };
 * console.log(p.m?.state); // "dead"
 * ```
 */
export interface HeadPush {
  /** A member's new record. */
  m?: Member;
  /** A node's full names. */
  s?: RegistrySnapshot;
  /** The membership epoch of the change in `m`. */
  e?: number;
  /** The head's node id. */
  h?: string;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * One node's term of a {@linkcode versionDigest}.
 *
 * @example
 * ```ts
 * import { digestTerm } from "./head.ts";
 * console.log(digestTerm("a", 1) === digestTerm("a", 2)); // false
 * ```
 */
export function digestTerm(nodeId: string, version: number): number {
  let h = (fnv1a(nodeId) ^ Math.imul(version | 0, 0x9e3779b1)) + (version / 0x1_0000_0000 | 0);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * An order-independent digest of (node, registry version) pairs: the sum of their
 * {@linkcode digestTerm}s modulo 2³². Two nodes holding the same members at the same versions
 * have the same digest; a term can be added or removed in O(1).
 *
 * @example
 * ```ts
 * import { versionDigest } from "./head.ts";
 * console.log(versionDigest([["a", 1], ["b", 2]]) === versionDigest([["b", 2], ["a", 1]])); // true
 * ```
 */
export function versionDigest(pairs: Iterable<readonly [string, number]>): number {
  let d = 0;
  for (const [n, v] of pairs) d = (d + digestTerm(n, v)) >>> 0;
  return d;
}

/**
 * What a head-mode node needs from the node it runs in.
 *
 * @example
 * ```ts
 * import type { HeadHost } from "./head.ts";
 * const tellLog: Pick<HeadHost, "log"> = { log: (_level, msg) => console.log(msg) };
 * tellLog.log("info", "hello");
 * ```
 */
export interface HeadHost {
  /** This node's id. */
  readonly selfId: string;
  /** This node's advertised address. */
  readonly selfAddr: string;
  /** The node's name registry. */
  readonly registry: NameRegistry;
  /** Ask a node; rejects on failure or after `timeoutMs`. */
  ask(
    addr: string,
    head: Record<string, unknown>,
    body: unknown,
    timeoutMs: number,
  ): Promise<unknown>;
  /** Tell a node, best effort. */
  tell(addr: string, head: Record<string, unknown>, body: unknown): void;
  /** Write a log line. */
  log(level: "debug" | "info" | "warn" | "error", msg: string): void;
  /** A member changed (the node drops names and closes connections on dead/left). */
  onMember(event: MemberEvent): void;
}

interface WorkerEntry {
  member: Member;
  lastSeen: number;
  since: number;
}

function copy(m: Member): Member {
  return { nodeId: m.nodeId, addr: m.addr, state: m.state, incarnation: m.incarnation };
}

function live(m: Member): boolean {
  return m.state === "alive" || m.state === "suspect";
}

function isSnapshot(s: unknown): s is RegistrySnapshot {
  const x = s as RegistrySnapshot;
  return typeof x === "object" && x !== null && typeof x.n === "string" &&
    typeof x.v === "number" && Array.isArray(x.e);
}

function isMember(m: unknown): m is Member {
  const x = m as Member;
  return typeof x === "object" && x !== null && typeof x.nodeId === "string" &&
    typeof x.addr === "string" && typeof x.state === "string" &&
    typeof x.incarnation === "number";
}

/**
 * The head's side: the member table of its workers, their names, heartbeats and the sweep.
 *
 * @example
 * ```ts
 * import { HeadService, type HeadHost } from "./head.ts";
 * import { NameRegistry } from "./registry.ts";
 * const host: HeadHost = {
 *   selfId: "h", selfAddr: "127.0.0.1:7000", registry: new NameRegistry("h"),
 *   ask: () => Promise.resolve(null), tell: () => {}, log: () => {}, onMember: () => {},
 * };
 * const head = new HeadService(host, { heartbeatMs: 50 });
 * const welcome = head.register("w1", "127.0.0.1:7001", { n: "w1", v: 0, e: [] });
 * console.log(welcome.members.length, head.aliveMembers().length); // 2 1
 * head.stop();
 * ```
 */
export class HeadService {
  /** Timings in use. */
  readonly config: Readonly<HeadConfig>;
  readonly #host: HeadHost;
  readonly #workers = new Map<string, WorkerEntry>();
  readonly #repairing = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #now: () => number;
  #epoch = 0;
  /** Cached digest of every live member's version (head included); undefined: recompute. */
  #digest: number | undefined;
  #digestAt = 0;

  /**
   * Start the head's sweep.
   * @param host The node it runs in.
   * @param config Timing overrides.
   * @param now Clock (ms), for tests.
   */
  constructor(host: HeadHost, config: Partial<HeadConfig> = {}, now: () => number = Date.now) {
    this.#host = host;
    this.config = Object.freeze({ ...DEFAULT_HEAD_CONFIG, ...config });
    this.#now = now;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.sweep();
      this.#schedule();
    }, this.config.heartbeatMs);
  }

  /** Stop the sweep (no messages). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Tell every worker that the head leaves, then stop. */
  leave(): void {
    const me: Member = {
      nodeId: this.#host.selfId,
      addr: this.#host.selfAddr,
      state: "left",
      incarnation: 1,
    };
    this.#pushAll({ m: me, h: this.#host.selfId });
    this.stop();
  }

  /** The membership epoch: bumped on every change of a worker's state. */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * The digest of the registry versions of every live member (this head included) as held
   * here, leaving `except` out: what a worker's view must match.
   */
  digest(except?: string): number {
    const now = this.#now();
    // Recomputed after every change made through this service, and at least once per period
    // (a safety net should a change ever bypass it).
    if (this.#digest === undefined || now - this.#digestAt >= this.config.heartbeatMs) {
      const reg = this.#host.registry;
      let d = digestTerm(this.#host.selfId, reg.versionOf(this.#host.selfId));
      for (const w of this.#workers.values()) {
        if (live(w.member)) {
          d = (d + digestTerm(w.member.nodeId, reg.versionOf(w.member.nodeId))) >>> 0;
        }
      }
      this.#digest = d;
      this.#digestAt = now;
    }
    const w = except === undefined ? undefined : this.#workers.get(except);
    if (!w || !live(w.member)) return this.#digest;
    return (this.#digest - digestTerm(except!, this.#host.registry.versionOf(except!))) >>> 0;
  }

  #dirty(): void {
    this.#digest = undefined;
  }

  /** A copy of one member (a worker, or the head itself). */
  member(nodeId: string): Member | undefined {
    if (nodeId === this.#host.selfId) return this.#self();
    const w = this.#workers.get(nodeId);
    return w ? copy(w.member) : undefined;
  }

  /** Live workers. */
  aliveMembers(): Member[] {
    const out: Member[] = [];
    for (const w of this.#workers.values()) {
      if (w.member.state === "alive") out.push(copy(w.member));
    }
    return out;
  }

  /** Every known worker, tombstones included. */
  members(): Member[] {
    return [...this.#workers.values()].map((w) => copy(w.member));
  }

  #self(): Member {
    return { nodeId: this.#host.selfId, addr: this.#host.selfAddr, state: "alive", incarnation: 0 };
  }

  /**
   * A worker registers (first time, or again after losing us or being dropped).
   * @returns The full view for it.
   */
  register(nodeId: string, addr: string, snap: RegistrySnapshot | undefined): HeadWelcome {
    const now = this.#now();
    const reg = this.#host.registry;
    // Another live worker at the same address is a former process of that address.
    for (const w of this.#workers.values()) {
      if (w.member.nodeId !== nodeId && w.member.addr === addr && live(w.member)) {
        this.#drop(w, "dead", `replaced by a new process at ${addr}`);
      }
    }
    let w = this.#workers.get(nodeId);
    const fresh = !w || !live(w.member);
    this.#dirty();
    if (!w) {
      w = {
        member: { nodeId, addr, state: "alive", incarnation: 0 },
        lastSeen: now,
        since: now,
      };
      this.#workers.set(nodeId, w);
    } else if (fresh) {
      w.member = { nodeId, addr, state: "alive", incarnation: w.member.incarnation + 1 };
      w.since = now;
    }
    w.lastSeen = now;
    w.member.addr = addr;
    if (fresh) reg.revive(nodeId);
    const changed = snap !== undefined && isSnapshot(snap) && snap.n === nodeId &&
      reg.applySnapshot(snap) === "applied";
    const mine = reg.snapshotOf(nodeId) ?? { n: nodeId, v: 0, e: [] };
    if (fresh) {
      this.#epoch++;
      this.#host.log("info", `head: worker ${addr} (${nodeId.slice(0, 8)}) registered`);
      this.#host.onMember({ type: "up", member: copy(w.member) });
      this.#pushAll({ m: copy(w.member), s: mine, e: this.#epoch, h: this.#host.selfId }, nodeId);
    } else if (changed) {
      // Known and alive: it re-registered (it lost us for a while, or resyncs); its names
      // changed meanwhile. (Unchanged names need no push: a worker that missed them repairs
      // from its heartbeat digest.)
      this.#pushAll({ s: mine }, nodeId);
    }
    const members: Member[] = [this.#self()];
    const gone: Member[] = [];
    const parts: RegistrySnapshot[] = [];
    const own = reg.snapshotOf(this.#host.selfId);
    if (own) parts.push(own);
    for (const x of this.#workers.values()) {
      if (!live(x.member)) {
        gone.push(copy(x.member));
        continue;
      }
      members.push(copy(x.member));
      if (x.member.nodeId === nodeId) continue;
      const s = reg.snapshotOf(x.member.nodeId);
      if (s) parts.push(s);
    }
    return { head: this.#host.selfId, members, parts, e: this.#epoch, gone };
  }

  /**
   * A heartbeat from a worker.
   * @returns `false` when the worker is unknown (it must register again).
   */
  heartbeat(nodeId: string, version: number): boolean {
    const w = this.#workers.get(nodeId);
    if (!w || !live(w.member)) return false;
    w.lastSeen = this.#now();
    if (version > this.#host.registry.versionOf(nodeId)) void this.#repair(w);
    return true;
  }

  /**
   * A heartbeat request (`{op:"h-hb"}` with body `{v}`) and its reply: the worker is known or
   * not, and the epoch and digest its view must match.
   */
  beat(nodeId: string, body: unknown): HeadBeat {
    const v = Number((body as { v?: unknown } | null)?.v ?? 0);
    if (!this.heartbeat(nodeId, Number.isFinite(v) ? v : 0)) return { ok: false };
    return { ok: true, e: this.#epoch, d: this.digest(nodeId) };
  }

  /** A worker leaves gracefully. */
  bye(nodeId: string): void {
    const w = this.#workers.get(nodeId);
    if (w && live(w.member)) this.#drop(w, "left", "left");
  }

  /** A registry change from a worker: apply it and forward it to the other workers. */
  onDelta(d: RegistryDelta): void {
    const w = this.#workers.get(d.n);
    if (!w || !live(w.member)) return; // it will register again and send its snapshot
    const r = this.#host.registry.applyDelta(d);
    if (r === "applied") {
      this.#dirty();
      this.#tellAll({ op: "reg" }, d, d.n);
    } else if (r === "gap") void this.#repair(w);
  }

  /** A change of the head's own names: send it to every worker. */
  publish(d: RegistryDelta): void {
    this.#dirty();
    this.#tellAll({ op: "reg" }, d);
  }

  /** Drop workers silent for longer than the timeout; forget old tombstones. */
  sweep(): void {
    const now = this.#now();
    for (const w of [...this.#workers.values()]) {
      if (live(w.member) && now - w.lastSeen > this.config.heartbeatTimeoutMs) {
        this.#drop(w, "dead", `silent for ${now - w.lastSeen} ms`);
      } else if (!live(w.member) && now - w.since > this.config.tombstoneMs) {
        this.#workers.delete(w.member.nodeId);
        this.#host.registry.revive(w.member.nodeId);
      }
    }
  }

  #drop(w: WorkerEntry, state: "dead" | "left", why: string): void {
    const prev = copy(w.member);
    w.member.state = state;
    w.member.incarnation++;
    w.since = this.#now();
    this.#epoch++;
    this.#dirty();
    this.#host.log(
      state === "dead" ? "warn" : "info",
      `head: worker ${w.member.addr} (${w.member.nodeId.slice(0, 8)}) dropped: ${why}`,
    );
    this.#host.registry.dropNode(w.member.nodeId);
    this.#host.onMember({ type: state, member: copy(w.member), prev });
    this.#pushAll(
      { m: copy(w.member), e: this.#epoch, h: this.#host.selfId },
      w.member.nodeId,
    );
  }

  /** Fetch a worker's full names (a change was missed) and pass them on; one pull at a time. */
  async #repair(w: WorkerEntry): Promise<void> {
    const id = w.member.nodeId;
    if (this.#repairing.has(id) || this.#stopped) return;
    this.#repairing.add(id);
    const since = w.since;
    try {
      const s = await this.#host.ask(w.member.addr, { op: "pull" }, null, 5_000);
      // Dropped (or dropped and back) meanwhile: its registration carried its names.
      if (!isSnapshot(s) || s.n !== id || !live(w.member) || w.since !== since) return;
      if (this.#workers.get(id) !== w) return;
      if (this.#host.registry.applySnapshot(s) === "applied") {
        this.#dirty();
        this.#pushAll({ s }, id);
      }
    } catch (e) {
      this.#host.log("debug", `head: pull from ${w.member.addr} failed: ${(e as Error)?.message}`);
    } finally {
      this.#repairing.delete(id);
    }
  }

  #pushAll(p: HeadPush, except?: string): void {
    this.#tellAll({ op: "h-push" }, p, except);
  }

  #tellAll(head: Record<string, unknown>, body: unknown, except?: string): void {
    for (const w of this.#workers.values()) {
      if (w.member.nodeId === except || !live(w.member)) continue;
      this.#host.tell(w.member.addr, head, body);
    }
  }
}

/**
/**
 * The worker's side: registration, heartbeats, the view pushed by the head, and what happens
 * when the head goes away.
 *
 * @example
 * ```ts
 * import { HeadClient, type HeadHost } from "./head.ts";
 * import { NameRegistry } from "./registry.ts";
 * const host: HeadHost = {
 *   selfId: "w", selfAddr: "127.0.0.1:7001", registry: new NameRegistry("w"),
 *   ask: () => Promise.reject(new Error("unreachable")), tell: () => {}, log: () => {},
 *   onMember: () => {},
 * };
 * const worker = new HeadClient(host, "127.0.0.1:7000", { retryMs: 10 });
 * console.log(await worker.start()); // false (no head yet: running alone, retrying)
 * worker.stop();
 * ```
 */
export class HeadClient {
  /** Timings in use. */
  readonly config: Readonly<HeadConfig>;
  /** The head's address. */
  readonly headAddr: string;
  readonly #host: HeadHost;
  readonly #members = new Map<string, Member>();
  /** The head epoch each member record came with (same head only). */
  readonly #memberEpoch = new Map<string, number>();
  /** Epochs of pushes applied beyond a gap (waiting for the missing ones). */
  readonly #ahead = new Set<number>();
  /** The head epoch our membership view reflects with no gap; undefined before a welcome. */
  #epoch: number | undefined;
  /** Pushes received while a registration is in flight, replayed after the welcome. */
  #held: HeadPush[] | undefined;
  #mismatches = 0;
  #resyncs = 0;
  #headId: string | undefined;
  #connected = false;
  #everConnected = false;
  #lostLogged = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryDelay: number;
  #lastOk = 0;
  #hbInFlight = false;
  #registering = false;

  /**
   * A worker of the head at `headAddr` (call `start` to register).
   * @param host The node it runs in.
   * @param headAddr The head's `host:port`.
   * @param config Timing overrides.
   */
  constructor(host: HeadHost, headAddr: string, config: Partial<HeadConfig> = {}) {
    this.#host = host;
    this.headAddr = headAddr;
    this.config = Object.freeze({ ...DEFAULT_HEAD_CONFIG, ...config });
    this.#retryDelay = this.config.retryMs;
  }

  /** True while registered with a reachable head. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The head's node id, once known. */
  get headId(): string | undefined {
    return this.#headId;
  }

  /** The head membership epoch this worker's view reflects (undefined before a welcome). */
  get epoch(): number | undefined {
    return this.#epoch;
  }

  /** How many times a heartbeat found the view diverged and the worker resynced. */
  get resyncs(): number {
    return this.#resyncs;
  }

  /**
   * The digest of the registry versions of every live member this worker knows (the head
   * included, itself left out): equal to the head's {@linkcode HeadService.digest} for this
   * worker when the views agree.
   */
  digest(): number {
    const reg = this.#host.registry;
    let d = 0;
    for (const m of this.#members.values()) {
      if (live(m)) d = (d + digestTerm(m.nodeId, reg.versionOf(m.nodeId))) >>> 0;
    }
    return d;
  }

  /**
   * Register with the head. Resolves `true` once registered, `false` if the head did not
   * answer (the worker then runs alone and keeps retrying in the background).
   */
  async start(): Promise<boolean> {
    const ok = await this.#register();
    if (!ok) this.#lost("not reachable");
    return ok;
  }

  /** Stop all timers (no messages). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Leave gracefully: tell the head, then stop. */
  leave(): void {
    // Also while (re-)registering: the head may already hold us as alive, and would drop us as
    // "dead" once we fall silent (a bye it does not need is a no-op). Not after the head was
    // lost: the bye would dial it again while this node shuts down.
    if (this.#connected || this.#registering) {
      this.#host.tell(this.headAddr, { op: "h-bye", id: this.#host.selfId }, null);
    }
    this.stop();
  }

  /** A copy of one member (this node included). */
  member(nodeId: string): Member | undefined {
    if (nodeId === this.#host.selfId) {
      return { nodeId, addr: this.#host.selfAddr, state: "alive", incarnation: 0 };
    }
    const m = this.#members.get(nodeId);
    return m ? copy(m) : undefined;
  }

  /** Live members other than this node (the head included while reachable). */
  aliveMembers(): Member[] {
    const out: Member[] = [];
    for (const m of this.#members.values()) if (m.state === "alive") out.push(copy(m));
    return out;
  }

  /** Every known member other than this node, tombstones included. */
  members(): Member[] {
    return [...this.#members.values()].map(copy);
  }

  /** A change of this worker's names: send it to the head (which forwards it). */
  publish(d: RegistryDelta): void {
    if (this.#connected) this.#host.tell(this.headAddr, { op: "reg" }, d);
    // Otherwise the next registration carries the full snapshot (and a lost delta is pulled
    // by the head when our heartbeat reports a newer version than it holds).
  }

  /** Where to pull a node's names from after a missed change: the head. */
  pullFrom(): string {
    return this.headAddr;
  }

  /** Handle a push from the head. */
  onPush(p: HeadPush): void {
    if (this.#stopped || typeof p !== "object" || p === null) return;
    if (this.#held) {
      // A registration is in flight: its welcome may be older than this push (the push can
      // overtake it), so apply the welcome first, then this.
      if (this.#held.length < 10_000) this.#held.push(p);
      return;
    }
    this.#apply(p);
  }

  #apply(p: HeadPush): void {
    const reg = this.#host.registry;
    if (p.m && isMember(p.m) && p.m.nodeId !== this.#host.selfId) {
      const m = p.m;
      const sameHead = p.h === undefined || p.h === this.#headId;
      if (m.nodeId === this.#headId && !live(m)) {
        this.#setMember(m);
        this.#lost("the head left");
        return;
      }
      if (!sameHead) {
        // From another head than ours (a former one, or before any welcome): not our view.
      } else if (typeof p.e === "number" && this.#epoch !== undefined) {
        const seen = this.#memberEpoch.get(m.nodeId) ?? -1;
        if (p.e > this.#epoch) {
          // Applied unless that member's record already came with a later change.
          if (p.e > seen) {
            if (live(m)) reg.revive(m.nodeId);
            this.#setMember(m);
            this.#memberEpoch.set(m.nodeId, p.e);
          }
          this.#advance(p.e);
        }
        // Otherwise stale: the view already reflects this change and later ones.
      } else {
        if (live(m)) reg.revive(m.nodeId);
        this.#setMember(m);
      }
    }
    if (p.s && isSnapshot(p.s) && p.s.n !== this.#host.selfId) {
      const m = this.#members.get(p.s.n);
      if (m && live(m)) reg.applySnapshot(p.s);
    }
  }

  /** A push of epoch `e` was applied: advance the gap-free epoch as far as possible. */
  #advance(e: number): void {
    if (this.#epoch === undefined) return;
    this.#ahead.add(e);
    while (this.#ahead.delete(this.#epoch + 1)) this.#epoch++;
    for (const x of this.#ahead) if (x <= this.#epoch) this.#ahead.delete(x);
  }

  /** The connection to the head closed: treat it as lost at once. */
  onHeadConnectionClosed(): void {
    if (this.#connected) this.#lost("connection closed");
  }

  #setMember(rec: Member): void {
    const prev = this.#members.get(rec.nodeId);
    const next = copy(rec);
    this.#members.set(rec.nodeId, next);
    let type: MemberEventType | undefined;
    if (live(next) && (!prev || !live(prev))) type = "up";
    else if (next.state === "dead" && prev?.state !== "dead") type = "dead";
    else if (next.state === "left" && prev?.state !== "left") type = "left";
    else if (prev && live(next) && prev.addr !== next.addr) type = "updated";
    if (type) {
      const ev: MemberEvent = prev
        ? { type, member: copy(next), prev: copy(prev) }
        : { type, member: copy(next) };
      this.#host.onMember(ev);
    }
  }

  async #register(): Promise<boolean> {
    if (this.#registering || this.#stopped) return false;
    this.#registering = true;
    this.#held = [];
    let adopted = false;
    try {
      const w = await this.#host.ask(
        this.headAddr,
        { op: "h-reg", id: this.#host.selfId, a: this.#host.selfAddr },
        this.#host.registry.localSnapshot(),
        this.config.heartbeatTimeoutMs,
      ) as HeadWelcome;
      if (this.#stopped) return false;
      if (!w || typeof w.head !== "string" || !Array.isArray(w.members)) {
        throw new Error("malformed answer to registration");
      }
      this.#adopt(w);
      adopted = true;
      this.#connected = true;
      this.#lastOk = Date.now();
      this.#mismatches = 0;
      this.#retryDelay = this.config.retryMs;
      if (this.#lostLogged) {
        this.#host.log(
          "warn",
          `worker ${this.#host.selfAddr}: regained the head at ${this.headAddr}`,
        );
        this.#lostLogged = false;
      } else if (!this.#everConnected) {
        this.#host.log(
          "info",
          `worker ${this.#host.selfAddr}: registered with head ${this.headAddr}`,
        );
      }
      this.#everConnected = true;
      this.#scheduleHeartbeat();
      return true;
    } catch (e) {
      this.#host.log(
        "debug",
        `registration with ${this.headAddr} failed: ${(e as Error)?.message}`,
      );
      return false;
    } finally {
      this.#registering = false;
      const held = this.#held ?? [];
      this.#held = undefined;
      // Replay what came meanwhile: after a welcome, with its epoch as the baseline.
      if (adopted || this.#headId !== undefined) { for (const p of held) this.#apply(p); }
    }
  }

  /**
   * Take the head's view: members it lists are up, members it lists as gone are dead or left
   * as it says, members it does not list at all are dead — except records that came with a
   * later epoch than the view's (they are newer).
   */
  #adopt(w: HeadWelcome): void {
    const reg = this.#host.registry;
    const e = typeof w.e === "number" ? w.e : undefined;
    if (this.#headId !== undefined && this.#headId !== w.head) {
      const old = this.#members.get(this.#headId);
      if (old && live(old)) {
        this.#setMember({ ...old, state: "dead", incarnation: old.incarnation + 1 });
      }
    }
    if (this.#headId !== w.head || e === undefined) {
      // Another head (or one without epochs): its epochs mean nothing next to the old ones.
      this.#memberEpoch.clear();
      this.#ahead.clear();
      this.#epoch = undefined;
    }
    this.#headId = w.head;
    const newer = (id: string): boolean => e !== undefined && (this.#memberEpoch.get(id) ?? -1) > e;
    const listed = new Set<string>();
    for (const m of w.members) {
      if (!isMember(m) || m.nodeId === this.#host.selfId) continue;
      listed.add(m.nodeId);
      if (newer(m.nodeId)) continue;
      reg.revive(m.nodeId);
      const prev = this.#members.get(m.nodeId);
      // A member we hold as dead at a newer incarnation than the head reports is alive again.
      this.#setMember({
        ...m,
        state: "alive",
        incarnation: Math.max(m.incarnation, prev?.incarnation ?? 0),
      });
      if (e !== undefined) this.#memberEpoch.set(m.nodeId, e);
    }
    for (const g of Array.isArray(w.gone) ? w.gone : []) {
      if (!isMember(g) || live(g) || g.nodeId === this.#host.selfId) continue;
      if (listed.has(g.nodeId) || newer(g.nodeId)) continue;
      const prev = this.#members.get(g.nodeId);
      if (!prev) continue; // never known here: nothing to take back
      listed.add(g.nodeId);
      // Ours is live (we missed the push), older, or a "dead" we inferred for one that left
      // (left outranks dead, as in SWIM). A "left" is never turned into "dead" at the same
      // incarnation.
      if (
        live(prev) || g.incarnation > prev.incarnation ||
        (g.incarnation === prev.incarnation && g.state === "left" && prev.state === "dead")
      ) {
        this.#setMember({ ...g, incarnation: Math.max(g.incarnation, prev.incarnation) });
        if (e !== undefined) this.#memberEpoch.set(g.nodeId, e);
      }
    }
    for (const m of [...this.#members.values()]) {
      if (!listed.has(m.nodeId) && live(m) && !newer(m.nodeId)) {
        // Not listed at all: its tombstone expired on the head (or an older head).
        this.#setMember({ ...m, state: "dead", incarnation: m.incarnation + 1 });
        if (e !== undefined) this.#memberEpoch.set(m.nodeId, e);
      }
    }
    for (const s of w.parts ?? []) {
      if (!isSnapshot(s) || s.n === this.#host.selfId) continue;
      const m = this.#members.get(s.n);
      if (m && live(m)) reg.applySnapshot(s);
    }
    if (e !== undefined) {
      this.#epoch = Math.max(this.#epoch ?? e, e);
      this.#advance(this.#epoch);
    }
  }

  #scheduleHeartbeat(): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#heartbeat();
      // #heartbeat may have found the head lost and scheduled a registration instead.
      if (this.#connected && this.#timer === undefined) this.#scheduleHeartbeat();
    }, this.config.heartbeatMs);
  }

  #heartbeat(): void {
    if (!this.#connected || this.#stopped) return;
    if (Date.now() - this.#lastOk > this.config.heartbeatTimeoutMs) {
      this.#lost(`no answer for ${Date.now() - this.#lastOk} ms`);
      return;
    }
    if (this.#hbInFlight) return;
    this.#hbInFlight = true;
    this.#host.ask(
      this.headAddr,
      { op: "h-hb", id: this.#host.selfId },
      { v: this.#host.registry.localVersion },
      this.config.heartbeatTimeoutMs,
    ).then((r) => {
      if (this.#stopped || !this.#connected) return;
      this.#lastOk = Date.now();
      this.onBeat(r as HeadBeat);
    }, (e) => {
      if (this.#connected && Date.now() - this.#lastOk > this.config.heartbeatMs) {
        this.#lost((e as Error)?.message ?? String(e));
      }
    }).finally(() => {
      this.#hbInFlight = false;
    });
  }

  /**
   * Check a heartbeat reply against this worker's view: unknown to the head → register again;
   * epoch or registry digest different on two replies in a row (one may just have overtaken
   * a push in flight) → resync (register again: the welcome is authoritative).
   * @returns `"ok"`, `"mismatch"` (noted, once) or `"resync"` (a registration was started).
   */
  onBeat(r: HeadBeat | null | undefined): "ok" | "mismatch" | "resync" {
    if (this.#stopped || !r || typeof r !== "object") return "ok";
    if (r.ok === false) {
      this.#host.log(
        "warn",
        `worker ${this.#host.selfAddr}: the head does not know us; registering again`,
      );
      void this.#register();
      return "resync";
    }
    if (typeof r.e !== "number" || typeof r.d !== "number" || this.#registering) return "ok";
    const epochOk = r.e === this.#epoch;
    const digestOk = r.d === this.digest();
    if (epochOk && digestOk) {
      this.#mismatches = 0;
      return "ok";
    }
    if (++this.#mismatches < 2) return "mismatch";
    this.#mismatches = 0;
    this.#resyncs++;
    this.#host.log(
      "info",
      `worker ${this.#host.selfAddr}: view diverged from the head ` +
        `(${epochOk ? "" : `epoch ${this.#epoch} vs ${r.e}`}${epochOk || digestOk ? "" : ", "}${
          digestOk ? "" : "registry digest"
        }); resyncing`,
    );
    void this.#register();
    return "resync";
  }

  /** The head is gone: say so, drop its names, keep serving, retry with backoff. */
  #lost(why: string): void {
    if (this.#stopped) return;
    const wasConnected = this.#connected;
    this.#connected = false;
    if (!this.#lostLogged) {
      this.#lostLogged = true;
      this.#host.log(
        "warn",
        wasConnected || this.#everConnected
          ? `worker ${this.#host.selfAddr}: lost the head at ${this.headAddr} (${why}); ` +
            `serving local actors and retrying`
          : `worker ${this.#host.selfAddr}: head ${this.headAddr} ${why}; ` +
            `running alone and retrying`,
      );
    }
    if (this.#headId !== undefined) {
      const h = this.#members.get(this.#headId);
      if (h && live(h)) this.#setMember({ ...h, state: "dead", incarnation: h.incarnation + 1 });
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(this.#retryDelay * 2, this.config.retryMaxMs);
    this.#timer = setTimeout(async () => {
      this.#timer = undefined;
      if (this.#stopped) return;
      if (!(await this.#register()) && !this.#stopped && !this.#connected) this.#lost(why);
    }, delay);
  }
}
