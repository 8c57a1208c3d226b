/**
 * A networked node: listens, joins a cluster, keeps membership (SWIM) and the name registry,
 * and carries asks, tells, method calls and streams between nodes over one multiplexed RPC
 * connection per peer. It plugs into `ActorSystem` as its `ClusterBackend`.
 *
 * Protocol (request heads, all small msgpack maps):
 * - `{op:"hello", id, a}` (tell): the dialling node's id and advertised address, first on
 *   every outbound connection, so the accepting node reuses that connection for its own
 *   requests (one connection per peer pair).
 * - `{op:"ask"|"call"|"tell", to, m?}`: a message (or method call, `m`) to actor `to` (an id
 *   or a path) on the receiving node.
 * - `{op:"spawn"}`: create an actor of a registered class (body: `RemoteSpawnRequest`).
 * - `{op:"swim", a}` (tell): a membership protocol message from node address `a`.
 * - `{op:"reg"}` (tell): a registry delta; `{op:"pull", n?}` (ask): a registry snapshot (of
 *   this node, or — on a head — of worker `n`); `{op:"has", id}` (ask): is actor `id` here?
 * - Head mode (`h-reg`, `h-hb`, `h-bye`, `h-push`): see `head.ts`.
 *
 * Membership modes: gossip (SWIM, `seeds`; the default), head (`isHeadNode`) or worker
 * (`headAddr`); exactly one per node. Whatever the mode, when a member is declared dead or
 * leaves, its names are dropped, every connection to it is closed (so calls waiting on it fail
 * at once with `PulsingRuntimeError`, even when its socket is still open because the process
 * hangs), and lazy references move on their next call.
 *
 * Routing: `resolve` picks among the live instances of a name with the caller's policy (see
 * `policy.ts`), or round robin per name; each instance carries the number of requests this
 * node has in flight to its node (`inFlight`, for power-of-two choices).
 *
 * Periodic work per node is O(1) in the cluster size: SWIM's protocol period (one probe, a
 * bounded piggyback), and in worker mode one heartbeat. Work proportional to the members
 * happens only on a change (a registry delta is pushed to every member; a dead member's
 * connections are closed) — and on the head, which is central by design.
 *
 * @module
 */

import { ActorRef, type CallOptions } from "../core/actor_ref.ts";
import { ActorStream } from "../core/actor_stream.ts";
import { KIND } from "../core/actor_cell.ts";
import { PulsingRuntimeError, PulsingTimeoutError } from "../core/errors.ts";
import { ActorId, NodeId } from "../core/ids.ts";
import { type RemoteSpawnRequest, spawnRegistered } from "../core/remote.ts";
import type {
  ActorSystem,
  ClusterBackend,
  MemberInfo,
  NamedActorInfo,
  NamedInstance,
  ResolveOptions,
} from "../core/system.ts";
import { NameRegistry, type RegistryDelta, type RegistrySnapshot } from "./registry.ts";
import { HeadClient, type HeadConfig, type HeadHost, type HeadPush, HeadService } from "./head.ts";
import { type FailureKind, LazyActorRef } from "./lazy_ref.ts";
import { type BreakerOptions, type BreakerState, CircuitBreaker } from "./breaker.ts";
import {
  type AskOptions,
  type AskSettle,
  RpcConnection,
  type RpcHandler,
  type RpcOptions,
  RpcStream,
  type ServedRequest,
} from "./rpc.ts";
import {
  type Member,
  type MemberEvent,
  Swim,
  type SwimConfig,
  type SwimMessage,
  type SyncOptions,
  type SyncResult,
} from "./swim.ts";
import { defaultTransport } from "./transport/mod.ts";
import { traceIncoming, traceOutgoing, tracingEnabled } from "./tracing.ts";
import { PreEncoded } from "../streams/codec.ts";
import type { Listener, Transport } from "./transport/types.ts";
import { formatAddr, guessLocalIp, parseAddr, resolveSeeds } from "./addr.ts";

/** Options of a networked node. */
export interface NodeOptions {
  /** Fail the start with the reason when no seed (or the head) answers, instead of running alone. */
  requireJoin?: boolean;
  /** `host:port` to listen on (port 0 picks a free port). Default `127.0.0.1:0`. */
  addr?: string;
  /** The address other nodes should use, when it differs from `addr` (NAT, 0.0.0.0). */
  advertiseAddr?: string;
  /** Seeds to join. */
  seeds?: string[];
  /** The byte transport (default: Deno TCP on Deno, node:net on Node; TLS with a passphrase). */
  transport?: Transport;
  /** Connect timeout in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Request timeout in ms for remote asks and calls (default 30 000; per call overridable). */
  requestTimeoutMs?: number;
  /** Membership timings (see `SwimConfig`). */
  swim?: Partial<SwimConfig>;
  /** Wire limits and settings. */
  rpc?: RpcOptions;
  /** Worker mode: the head node's `host:port` (no SWIM; the head holds membership and names). */
  headAddr?: string;
  /** Head mode: this node holds membership and names for its workers (no SWIM). */
  isHeadNode?: boolean;
  /** Head-mode timings (see `HeadConfig`). */
  head?: Partial<HeadConfig>;
  /**
   * Circuit breaker per remote node for actor calls and tells (see `breaker.ts`; default 5
   * connection-level failures within 10 s, open 1 s → 30 s); `false` turns it off.
   */
  breaker?: BreakerOptions | false;
}

/** Membership queries common to SWIM, the head and a worker. */
interface MembershipView {
  member(nodeId: string): Member | undefined;
  aliveMembers(): Member[];
  members(): Member[];
}

const unsentErrors = new WeakSet<object>();
const connectionErrors = new WeakSet<object>();

function mark(set: WeakSet<object>, e: unknown): unknown {
  if (typeof e === "object" && e !== null) set.add(e);
  return e;
}

/**
 * How a remote request failed: `"unsent"` — it never left this node (no connection, or the
 * connection was already closed), so it is safe to send elsewhere; `"connection"` — the
 * connection was lost after it was handed over (it may have run); `"other"` — anything else
 * (an error from the actor, a timeout, a limit).
 *
 * @example
 * ```ts
 * import { classifyFailure } from "./node.ts";
 * console.log(classifyFailure(new Error("from the actor"))); // "other"
 * ```
 */
export function classifyFailure(e: unknown): FailureKind {
  if (typeof e !== "object" || e === null) return "other";
  if (unsentErrors.has(e)) return "unsent";
  if (connectionErrors.has(e)) return "connection";
  return "other";
}

/**
 * Check a node's options for contradictions.
 *
 * @throws {TypeError} `isHeadNode` with `headAddr` or `seeds`.
 * @example
 * ```ts
 * import { validateNodeOptions } from "./node.ts";
 * try { validateNodeOptions({ isHeadNode: true, seeds: ["127.0.0.1:7000"] }); }
 * catch (e) { console.log((e as Error).name); } // "TypeError"
 * ```
 */
export function validateNodeOptions(options: NodeOptions): void {
  if (options.isHeadNode && options.headAddr !== undefined) {
    throw new TypeError("Cannot set both isHeadNode and headAddr: a node is a head or a worker");
  }
  if (options.isHeadNode && (options.seeds?.length ?? 0) > 0) {
    throw new TypeError(
      "Cannot set both isHeadNode and seeds: head mode replaces gossip (workers use headAddr)",
    );
  }
  if (options.headAddr !== undefined && (options.seeds?.length ?? 0) > 0) {
    throw new TypeError(
      "Cannot set both headAddr and seeds: a worker gets its membership from the head",
    );
  }
}

/** Whether a node reached its seeds (or head) when it started. */
export interface JoinOutcome {
  /** True once a seed (or the head) answered. */
  joined: boolean;
  /** Why not, per address, when it did not. */
  reason?: string;
}

interface Peer {
  lastError?: string;
  conn?: RpcConnection;
  connecting?: Promise<RpcConnection>;
  failedAt?: number;
  backoffMs: number;
}

/** How long after a peer closed its connection we check whether its address still listens. */
const GONE_CHECK_DELAY_MS = 50;

/** Whether a dial failed because nothing listens at the address (ECONNREFUSED). */
function isConnectionRefused(e: unknown): boolean {
  for (let x: unknown = e, i = 0; x !== undefined && x !== null && i < 5; i++) {
    const o = x as { name?: string; code?: string; message?: string; cause?: unknown };
    if (o.name === "ConnectionRefused" || o.code === "ECONNREFUSED") return true;
    if (typeof o.message === "string" && /connection refused|ECONNREFUSED/i.test(o.message)) {
      return true;
    }
    x = o.cause;
  }
  return false;
}

/** Why this layer refuses an unknown `op`. */
class BadRequest extends PulsingRuntimeError {}

/** Start the network side of `system` and attach it. */
export async function startClusterNode(
  system: ActorSystem,
  options: NodeOptions,
): Promise<ClusterNode> {
  validateNodeOptions(options);
  const node = new ClusterNode(system, options);
  await node.start();
  system.attachCluster(node);
  const outcome = await node.join();
  if (!outcome.joined && options.requireJoin) {
    throw new PulsingRuntimeError(`Could not join the cluster: ${outcome.reason}`);
  }
  return node;
}

/** The network side of one node. */
export class ClusterNode implements ClusterBackend {
  readonly system: ActorSystem;
  readonly registry: NameRegistry;
  #addr = "";
  #listener: Listener | undefined;
  readonly #transport: Transport;
  readonly #options: NodeOptions;
  readonly #peers = new Map<string, Peer>();
  readonly #inbound = new Map<RpcConnection, string | undefined>();
  #swim: Swim | undefined;
  #head: HeadService | undefined;
  #worker: HeadClient | undefined;
  #view!: MembershipView;
  readonly #inflight = new Map<string, number>();
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #perHost = new Map<string, number>();
  readonly #pulls = new Set<Promise<void>>();
  #pendingDeltas: RegistryDelta[] | undefined;
  readonly #refusedAt = new Map<string, number>();
  readonly #goneChecks = new Set<string>();
  readonly #maxPerHost: number;
  #closed = false;
  readonly #connectTimeout: number;
  readonly #requestTimeout: number;
  readonly #handler: RpcHandler;
  #isolatedLogged = false;

  constructor(system: ActorSystem, options: NodeOptions) {
    this.system = system;
    validateNodeOptions(options);
    this.#options = options;
    this.#transport = options.transport ?? defaultTransport();
    this.#connectTimeout = options.connectTimeoutMs ?? 5_000;
    this.#requestTimeout = options.requestTimeoutMs ?? 30_000;
    this.#maxPerHost = options.rpc?.maxConnectionsPerHost ?? DEFAULT_MAX_CONNECTIONS_PER_HOST;
    this.registry = new NameRegistry(system.nodeId.value);
    this.registry.onChange((path) => system.notifyName(path));
    this.#handler = {
      onAsk: (head, body, req) => this.#onAsk(head as Head, body, req),
      onTell: (head, body) => this.#onTell(head as Head, body),
    };
  }

  /** This node's advertised `host:port`. */
  get addr(): string {
    return this.#addr;
  }

  /** The membership protocol instance (gossip mode only). */
  get swim(): Swim | undefined {
    return this.#swim;
  }

  /** `"gossip"` (SWIM), `"head"` or `"worker"`. */
  get mode(): "gossip" | "head" | "worker" {
    return this.#head ? "head" : this.#worker ? "worker" : "gossip";
  }

  /** Worker mode: whether the head is reachable now. */
  get headConnected(): boolean | undefined {
    return this.#worker?.connected;
  }

  /** Requests in flight from this node to `nodeId` (what power-of-two compares). */
  inFlight(nodeId: string): number {
    return this.#inflight.get(nodeId) ?? 0;
  }

  /** State of the circuit breaker of the node at `addr` (`"closed"` when none). */
  circuit(addr: string): BreakerState {
    return this.#breakers.get(addr)?.state ?? "closed";
  }

  /**
   * Exchange full membership state with `addrs` now, even when already joined (gossip mode):
   * merges a cluster that formed separately, e.g. Kubernetes pods that started before DNS
   * listed each other. Host names are resolved; the addresses are remembered as seeds, so
   * groups keep merging every few seconds if this exchange is lost. No-op in head mode.
   *
   * @param addrs Addresses (or host names) of other nodes.
   * @param options `remember: false` for a one-off exchange (e.g. addresses from a DNS answer
   * that will be asked again anyway); `timeoutMs`.
   * @returns The addresses that answered within the join timeout.
   */
  async addSeeds(addrs: string[], options?: SyncOptions): Promise<string[]> {
    const swim = this.#swim;
    if (!swim || this.#closed) return [];
    const resolved = (await resolveSeeds(addrs)).filter((a) => a !== this.#addr);
    const r: SyncResult = await swim.sync(resolved, options);
    return r.answered;
  }

  #breaker(addr: string): CircuitBreaker | undefined {
    if (this.#options.breaker === false) return undefined;
    let b = this.#breakers.get(addr);
    if (!b) this.#breakers.set(addr, b = new CircuitBreaker(addr, this.#options.breaker ?? {}));
    return b;
  }

  /**
   * Guard a call to `addr` with its circuit: fail fast when open (as an unsent request, so a
   * lazy reference moves on), and report the outcome: connection-level failures count, a
   * timeout or an abort says nothing, any answer (an actor's error included) is a success.
   */
  #guard<T>(addr: string, call: () => Promise<T>): Promise<T> {
    const b = this.#breaker(addr);
    if (!b) return call();
    let trial: boolean;
    try {
      trial = b.acquire();
    } catch (e) {
      return Promise.reject(mark(unsentErrors, e));
    }
    return call().then(
      (v) => {
        b.record("success", trial);
        return v;
      },
      (e) => {
        this.#recordFailure(b, e, trial);
        throw e;
      },
    );
  }

  /** Connection-level failures count against the breaker; timeouts and aborts do not. */
  #recordFailure(b: CircuitBreaker, e: unknown, trial: boolean): void {
    const kind = classifyFailure(e);
    const name = (e as Error)?.name;
    b.record(
      kind !== "other"
        ? "failure"
        : e instanceof PulsingTimeoutError || name === "AbortError" || name === "TimeoutError"
        ? "neutral"
        : "success",
      trial,
    );
  }

  /** Log one line per host and minute when its connections are refused. */
  #refusePerHost(host: string, remote: string): void {
    const now = Date.now();
    if (now - (this.#refusedAt.get(host) ?? 0) < 60_000) return;
    this.#refusedAt.set(host, now);
    this.system.log(
      "warn",
      `refused a connection from ${remote}: ${this.#maxPerHost} connections from ${host} are ` +
        `already open (maxConnectionsPerHost)`,
    );
  }

  /** Bind the listener. */
  async start(): Promise<void> {
    const bind = parseAddr(this.#options.addr ?? "127.0.0.1:0");
    try {
      this.#listener = await this.#transport.listen(bind);
    } catch (e) {
      throw new PulsingRuntimeError(
        `Cannot listen on ${formatAddr(bind)}: ${(e as Error)?.message ?? e}`,
        { cause: e },
      );
    }
    const real = this.#listener.addr;
    this.#addr = this.#options.advertiseAddr ?? formatAddr({
      hostname: real.hostname === "0.0.0.0" || real.hostname === "::"
        ? guessLocalIp()
        : real.hostname,
      port: real.port,
    });
    this.#listener.onConnection((conn) => {
      if (this.#closed) return conn.close();
      const host = hostOf(conn.remoteAddr);
      const count = this.#perHost.get(host) ?? 0;
      if (count >= this.#maxPerHost) {
        this.#refusePerHost(host, conn.remoteAddr);
        return conn.close();
      }
      this.#perHost.set(host, count + 1);
      const handler: RpcHandler = {
        onAsk: (head, body, req) => this.#onAsk(head as Head, body, req),
        onTell: (head, body) => this.#onTell(head as Head, body, rpc),
      };
      const rpc: RpcConnection = new RpcConnection(conn, handler, this.#rpcOptions());
      this.#inbound.set(rpc, undefined);
      rpc.onClose(() => {
        const left = (this.#perHost.get(host) ?? 1) - 1;
        if (left <= 0) this.#perHost.delete(host);
        else this.#perHost.set(host, left);
        const addr = this.#inbound.get(rpc);
        this.#inbound.delete(rpc);
        for (const [a, p] of this.#peers) if (p.conn === rpc) this.#peers.delete(a);
        if (addr !== undefined) this.#connectionClosed(addr, rpc);
      });
    });
    if (this.#options.isHeadNode) {
      this.#head = new HeadService(this.#headHost(), this.#options.head);
      this.#view = this.#head;
      this.system.log("info", `node ${this.#addr}: head node (no gossip; workers register here)`);
      return;
    }
    if (this.#options.headAddr !== undefined) {
      this.#worker = new HeadClient(this.#headHost(), this.#options.headAddr, this.#options.head);
      this.#view = this.#worker;
      return;
    }
    const swim = new Swim({
      nodeId: this.system.nodeId.value,
      addr: this.#addr,
      meta: { rv: 0 },
      config: this.#options.swim,
      send: (to, msg) => this.#swimSend(to, msg),
      onChange: (ev) => this.#onMember(ev),
      onIsolated: (isolated) => {
        if (isolated && !this.#isolatedLogged) {
          this.#isolatedLogged = true;
          this.system.log(
            "warn",
            `node ${this.#addr}: no seed answered (${(this.#options.seeds ?? []).join(", ")}); ` +
              `running alone and retrying in the background`,
          );
        } else if (!isolated && this.#isolatedLogged) {
          this.#isolatedLogged = false;
          this.system.log("warn", `node ${this.#addr}: a seed answered; joined the cluster`);
        }
      },
    });
    this.#swim = swim;
    this.#view = swim;
    swim.start();
  }

  #headHost(): HeadHost {
    return {
      selfId: this.system.nodeId.value,
      selfAddr: this.#addr,
      registry: this.registry,
      ask: (addr, head, body, timeoutMs) =>
        this.connection(addr).then((c) => c.ask(head, body, { timeoutMs })),
      tell: (addr, head, body) => {
        this.connection(addr).then((c) => c.tell(head, body)).catch(() => {});
      },
      log: (level, msg) => this.system.log(level, msg),
      onMember: (ev) => this.#onMember(ev),
    };
  }

  /**
   * Join the seeds (returns once one answered, or the join timeout passed), or register with
   * the head (returns once registered, or at once if the head does not answer: the worker then
   * runs alone and retries).
   */
  async join(): Promise<JoinOutcome> {
    if (this.#worker) {
      const head = (await resolveSeeds([this.#worker.headAddr]))[0];
      if (head === this.#addr) throw new TypeError(`headAddr ${head} is this node's own address`);
      const ok = await this.#worker.start();
      return ok ? { joined: true } : { joined: false, reason: this.#whyNot([head]) };
    }
    if (!this.#swim) return { joined: true };
    const seeds = (await resolveSeeds(this.#options.seeds ?? [])).filter((s) => s !== this.#addr);
    if (seeds.length === 0) return { joined: true };
    const r = await this.#swim.join(seeds);
    if (!r.joined) return { joined: false, reason: this.#whyNot(seeds) };
    // Names of the members just learned are pulled now; wait for them (briefly) so that a
    // resolve right after init sees the cluster's names.
    await this.#settlePulls(1_000);
    return { joined: true };
  }

  async #settlePulls(maxMs: number): Promise<void> {
    await new Promise((r) => setTimeout(r, 0));
    if (this.#pulls.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#pulls]),
      new Promise((r) => (timer = setTimeout(r, maxMs))),
    ]);
    clearTimeout(timer);
  }

  #whyNot(addrs: string[]): string {
    return addrs.map((a) => `${a}: ${this.#peers.get(a)?.lastError ?? "no answer"}`).join("; ");
  }

  /** A connection to `addr` closed (worker: it may be the head). */
  #connectionClosed(addr: string, rpc: RpcConnection): void {
    if (this.#worker && addr === this.#worker.headAddr && !this.#closed) {
      // Only if no other connection to the head remains.
      const p = this.#peers.get(addr);
      if (!p?.conn || p.conn.closed) this.#worker.onHeadConnectionClosed();
    }
    if (this.#swim && rpc.closedByPeer && !this.#closed) this.#checkGone(addr);
  }

  /**
   * A member's connection was closed from its side. If, a moment later, its address refuses
   * connections, no process listens there any more (killed, crashed): declare it dead now
   * rather than after a SWIM probe and suspicion timeout (~1 s). A hung node (no close) or an
   * unreachable one (no answer at all) is still left to SWIM. The delay lets a graceful
   * leave, gossiped before the socket closes, arrive first.
   */
  #checkGone(addr: string): void {
    if (this.#goneChecks.has(addr)) return;
    this.#goneChecks.add(addr);
    const t = setTimeout(() => {
      this.#goneChecks.delete(addr);
      const swim = this.#swim;
      if (this.#closed || !swim) return;
      const m = swim.members().find((x) =>
        x.addr === addr && (x.state === "alive" || x.state === "suspect")
      );
      const p = this.#peers.get(addr);
      if (!m || (p?.conn && !p.conn.closed)) return;
      this.connection(addr).catch((e) => {
        if (this.#closed || !isConnectionRefused(e)) return;
        if (swim.confirmDead(m.nodeId)) {
          this.system.log("info", `node ${addr} refuses connections: declared dead`);
        }
      });
    }, GONE_CHECK_DELAY_MS);
    (t as { unref?: () => void }).unref?.();
  }

  #rpcOptions(): RpcOptions {
    return {
      requestTimeoutMs: this.#requestTimeout,
      logger: (line) => this.system.log("warn", line),
      describe: describeHead,
      ...this.#options.rpc,
    };
  }

  // ---- connections ----

  /** The connection to a peer, dialling when needed. */
  connection(addr: string): Promise<RpcConnection> {
    if (this.#closed) return Promise.reject(new PulsingRuntimeError("Node is shut down"));
    let p = this.#peers.get(addr);
    if (!p) this.#peers.set(addr, p = { backoffMs: 100 });
    if (p.conn && !p.conn.closed) return Promise.resolve(p.conn);
    p.connecting ??= this.#dial(addr, p);
    return p.connecting;
  }

  async #dial(addr: string, p: Peer): Promise<RpcConnection> {
    try {
      const hp = parseAddr(addr);
      let conn;
      try {
        conn = await this.#transport.connect({
          ...hp,
          signal: AbortSignal.timeout(this.#connectTimeout),
        });
      } catch (e) {
        const msg = (e as Error)?.name === "TimeoutError"
          ? `timed out after ${this.#connectTimeout} ms`
          : (e as Error)?.message ?? String(e);
        throw new PulsingRuntimeError(`Connection failed to ${addr}: ${msg}`, { cause: e });
      }
      if (this.#closed) {
        conn.close();
        throw new PulsingRuntimeError("Node is shut down");
      }
      const rpc = new RpcConnection(conn, this.#handler, this.#rpcOptions());
      rpc.onClose(() => {
        if (p.conn === rpc) p.conn = undefined;
        this.#connectionClosed(addr, rpc);
      });
      void rpc.tell({ op: "hello", id: this.system.nodeId.value, a: this.#addr }, null).catch(
        () => {},
      );
      p.conn = rpc;
      p.failedAt = undefined;
      p.backoffMs = 100;
      return rpc;
    } catch (e) {
      p.failedAt = Date.now();
      p.backoffMs = Math.min(p.backoffMs * 2, 5_000);
      p.lastError = (e as Error)?.message ?? String(e);
      throw e;
    } finally {
      p.connecting = undefined;
    }
  }

  #swimSend(to: string, msg: SwimMessage): void {
    const p = this.#peers.get(to);
    if (p?.conn && !p.conn.closed) {
      p.conn.tell({ op: "swim", a: this.#addr }, msg).catch(() => {});
      return;
    }
    if (p?.failedAt !== undefined && Date.now() - p.failedAt < p.backoffMs) return; // drop
    this.connection(to).then(
      (c) => c.tell({ op: "swim", a: this.#addr }, msg),
      () => {},
    ).catch(() => {});
  }

  // ---- inbound requests ----

  #onTell(head: Head, body: unknown, via?: RpcConnection): void {
    switch (head.op) {
      case "swim":
        this.#swim?.receive(head.a!, body);
        return;
      case "tell": {
        const cell = this.system.localCell(head.to!);
        if (!cell) return;
        if (tracingEnabled()) {
          const tell = () => cell.send(KIND.TELL, body, undefined);
          traceIncoming(head, this.#addr, cell.label, tell).catch(() => {});
        } else cell.send(KIND.TELL, body, undefined).catch(() => {});
        return;
      }
      case "reg":
        this.#onDelta(body as RegistryDelta);
        return;
      case "regs":
        if (Array.isArray(body)) { for (const d of body) this.#onDelta(d as RegistryDelta); }
        return;
      case "hello":
        if (via) this.#onHello(head, via);
        return;
      case "h-push":
        this.#worker?.onPush(body as HeadPush);
        return;
      case "h-bye":
        if (typeof head.id === "string") this.#head?.bye(head.id);
        return;
      default:
        throw new BadRequest(`unknown tell op ${JSON.stringify(head?.op)}`);
    }
  }

  /** Reuse an inbound connection for our own requests to that node (one connection per pair). */
  #onHello(head: Head, via: RpcConnection): void {
    const addr = head.a;
    if (typeof addr !== "string" || via.closed) return;
    if (this.#inbound.has(via)) this.#inbound.set(via, addr);
    let p = this.#peers.get(addr);
    if (!p) this.#peers.set(addr, p = { backoffMs: 100 });
    if (!p.conn || p.conn.closed) {
      p.conn = via;
      p.failedAt = undefined;
    }
  }

  /** Answer a request: method calls and asks on the hot path, the rest in {@linkcode #onRequest}. */
  #onAsk(head: Head, body: unknown, req: ServedRequest): unknown {
    if (head.op !== "call" && head.op !== "ask") return this.#onRequest(head, body);
    const cell = typeof head.to === "string" ? this.system.localCell(head.to) : undefined;
    if (!cell || !cell.alive) {
      throw new PulsingRuntimeError(`Actor not found: ${head.to} on node ${this.#addr}`);
    }
    if (cell.lendsBytes) req.lendBytes();
    if (head.op === "call") {
      if (typeof head.m !== "string") throw new BadRequest("Invalid method: not a string");
      if (!Array.isArray(body)) throw new BadRequest("Invalid call: arguments must be an array");
      const m = head.m;
      // an ActorStream result is streamed by the RPC layer
      return tracingEnabled()
        ? traceIncoming(head, this.#addr, cell.label, () => cell.send(KIND.CALL, m, body))
        : cell.send(KIND.CALL, m, body);
    }
    return tracingEnabled()
      ? traceIncoming(head, this.#addr, cell.label, () => cell.send(KIND.ASK, body, undefined))
      : cell.send(KIND.ASK, body, undefined);
  }

  async #onRequest(head: Head, body: unknown): Promise<unknown> {
    switch (head.op) {
      case "spawn": {
        const ref = await spawnRegistered(this.system, body as RemoteSpawnRequest);
        return { id: ref.actorId.value, name: ref.name };
      }
      case "pull":
        if (typeof head.n === "string" && head.n !== this.system.nodeId.value) {
          return this.registry.snapshotOf(head.n) ?? null;
        }
        return this.registry.localSnapshot();
      case "h-reg": {
        if (!this.#head) throw new BadRequest(`node ${this.#addr} is not a head node`);
        if (typeof head.id !== "string" || typeof head.a !== "string") {
          throw new BadRequest("h-reg needs id and a");
        }
        return this.#head.register(head.id, head.a, body as RegistrySnapshot);
      }
      case "h-hb": {
        if (!this.#head) throw new BadRequest(`node ${this.#addr} is not a head node`);
        // The reply carries the head's epoch and registry digest (worker-side anti-entropy).
        return typeof head.id === "string" ? this.#head.beat(head.id, body) : { ok: false };
      }
      case "has":
        return this.system.cellById(head.id!)?.alive === true;
      case "members":
        return this.members();
      default:
        throw new BadRequest(`unknown request op ${JSON.stringify(head?.op)}`);
    }
  }

  // ---- membership and registry ----

  #onMember(ev: MemberEvent): void {
    const m = ev.member;
    if (ev.type === "dead" || ev.type === "left") {
      this.registry.dropNode(m.nodeId);
      if (this.#inflight.get(m.nodeId) === 0) this.#inflight.delete(m.nodeId);
      // Fail every request waiting on that node at once (its socket may still be open: a
      // hung process keeps it so).
      const why = `node ${m.addr} is ${ev.type}`;
      // Fail fast from now on, unless a new process already lives at that address.
      if (!this.#liveAt(m.addr)) {
        this.#breaker(m.addr)?.trip(ev.type === "dead" ? "(declared dead)" : "(it left)");
      }
      // A new process at the same address (a restart) owns the connections there now.
      if (!this.#liveAt(m.addr)) {
        const p = this.#peers.get(m.addr);
        if (p?.conn) p.conn.close(why);
        for (const [c, addr] of this.#inbound) if (addr === m.addr) c.close(why);
      }
      this.system.log(
        ev.type === "dead" ? "warn" : "info",
        `member ${m.addr} (${m.nodeId.slice(0, 8)}) is ${ev.type}`,
      );
      return;
    }
    if (ev.type === "forgotten") {
      this.registry.revive(m.nodeId); // its tombstone expired with SWIM's
      if (this.#view.member(m.nodeId) === undefined && !this.#liveAt(m.addr)) {
        this.#breakers.delete(m.addr);
      }
      return;
    }
    if (ev.type === "up" || ev.type === "alive") this.#breakers.get(m.addr)?.reset();
    if (ev.type === "up" || ev.type === "updated" || ev.type === "alive") {
      if (ev.type === "up" && ev.prev && (ev.prev.state === "dead" || ev.prev.state === "left")) {
        // Back with a newer incarnation (a refuted false death, or a rejoin): accept its names.
        this.registry.revive(m.nodeId);
        this.system.log("warn", `member ${m.addr} (${m.nodeId.slice(0, 8)}) is alive again`);
      }
      if (!this.#swim) return; // head mode: names come with the head's pushes
      const rv = Number((m.meta as { rv?: number } | undefined)?.rv ?? 0);
      if (rv > this.registry.versionOf(m.nodeId)) void this.#pull(m.addr, m.nodeId);
    }
  }

  /** Fetch node `nodeId`'s names from `addr` (the node itself, or the head). */
  #pull(addr: string, nodeId: string): Promise<void> {
    const p = this.#doPull(addr, nodeId);
    this.#pulls.add(p);
    p.finally(() => this.#pulls.delete(p));
    return p;
  }

  async #doPull(addr: string, nodeId: string, attempt = 0): Promise<void> {
    try {
      const c = await this.connection(addr);
      const snap = await c.ask({ op: "pull", n: nodeId }, null, { timeoutMs: 5_000 }) as
        | RegistrySnapshot
        | null;
      if (snap && snap.n === nodeId) this.registry.applySnapshot(snap);
    } catch (e) {
      this.system.log("debug", `registry pull from ${addr} failed: ${(e as Error)?.message}`);
      // Try again while the member is alive and still ahead of what we hold: a pull that
      // failed (a connection closed by a restart at the same address, say) must not leave
      // its names unknown until the next change.
      if (attempt < 5 && !this.#closed) {
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
        const m = this.#view.member(nodeId);
        const rv = Number((m?.meta as { rv?: number } | undefined)?.rv ?? 0);
        if (m && m.state === "alive" && rv > this.registry.versionOf(nodeId)) {
          await this.#doPull(this.#worker ? addr : m.addr, nodeId, attempt + 1);
        }
      }
    }
  }

  #onDelta(d: RegistryDelta): void {
    if (!isDelta(d)) throw new BadRequest("malformed registry delta");
    if (this.#head) {
      this.#head.onDelta(d);
      return;
    }
    const r = this.registry.applyDelta(d);
    if (r === "gap") {
      if (this.#worker) {
        void this.#pull(this.#worker.pullFrom(), d.n);
        return;
      }
      const m = this.#view.member(d.n);
      if (m) void this.#pull(m.addr, m.nodeId);
    }
  }

  #broadcastDelta(d: RegistryDelta): void {
    if (this.#head) return this.#head.publish(d);
    if (this.#worker) return this.#worker.publish(d);
    // Gossip mode: the changes of one turn go out together (one meta update, one message per
    // member), so spawning many actors at once costs little per actor.
    if (this.#pendingDeltas === undefined) {
      this.#pendingDeltas = [];
      queueMicrotask(() => this.#flushDeltas());
    }
    this.#pendingDeltas.push(d);
  }

  #flushDeltas(): void {
    const ds = this.#pendingDeltas;
    this.#pendingDeltas = undefined;
    if (!ds || ds.length === 0 || this.#closed) return;
    const swim = this.#swim!;
    swim.setMeta({ rv: ds[ds.length - 1].v });
    const self = this.system.nodeId.value;
    const [head, body] = ds.length === 1 ? [{ op: "reg" }, ds[0]] : [{ op: "regs" }, ds];
    for (const m of swim.aliveMembers()) {
      if (m.nodeId === self) continue;
      this.connection(m.addr).then((c) => c.tell(head, body)).catch(() => {});
    }
  }

  registerName(path: string, actorId: ActorId, metadata: Record<string, string>): void {
    this.#broadcastDelta(this.registry.addLocal(path, actorId.value, metadata));
  }

  unregisterName(path: string, actorId: ActorId): void {
    const d = this.registry.removeLocal(path, actorId.value);
    if (d) this.#broadcastDelta(d);
  }

  #liveAt(addr: string): boolean {
    return this.#view.aliveMembers().some((m) => m.addr === addr);
  }

  #memberAddr(nodeId: string): string | undefined {
    if (nodeId === this.system.nodeId.value) return this.#addr;
    const m = this.#view.member(nodeId);
    return m && (m.state === "alive" || m.state === "suspect") ? m.addr : undefined;
  }

  resolve(path: string, options: ResolveOptions): ActorRef | undefined {
    return this.#pick(path, options, undefined);
  }

  #pick(
    path: string,
    options: ResolveOptions,
    exclude: ReadonlySet<string> | undefined,
  ): ActorRef | undefined {
    const self = this.system.nodeId.value;
    const want = options.nodeId === undefined ? undefined : String(options.nodeId);
    const inst = this.registry.instances(path).filter((i) =>
      (want === undefined || i.nodeId === want) && !exclude?.has(i.nodeId) &&
      this.#memberAddr(i.nodeId) !== undefined
    );
    if (inst.length === 0) return undefined;
    let idx: number;
    if (options.policy) {
      idx = options.policy.select(
        inst.map((i) => this.#instanceInfo(i.nodeId, i.entry.actorId, i.entry.meta)),
        options.key,
      );
    } else if (inst.length === 1) idx = 0;
    else idx = this.system.nextRoundRobin(path) % inst.length;
    if (!Number.isInteger(idx)) idx = 0;
    const pick = inst[Math.max(0, Math.min(inst.length - 1, idx))];
    if (pick.nodeId === self) {
      const cell = this.system.localCell(path);
      return cell?.alive ? cell.ref : undefined;
    }
    return new RemoteActorRef(
      this,
      pick.nodeId,
      this.#memberAddr(pick.nodeId)!,
      pick.entry.actorId,
      path,
    );
  }

  #instanceInfo(nodeId: string, actorId: string, meta: Record<string, string>): NamedInstance {
    return {
      nodeId,
      actorId,
      addr: this.#memberAddr(nodeId),
      metadata: meta,
      inFlight: this.#inflight.get(nodeId) ?? 0,
    };
  }

  /**
   * A lazy reference to `path` (see `ResolveBuilder.lazy`): resolves on use with `options`,
   * moves when its target dies, leaves or fails to be reached, and re-resolves every 5 s.
   */
  lazy(path: string, options: ResolveOptions): ActorRef {
    return new LazyActorRef(path, {
      resolve: (exclude) => {
        if (exclude.size === 0) return this.system.resolve(path, options);
        const r = this.#pick(path, options, exclude);
        return r
          ? Promise.resolve(r)
          : Promise.reject(new PulsingRuntimeError(`Named actor not found: ${path}`));
      },
      isCurrent: (ref) => this.#isCurrent(path, ref),
      classify: classifyFailure,
    });
  }

  /** Is `ref` still the live holder of `path`? O(1). */
  #isCurrent(path: string, ref: ActorRef): boolean {
    if (ref.isLocal()) {
      const cell = this.system.localCell(path);
      return cell !== undefined && cell.alive && cell.actorId.equals(ref.actorId);
    }
    const id = ref.nodeId.value;
    if (this.#memberAddr(id) === undefined) return false;
    return this.registry.entryOf(id, path)?.actorId === ref.actorId.value;
  }

  async refer(actorId: ActorId): Promise<ActorRef | undefined> {
    const found = this.registry.findActor(actorId.value);
    if (found) {
      const addr = this.#memberAddr(found.nodeId);
      if (addr) {
        return new RemoteActorRef(this, found.nodeId, addr, actorId.value, found.entry.path);
      }
    }
    const others = this.#view.aliveMembers().filter((m) => m.nodeId !== this.system.nodeId.value);
    const answers = await Promise.all(others.map(async (m) => {
      try {
        const c = await this.connection(m.addr);
        return (await c.ask({ op: "has", id: actorId.value }, null, { timeoutMs: 5_000 })) === true
          ? m
          : undefined;
      } catch {
        return undefined;
      }
    }));
    const m = answers.find((x) => x !== undefined);
    return m ? new RemoteActorRef(this, m.nodeId, m.addr, actorId.value, undefined) : undefined;
  }

  members(): Promise<MemberInfo[]> {
    const out: MemberInfo[] = [{
      nodeId: this.system.nodeId.value,
      addr: this.#addr,
      status: "alive",
    }];
    for (const m of this.#view.members()) {
      if (m.nodeId === this.system.nodeId.value) continue;
      out.push({ nodeId: m.nodeId, addr: m.addr, status: m.state });
    }
    return Promise.resolve(out);
  }

  allNamedActors(): Promise<NamedActorInfo[]> {
    const out: NamedActorInfo[] = [];
    for (const [path, list] of this.registry.all()) {
      const instances = list
        .filter((i) => this.#memberAddr(i.nodeId) !== undefined)
        .map((i) => this.#instanceInfo(i.nodeId, i.entry.actorId, i.entry.meta));
      if (instances.length) out.push({ path, instanceCount: instances.length, instances });
    }
    return Promise.resolve(out);
  }

  /** Create an actor of a registered class on another node (`"remote"` = any other). */
  async spawnRemote(req: RemoteSpawnRequest, placement: string): Promise<ActorRef> {
    const self = this.system.nodeId.value;
    let target: Member | undefined;
    if (placement === "remote") {
      const others = this.#view.aliveMembers().filter((m) => m.nodeId !== self);
      if (others.length === 0) {
        this.system.log(
          "warn",
          `placement "remote": no other alive node, spawning ${req.name} locally`,
        );
        return await spawnRegistered(this.system, req);
      }
      target = others[Math.floor(Math.random() * others.length)];
    } else {
      const id = NodeId.parse(placement).value;
      if (id === self) return await spawnRegistered(this.system, req);
      target = this.#view.member(id);
      if (!target || (target.state !== "alive" && target.state !== "suspect")) {
        throw new PulsingRuntimeError(`Node not found: ${placement} (not an alive member)`);
      }
    }
    const c = await this.connection(target.addr);
    const r = await c.ask({ op: "spawn" }, req) as { id: string; name?: string };
    return new RemoteActorRef(this, target.nodeId, target.addr, r.id, r.name);
  }

  /**
   * Send a request to a node. Failures are classified for {@linkcode classifyFailure}; with
   * `nodeId`, the request counts in that node's in-flight number until it settles.
   */
  request(
    addr: string,
    head: Head | PreEncoded,
    body: unknown,
    options?: CallOptions,
    nodeId?: string,
    label?: string,
  ): Promise<unknown> {
    if (!tracingEnabled()) return this.#request(addr, head, body, options, nodeId);
    // the trace context goes into the head: a fresh, mutable one
    const h: Head = head instanceof PreEncoded ? { ...(head.value as Head) } : head;
    return traceOutgoing(h, addr, label, () => this.#request(addr, h, body, options, nodeId));
  }

  #request(
    addr: string,
    head: Head | PreEncoded,
    body: unknown,
    options?: CallOptions,
    nodeId?: string,
  ): Promise<unknown> {
    // No promise of its own on the hot path: the breaker, the in-flight count, the connection
    // classification and the stream wrapping all happen in `CallSettle`, which the RPC layer
    // runs as the reply (or the failure) arrives, before the caller's promise settles.
    const b = this.#breaker(addr);
    let trial = false;
    if (b) {
      try {
        trial = b.acquire();
      } catch (e) {
        return Promise.reject(mark(unsentErrors, e));
      }
    }
    const st = new CallSettle(this.#callHooks, nodeId, b, trial, options);
    if (nodeId !== undefined) this.#inflight.set(nodeId, (this.#inflight.get(nodeId) ?? 0) + 1);
    const conn = this.#peers.get(addr)?.conn;
    if (conn !== undefined && !conn.closed) {
      st.conn = conn;
      return conn.ask(head, body, st);
    }
    return this.connection(addr).then((c) => {
      st.conn = c;
      if (c.closed) {
        throw st.fail(
          mark(unsentErrors, new PulsingRuntimeError(`connection to ${c.remoteAddr} closed`)),
        );
      }
      return c.ask(head, body, st);
    }, (e) => {
      throw st.fail(mark(unsentErrors, e));
    });
  }

  /** What {@linkcode CallSettle} runs when a call settles (one pair per node). */
  readonly #callHooks: CallHooks = {
    ok: (c: CallSettle, v: unknown): unknown => {
      if (c.nodeId !== undefined) this.#settled(c.nodeId);
      c.breaker?.record("success", c.trial);
      if (!(v instanceof RpcStream)) return v;
      const s = ActorStream.fromIterable(v);
      return c.signal ? s.abortOn(c.signal) : s;
    },
    fail: (c: CallSettle, e: unknown): unknown => {
      if (c.nodeId !== undefined) this.#settled(c.nodeId);
      if (
        c.conn?.closed && !(e instanceof PulsingTimeoutError) && classifyFailure(e) === "other"
      ) {
        mark(connectionErrors, e);
      }
      if (c.breaker) this.#recordFailure(c.breaker, e, c.trial);
      return e;
    },
  };

  #settled(nodeId: string): void {
    // kept at 0 rather than deleted: a Map whose key comes and goes on every call rebuilds its
    // table over and over (see id_table.ts); the entry goes when the node does
    const n = (this.#inflight.get(nodeId) ?? 1) - 1;
    this.#inflight.set(nodeId, n > 0 ? n : 0);
  }

  /** Send a one-way message to a node. */
  send(addr: string, head: Head, body: unknown, label?: string): Promise<void> {
    const send = () => this.#guard(addr, () => this.#tell(addr, head, body));
    return tracingEnabled() ? traceOutgoing(head, addr, label, send) : send();
  }

  #tell(addr: string, head: Head, body: unknown): Promise<void> {
    return this.connection(addr).then(
      (c) => {
        if (c.closed) {
          throw mark(unsentErrors, new PulsingRuntimeError(`connection to ${addr} closed`));
        }
        return c.tell(head, body, { lane: head.to }).catch((e) => {
          if (c.closed) mark(connectionErrors, e);
          throw e;
        });
      },
      (e) => Promise.reject(mark(unsentErrors, e)),
    );
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.#swim) await this.#swim.leave();
      else if (this.#head) this.#head.leave();
      else if (this.#worker) this.#worker.leave();
    } catch { /* best effort */ }
    this.#swim?.stop();
    this.#head?.stop();
    this.#worker?.stop();
    this.#closed = true;
    this.#listener?.close();
    const conns = new Set<RpcConnection>(this.#inbound.keys());
    for (const p of this.#peers.values()) if (p.conn) conns.add(p.conn);
    await Promise.all([...conns].map(async (c) => {
      try {
        await Promise.race([c.flushed(), new Promise((r) => setTimeout(r, 200))]);
      } catch { /* closing anyway */ }
      c.close("node shutting down");
    }));
    this.#peers.clear();
    this.#inbound.clear();
  }
}

function isDelta(d: unknown): d is RegistryDelta {
  const x = d as RegistryDelta;
  return typeof x === "object" && x !== null && typeof x.n === "string" &&
    Number.isSafeInteger(x.v) && (x.op === "add" || x.op === "del") && typeof x.p === "string" &&
    typeof x.a === "string";
}

/** Default of `WireLimits.maxConnectionsPerHost`. */
export const DEFAULT_MAX_CONNECTIONS_PER_HOST = 256;

function hostOf(addr: string): string {
  const i = addr.lastIndexOf(":");
  return i > 0 ? addr.slice(0, i) : addr;
}

/** Request head. */
export interface Head {
  op: string;
  to?: string;
  m?: string;
  a?: string;
  id?: string;
  /** `pull`: whose names. */
  n?: string;
  /** W3C traceparent of the caller's span, when tracing is on. */
  tp?: string;
}

function describeHead(head: unknown): string {
  const h = head as Head;
  if (h?.op === "call") return `call ${h.to}.${h.m}`;
  if (h?.op) return `${h.op}${h.to ? ` ${h.to}` : ""}`;
  return JSON.stringify(head);
}

interface CallHooks {
  ok(c: CallSettle, v: unknown): unknown;
  fail(c: CallSettle, e: unknown): unknown;
}

/**
 * One remote call's bookkeeping, handed to `RpcConnection.ask` as its options: the timeout and
 * signal, and (as {@linkcode AskSettle}) what runs when the call settles.
 */
class CallSettle implements AskOptions, AskSettle {
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly settle: AskSettle;
  conn: RpcConnection | undefined = undefined;
  readonly #hooks: CallHooks;
  readonly nodeId: string | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly trial: boolean;
  #done = false;

  constructor(
    hooks: CallHooks,
    nodeId: string | undefined,
    breaker: CircuitBreaker | undefined,
    trial: boolean,
    options: CallOptions | undefined,
  ) {
    this.#hooks = hooks;
    this.nodeId = nodeId;
    this.breaker = breaker;
    this.trial = trial;
    this.timeoutMs = options?.timeout;
    this.signal = options?.signal;
    this.settle = this;
  }

  ok(v: unknown): unknown {
    if (this.#done) return v;
    this.#done = true;
    return this.#hooks.ok(this, v);
  }

  fail(e: unknown): unknown {
    if (this.#done) return e;
    this.#done = true;
    try {
      return this.#hooks.fail(this, e);
    } catch {
      return e;
    }
  }
}

/** A reference to an actor on another node. */
export class RemoteActorRef extends ActorRef {
  readonly #node: ClusterNode;
  readonly #nodeId: NodeId;
  readonly #addr: string;
  readonly #id: ActorId;
  readonly #name: string | undefined;
  readonly #to: string;
  /** Heads encoded once (the same target and method, call after call); not with tracing on. */
  #askHead: PreEncoded | undefined;
  #heads: Map<string, PreEncoded> | undefined;
  constructor(
    node: ClusterNode,
    nodeId: string,
    addr: string,
    actorId: string,
    name: string | undefined,
  ) {
    super();
    this.#node = node;
    this.#nodeId = new NodeId(nodeId);
    this.#addr = addr;
    this.#id = new ActorId(actorId);
    this.#name = name;
    this.#to = actorId;
  }
  get actorId(): ActorId {
    return this.#id;
  }
  get nodeId(): NodeId {
    return this.#nodeId;
  }
  get name(): string | undefined {
    return this.#name;
  }
  /** The node's address. */
  get addr(): string {
    return this.#addr;
  }
  isLocal(): boolean {
    return false;
  }
  ask<R = unknown>(msg: unknown, options?: CallOptions): Promise<R> {
    return this.#node.request(
      this.#addr,
      tracingEnabled() ? { op: "ask", to: this.#to } : (this.#askHead ??= new PreEncoded({
        op: "ask",
        to: this.#to,
      })),
      msg,
      options,
      this.#nodeId.value,
      this.#name,
    ) as Promise<R>;
  }
  tell(msg: unknown): Promise<void> {
    return this.#node.send(this.#addr, { op: "tell", to: this.#to }, msg, this.#name);
  }
  call(method: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    return this.#node.request(
      this.#addr,
      tracingEnabled() ? { op: "call", to: this.#to, m: method } : this.#callHead(method),
      args,
      options,
      this.#nodeId.value,
      this.#name,
    );
  }
  #callHead(method: string): PreEncoded {
    const heads = this.#heads ??= new Map();
    let h = heads.get(method);
    if (h === undefined) {
      h = new PreEncoded({ op: "call", to: this.#to, m: method });
      if (heads.size < 64) heads.set(method, h);
    }
    return h;
  }
}
