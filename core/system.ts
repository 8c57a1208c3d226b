/**
 * {@linkcode ActorSystem}: the runtime of one node — spawning, naming, stopping, resolving.
 *
 * On its own it is an in-process system; `cluster/` plugs a {@linkcode ClusterBackend} into it
 * to make names resolvable across nodes.
 *
 * @module
 */

import type { Actor } from "./actor.ts";
import { ActorCell, type CellConfig, type CellHost, LocalActorRef } from "./actor_cell.ts";
import type { ActorRef } from "./actor_ref.ts";
import { PulsingRuntimeError, PulsingUnsupportedError } from "./errors.ts";
import { ActorId, NodeId } from "./ids.ts";
import { consoleLogger, type Logger, type LogLevel } from "./log.ts";
import { normalizeName } from "./names.ts";
import { type SupervisionOptions, SupervisionSpec } from "./supervision.ts";

/** Default mailbox capacity. */
export const DEFAULT_MAILBOX_CAPACITY = 256;

/** Shared by every actor spawned without supervision options (specs are immutable). */
const DEFAULT_SPEC: SupervisionSpec = new SupervisionSpec();
/** Shared by every actor spawned without metadata. */
const NO_METADATA: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Supervision specs by value, so that actors spawned with the same options share one (and with
 * it one cell config: see `#config`). Bounded: past 256 distinct ones, no more sharing.
 */
const specs = new Map<string, SupervisionSpec>();

function internSpec(spec: SupervisionSpec): SupervisionSpec {
  const key = `${spec.policy}|${spec.maxRestarts}|${spec.minBackoff}|${spec.maxBackoff}`;
  const known = specs.get(key);
  if (known !== undefined) return known;
  if (specs.size < 256) specs.set(key, spec);
  return spec;
}

/** Options of {@linkcode ActorSystem.spawn}. */
export interface SpawnOptions extends SupervisionOptions {
  /** Make the actor resolvable by this name (`counter` → `actors/counter`). */
  name?: string;
  /** Kept for API compatibility with the reference: every named actor is resolvable. */
  public?: boolean;
  /** Mailbox capacity (default 256). A full mailbox makes senders wait. */
  mailboxCapacity?: number;
  /** Diagnostic key/values recorded with the name (class, module, ...). */
  metadata?: Record<string, string>;
  /** Supervision as a spec object (overrides the flat options). */
  supervision?: SupervisionSpec;
  /** Allow the reserved `system/` namespace (internal actors). */
  allowSystemName?: boolean;
  /**
   * Lend, rather than give, the big `Uint8Array`s (64 KiB or more) that asks from other nodes
   * carry: each is valid until the handler's result has settled (and its reply is written),
   * then detached (`byteLength` 0) and its memory reused for the next big message — no fresh
   * allocation per message, the largest cost of big payloads. Only for handlers that do not
   * keep the bytes, or views of them, past their result (copy with `.slice()` what you keep).
   * Streamed replies, tells and local calls are not affected. Default `false`.
   */
  lendBytes?: boolean;
}

/** Options of {@linkcode ActorSystem.resolve}. */
export interface ResolveOptions {
  /** Pick the instance on this node. */
  nodeId?: NodeId | string;
  /** Wait up to this many ms for the name to appear (default: a single attempt). */
  timeout?: number;
  /** How to choose among several instances (default round robin). */
  policy?: LoadBalancingPolicy;
  /** Routing key passed to the policy (used by consistent hashing). */
  key?: string;
}

/** One instance of a named actor. */
export interface NamedInstance {
  /** The node it runs on. */
  nodeId: string;
  /** Its id. */
  actorId: string;
  /** The node's address, when it has one. */
  addr?: string;
  /** Recorded metadata (class, module, ...). */
  metadata?: Record<string, string>;
  /** Requests this node has in flight to that node (what power-of-two compares). */
  inFlight?: number;
}

/** A named actor and its instances, as listed by {@linkcode ActorSystem.allNamedActors}. */
export interface NamedActorInfo {
  /** The path. */
  path: string;
  /** How many instances (one per node at most). */
  instanceCount: number;
  /** The instances. */
  instances: NamedInstance[];
}

/** A cluster member, as listed by {@linkcode ActorSystem.members}. */
export interface MemberInfo {
  /** Its node id. */
  nodeId: string;
  /** Its address (`host:port`), empty for an in-process node. */
  addr: string;
  /** `"alive"`, `"suspect"`, `"dead"` or `"left"`. */
  status: string;
}

/**
 * Chooses one of several instances of a name.
 *
 * @example
 * ```ts
 * import type { LoadBalancingPolicy, NamedInstance } from "@pulsing/pulsing/core";
 * const first: LoadBalancingPolicy = { select: (_xs: NamedInstance[]) => 0 };
 * ```
 */
export interface LoadBalancingPolicy {
  /**
   * Return the index of the chosen instance (the list is never empty). `key` is the routing
   * key given to `resolving().key(k)`, if any.
   */
  select(instances: NamedInstance[], key?: string): number;
}

/**
 * What `cluster/` provides to make a system part of a cluster. Internal contract; users never
 * implement it.
 */
export interface ClusterBackend {
  /** This node's listening address. */
  readonly addr: string;
  /** A local named actor appeared. */
  registerName(path: string, actorId: ActorId, metadata: Record<string, string>): void;
  /** A local named actor is gone. */
  unregisterName(path: string, actorId: ActorId): void;
  /** Find a reference to a name anywhere in the cluster (undefined when unknown). */
  resolve(path: string, options: ResolveOptions): ActorRef | undefined;
  /**
   * A reference that resolves `path` on first use and again when its target goes away
   * (see `ResolveBuilder.lazy`).
   */
  lazy?(path: string, options: ResolveOptions): ActorRef;
  /** Find an actor by id anywhere in the cluster. */
  refer(actorId: ActorId): Promise<ActorRef | undefined>;
  /** The members. */
  members(): Promise<MemberInfo[]>;
  /** Named actors across the cluster. */
  allNamedActors(): Promise<NamedActorInfo[]>;
  /** Leave the cluster and close connections. */
  shutdown(): Promise<void>;
}

/** Options of {@linkcode ActorSystem} (see `pul.actorSystem` for the networked form). */
export interface ActorSystemOptions {
  /** A fixed node id (random by default). */
  nodeId?: NodeId;
  /** Where log lines go (default: stderr at `PULSING_LOG` level, `warn` by default). */
  logger?: Logger;
  /** Default mailbox capacity of actors spawned here (16..1,000,000; default 256). */
  defaultMailboxCapacity?: number;
  /** How long shutdown waits for running calls of each actor, in ms (default 5000). */
  shutdownGraceMs?: number;
}

/**
 * A node's actor runtime.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * const system = new ActorSystem();
 * const ref = await system.spawn({ receive: (n: number) => n * 2 }, { name: "double" });
 * console.log(await ref.ask(21)); // 42
 * console.log(system.localActorNames()); // ["actors/double"]
 * await system.shutdown();
 * ```
 */
export class ActorSystem implements CellHost {
  /** This node's id. */
  readonly nodeId: NodeId;
  readonly #logger: Logger;
  readonly #defaultCap: number;
  readonly #graceMs: number;
  readonly #byName = new Map<string, ActorCell>();
  readonly #byId = new Map<string, ActorCell>();
  #nameWaiters: Map<string, Set<() => void>> | undefined;
  #closed = false;
  #shutdown: Promise<void> | undefined;
  #cluster: ClusterBackend | undefined;
  readonly #onShutdown: (() => Promise<void> | void)[] = [];
  readonly #extensions = new Map<string, unknown>();
  readonly #rr = new Map<string, number>();
  /** The cell settings of the last spawn, reused while they stay the same (the common case). */
  #lastConfig: CellConfig | undefined;

  /** Create an in-process system. */
  constructor(options: ActorSystemOptions = {}) {
    this.nodeId = options.nodeId ?? NodeId.random();
    this.#logger = options.logger ?? consoleLogger;
    const cap = options.defaultMailboxCapacity ?? DEFAULT_MAILBOX_CAPACITY;
    if (!Number.isInteger(cap) || cap < 16 || cap > 1_000_000) {
      throw new TypeError(`defaultMailboxCapacity must be an integer in 16..1000000, got ${cap}`);
    }
    this.#defaultCap = cap;
    this.#graceMs = options.shutdownGraceMs ?? 5_000;
  }

  /** The listening address (`host:port`), or `""` for an in-process system. */
  get addr(): string {
    return this.#cluster?.addr ?? "";
  }
  /** True once {@linkcode ActorSystem.shutdown} has been called. */
  get isShutdown(): boolean {
    return this.#closed;
  }
  /** The cluster backend, when networked (internal). */
  get cluster(): ClusterBackend | undefined {
    return this.#cluster;
  }

  /** Attach the cluster layer (internal: called by `cluster/`). */
  attachCluster(cluster: ClusterBackend): void {
    if (this.#cluster) throw new PulsingRuntimeError("A cluster backend is already attached");
    this.#cluster = cluster;
    for (const c of this.#byName.values()) {
      cluster.registerName(c.name!, c.actorId, c.metadata);
    }
  }

  /** Run `fn` during shutdown, after actors have stopped and before the cluster is left. */
  onShutdown(fn: () => Promise<void> | void): void {
    this.#onShutdown.push(fn);
  }

  /** Per-system singletons of higher layers (queue, topic, gateway) — internal. */
  extension<T>(key: string, create: () => T): T {
    let v = this.#extensions.get(key) as T | undefined;
    if (v === undefined) {
      v = create();
      this.#extensions.set(key, v);
    }
    return v;
  }

  /** Write a log line through the system's logger. */
  log(level: LogLevel, msg: string): void {
    this.#logger(level, msg);
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new PulsingRuntimeError("Actor system is shut down: no new actors or calls");
    }
  }

  /**
   * Spawn an actor.
   *
   * `actor` is an object with `receive`, or a factory (`() => actor`, sync or async) — a
   * factory is required for a restart policy other than `"never"`, since a restart builds a
   * fresh instance. The factory's first call happens here: if it throws, `spawn` rejects with
   * that error. `spawn` resolves before `onStart` has run; messages sent meanwhile wait.
   *
   * @param actor The actor, or a factory of actors.
   * @param options Name, supervision, mailbox capacity, metadata.
   * @returns A reference to the new actor.
   * @throws {PulsingRuntimeError} when the name is taken on this node or the system is shut down.
   * @throws {TypeError} on an invalid name or option.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * let n = 0;
   * const ref = await system.spawn(() => ({ receive: () => ++n }), {
   *   name: "services/counter",
   *   restartPolicy: "on_failure",
   *   maxRestarts: 3,
   * });
   * console.log(await ref.ask(null)); // 1
   * await system.shutdown();
   * ```
   */
  spawn(
    actor: Actor | (() => Actor | Promise<Actor>),
    options: SpawnOptions = {},
  ): Promise<ActorRef> {
    // Not `async`: with an instance or a sync factory the actor is installed in this turn.
    try {
      this.#checkOpen();
      const prepared = this.#prepare(options, typeof actor === "function");
      if (typeof actor !== "function") {
        return Promise.resolve(this.#install(actor, undefined, prepared));
      }
      const factory = actor;
      const made = factory();
      if (
        made !== null && typeof made === "object" &&
        typeof (made as Promise<Actor>).then === "function"
      ) {
        return (made as Promise<Actor>).then((instance) => {
          this.#checkOpen();
          return this.#install(instance, factory, prepared);
        });
      }
      return Promise.resolve(this.#install(made as Actor, factory, prepared));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Spawn synchronously from an existing instance (used by `mount`).
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * const ref = system.spawnInstance({ receive: () => "ok" }, { name: "svc" });
   * console.log(await ref.ask(0)); // "ok"
   * await system.shutdown();
   * ```
   */
  spawnInstance(actor: Actor, options: SpawnOptions = {}): ActorRef {
    this.#checkOpen();
    return this.#install(actor, undefined, this.#prepare(options, false));
  }

  /**
   * Spawn a named, restartable actor from a factory (the reference's `spawn_named_factory`).
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * const ref = await system.spawnNamedFactory("svc/echo", () => ({ receive: (m: unknown) => m }), {
   *   restartPolicy: "on_failure",
   * });
   * console.log(await ref.ask("hi")); // "hi"
   * await system.shutdown();
   * ```
   */
  spawnNamedFactory(
    name: string,
    factory: () => Actor | Promise<Actor>,
    options: Omit<SpawnOptions, "name"> = {},
  ): Promise<ActorRef> {
    return this.spawn(factory, { ...options, name });
  }

  /**
   * A fluent spawn builder, as in the reference's Rust API.
   *
   * @example
   * ```ts
   * import { ActorSystem, SupervisionSpec } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * const ref = await system.spawning()
   *   .name("services/counter")
   *   .supervision(SupervisionSpec.onFailure().withMaxRestarts(3))
   *   .mailboxCapacity(256)
   *   .spawn(() => ({ receive: () => 1 }));
   * console.log(await ref.ask(null)); // 1
   * await system.shutdown();
   * ```
   */
  spawning(): SpawnBuilder {
    return new SpawnBuilder(this);
  }

  #prepare(options: SpawnOptions, hasFactory: boolean): {
    path: string | undefined;
    spec: SupervisionSpec;
    cap: number;
    metadata: Record<string, string>;
    lend: boolean;
  } {
    const path = options.name === undefined
      ? undefined
      : normalizeName(options.name, { allowSystem: options.allowSystemName });
    const spec = options.supervision ??
      (options.restartPolicy === undefined && options.maxRestarts === undefined &&
          options.minBackoff === undefined && options.maxBackoff === undefined
        ? DEFAULT_SPEC
        : internSpec(new SupervisionSpec(options)));
    if (spec.policy !== "never" && !hasFactory) {
      throw new TypeError(
        `restartPolicy "${spec.policy}" needs a factory, since a restart builds a fresh instance: ` +
          `spawn(() => new MyActor(), { restartPolicy: "${spec.policy}" })`,
      );
    }
    const cap = options.mailboxCapacity ?? this.#defaultCap;
    if (!Number.isInteger(cap) || cap < 1) {
      throw new TypeError(`mailboxCapacity must be a positive integer, got ${cap}`);
    }
    if (path !== undefined && this.#byName.has(path)) {
      throw new PulsingRuntimeError(`Actor already exists: ${path}`);
    }
    return {
      path,
      spec,
      cap,
      metadata: options.metadata ?? NO_METADATA,
      lend: options.lendBytes === true,
    };
  }

  #install(
    instance: Actor,
    factory: (() => Actor | Promise<Actor>) | undefined,
    p: {
      path: string | undefined;
      spec: SupervisionSpec;
      cap: number;
      metadata: Record<string, string>;
      lend: boolean;
    },
  ): ActorRef {
    if (instance === null || typeof instance !== "object" && typeof instance !== "function") {
      throw new TypeError(
        `An actor must be an object with a receive method, got ${typeof instance}`,
      );
    }
    if (typeof instance.receive !== "function" && !(Symbol.for("pulsing.callMethod") in instance)) {
      throw new TypeError("An actor must have a receive(msg, ctx) method");
    }
    if (p.path !== undefined && this.#byName.has(p.path)) {
      throw new PulsingRuntimeError(`Actor already exists: ${p.path}`);
    }
    const id = ActorId.random();
    // The factory is kept only when a restart may need it.
    const keep = p.spec.policy === "never" ? undefined : factory;
    const cell = new ActorCell(
      this.#config(p.spec, p.cap, p.metadata, p.lend),
      id,
      p.path,
      instance,
      keep,
    );
    this.#byId.set(id.value, cell);
    if (p.path !== undefined) {
      this.#byName.set(p.path, cell);
      this.#cluster?.registerName(p.path, id, p.metadata);
      this.#notifyName(p.path);
    }
    cell.start();
    return cell.ref;
  }

  /** Cell settings for `spec`, `cap`, `metadata` and `lend`: the last ones when equal, else new. */
  #config(
    spec: SupervisionSpec,
    cap: number,
    metadata: Record<string, string>,
    lend: boolean,
  ): CellConfig {
    const c = this.#lastConfig;
    if (
      c !== undefined && c.spec === spec && c.cap === cap && c.metadata === metadata &&
      (c.lendBytes === true) === lend
    ) return c;
    return this.#lastConfig = lend
      ? { host: this, spec, cap, metadata, lendBytes: true }
      : { host: this, spec, cap, metadata };
  }

  /** @internal called by a cell that stopped for good. */
  cellTerminated(cell: ActorCell): void {
    this.#byId.delete(cell.actorId.value);
    if (cell.name !== undefined && this.#byName.get(cell.name) === cell) {
      this.#byName.delete(cell.name);
      this.#cluster?.unregisterName(cell.name, cell.actorId);
    }
  }

  #localCell(target: string | ActorRef): ActorCell | undefined {
    if (typeof target !== "string") {
      return target instanceof LocalActorRef ? this.#byId.get(target.actorId.value) : undefined;
    }
    return this.#byName.get(target) ??
      (target.includes("/") ? undefined : this.#byName.get(`actors/${target}`)) ??
      this.#byId.get(target);
  }

  /**
   * Stop a local actor by name (`counter` also finds `actors/counter`), id or reference:
   * it takes no more messages, queued callers get an error, running calls get `graceMs` to
   * finish, `onStop` runs, and its name is removed everywhere.
   *
   * @returns true if an actor was stopped, false if there was none.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * await system.spawn({ receive: () => 1 }, { name: "x" });
   * console.log(await system.stop("x")); // true
   * console.log(await system.stop("x")); // false
   * await system.shutdown();
   * ```
   */
  async stop(target: string | ActorRef, options: { graceMs?: number } = {}): Promise<boolean> {
    const cell = this.#localCell(target);
    if (!cell || !cell.alive) return false;
    await cell.terminate(options.graceMs ?? 30_000);
    return true;
  }

  /**
   * Stop every actor (running `onStop`), leave the cluster, and refuse new work with a clear
   * error. Callers waiting on a stopped actor get an error, never a hang. Idempotent.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * await system.shutdown();
   * console.log(system.isShutdown); // true
   * ```
   */
  shutdown(options: { graceMs?: number } = {}): Promise<void> {
    this.#shutdown ??= this.#doShutdown(options.graceMs ?? this.#graceMs);
    return this.#shutdown;
  }

  async #doShutdown(graceMs: number): Promise<void> {
    this.#closed = true;
    const cells = [...this.#byId.values()];
    await Promise.all(cells.map((c) => c.terminate(graceMs)));
    for (const fn of this.#onShutdown) {
      try {
        await fn();
      } catch (e) {
        this.log("warn", `shutdown hook failed: ${(e as Error)?.message ?? e}`);
      }
    }
    if (this.#nameWaiters) {
      for (const set of this.#nameWaiters.values()) for (const f of set) f();
    }
    await this.#cluster?.shutdown();
  }

  /**
   * A reference to an actor by id: local first, then the cluster.
   *
   * @throws {PulsingRuntimeError} `Actor not found: <id>`.
   * @throws {TypeError} on a malformed id.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * const ref = await system.spawn({ receive: () => "here" });
   * const again = await system.refer(ref.actorId.toString());
   * console.log(await again.ask(null)); // "here"
   * await system.shutdown();
   * ```
   */
  async refer(actorId: ActorId | string): Promise<ActorRef> {
    this.#checkOpen();
    const id = ActorId.parse(actorId);
    const local = this.#byId.get(id.value);
    if (local) return local.ref;
    const remote = await this.#cluster?.refer(id);
    if (remote) return remote;
    throw new PulsingRuntimeError(`Actor not found: ${id.value}`);
  }

  /**
   * Find a named actor (on any node when networked). With several instances, one is chosen
   * by the policy (round robin by default) and the reference is pinned to it.
   *
   * @param name The name (`counter` means `actors/counter`).
   * @param options `timeout` to wait for the name to appear, `nodeId`, `policy`.
   * @throws {PulsingRuntimeError} `Named actor not found: <path>`.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * setTimeout(() => system.spawn({ receive: () => "late" }, { name: "late" }), 20);
   * const ref = await system.resolve("late", { timeout: 1_000 });
   * console.log(await ref.ask(null)); // "late"
   * await system.shutdown();
   * ```
   */
  async resolve(name: string, options: ResolveOptions = {}): Promise<ActorRef> {
    this.#checkOpen();
    const path = normalizeName(name, { allowSystem: true });
    const deadline = options.timeout !== undefined && options.timeout > 0
      ? Date.now() + options.timeout
      : undefined;
    while (true) {
      const ref = this.#resolveOnce(path, options);
      if (ref) return ref;
      const left = deadline === undefined ? 0 : deadline - Date.now();
      if (left <= 0 || this.#closed) {
        throw new PulsingRuntimeError(
          options.nodeId === undefined
            ? `Named actor not found: ${path}`
            : `Named actor not found: ${path} on node ${options.nodeId}`,
        );
      }
      await this.#waitName(path, Math.min(left, 200));
    }
  }

  #resolveOnce(path: string, options: ResolveOptions): ActorRef | undefined {
    if (this.#cluster) return this.#cluster.resolve(path, options);
    if (options.nodeId !== undefined && String(options.nodeId) !== this.nodeId.value) {
      return undefined;
    }
    const cell = this.#byName.get(path);
    return cell?.alive ? cell.ref : undefined;
  }

  /** Round-robin counter per name (shared by cluster resolution). */
  nextRoundRobin(path: string): number {
    const n = this.#rr.get(path) ?? 0;
    this.#rr.set(path, n + 1);
    return n;
  }

  #waitName(path: string, ms: number): Promise<void> {
    const waiters = (this.#nameWaiters ??= new Map());
    let set = waiters.get(path);
    if (!set) waiters.set(path, set = new Set());
    const s = set;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        s.delete(done);
        if (s.size === 0) waiters.delete(path);
        resolve();
      };
      const t = setTimeout(done, ms);
      s.add(done);
    });
  }

  /** Wake resolvers waiting for `path` (the cluster calls it when a remote name appears). */
  notifyName(path: string): void {
    this.#notifyName(path);
  }

  #notifyName(path: string): void {
    const set = this.#nameWaiters?.get(path);
    if (set) { for (const f of [...set]) f(); }
  }

  /**
   * A fluent resolve builder, as in the reference's Rust API.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * await system.spawn({ receive: () => 1 }, { name: "svc/a" });
   * const ref = await system.resolving().policy({ select: () => 0 }).resolve("svc/a");
   * console.log(await ref.ask(null)); // 1
   * await system.shutdown();
   * ```
   */
  resolving(): ResolveBuilder {
    return new ResolveBuilder(this);
  }

  /** The local actor cell of a name (internal, used by the cluster layer). */
  localCell(pathOrId: string): ActorCell | undefined {
    return this.#byName.get(pathOrId) ?? this.#byId.get(pathOrId);
  }

  /** The local cell of an actor id (internal). */
  cellById(actorId: string): ActorCell | undefined {
    return this.#byId.get(actorId);
  }

  /**
   * Names of the actors registered on this node.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * await system.spawn({ receive: () => 1 }, { name: "a" });
   * console.log(system.localActorNames()); // ["actors/a"]
   * await system.shutdown();
   * ```
   */
  localActorNames(): string[] {
    return [...this.#byName.keys()];
  }

  /** How many actors run on this node (named and anonymous). */
  get actorCount(): number {
    return this.#byId.size;
  }

  /** Local named cells (internal, for listings and metrics). */
  localNamedCells(): IterableIterator<ActorCell> {
    return this.#byName.values();
  }

  /**
   * Every named actor: on this node, or across the cluster when networked. Built-in actors
   * (`system/...`, such as `system/core` on every networked node) are left out unless
   * `includeSystem` is set.
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * await system.spawn({ receive: () => 1 }, { name: "a" });
   * console.log((await system.allNamedActors())[0].path); // "actors/a"
   * await system.shutdown();
   * ```
   */
  async allNamedActors(options: { includeSystem?: boolean } = {}): Promise<NamedActorInfo[]> {
    let out: NamedActorInfo[];
    if (this.#cluster) out = await this.#cluster.allNamedActors();
    else {
      out = [];
      for (const [path, c] of this.#byName) {
        out.push({
          path,
          instanceCount: 1,
          instances: [{
            nodeId: this.nodeId.value,
            actorId: c.actorId.value,
            metadata: c.metadata,
          }],
        });
      }
    }
    return options.includeSystem ? out : out.filter((a) => !a.path.startsWith("system/"));
  }

  /**
   * The cluster's members (just this node when in-process).
   *
   * @example
   * ```ts
   * import { ActorSystem } from "@pulsing/pulsing/core";
   * const system = new ActorSystem();
   * console.log((await system.members()).length); // 1
   * await system.shutdown();
   * ```
   */
  members(): Promise<MemberInfo[]> {
    if (this.#cluster) return this.#cluster.members();
    return Promise.resolve([{ nodeId: this.nodeId.value, addr: "", status: "alive" }]);
  }

  /** A readable form. */
  toString(): string {
    return `ActorSystem(nodeId=${this.nodeId.value}, addr=${this.addr || "in-process"})`;
  }
}

/**
 * Fluent spawn options (see {@linkcode ActorSystem.spawning}).
 *
 * @example
 * ```ts
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * const system = new ActorSystem();
 * const ref = await system.spawning().name("a").mailboxCapacity(16).spawn({ receive: () => 1 });
 * await system.shutdown();
 * ```
 */
export class SpawnBuilder {
  readonly #system: ActorSystem;
  readonly #options: SpawnOptions = {};
  /** Start a builder for `system`. */
  constructor(system: ActorSystem) {
    this.#system = system;
  }
  /** Set the name. */
  name(name: string): this {
    this.#options.name = name;
    return this;
  }
  /** Set the supervision spec. */
  supervision(spec: SupervisionSpec): this {
    this.#options.supervision = spec;
    return this;
  }
  /** Set the mailbox capacity. */
  mailboxCapacity(n: number): this {
    this.#options.mailboxCapacity = n;
    return this;
  }
  /** Set diagnostic metadata. */
  metadata(m: Record<string, string>): this {
    this.#options.metadata = m;
    return this;
  }
  /** Spawn an actor or a factory. */
  spawn(actor: Actor | (() => Actor | Promise<Actor>)): Promise<ActorRef> {
    return this.#system.spawn(actor, { ...this.#options });
  }
}

/**
 * Fluent resolve options (see {@linkcode ActorSystem.resolving}).
 *
 * @example
 * ```ts
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * const system = new ActorSystem();
 * await system.spawn({ receive: () => 1 }, { name: "a" });
 * const ref = await system.resolving().timeout(100).resolve("a");
 * await system.shutdown();
 * ```
 */
export class ResolveBuilder {
  readonly #system: ActorSystem;
  readonly #options: ResolveOptions = {};
  /** Start a builder for `system`. */
  constructor(system: ActorSystem) {
    this.#system = system;
  }
  /** Only the instance on this node. */
  node(nodeId: NodeId | string): this {
    this.#options.nodeId = nodeId;
    return this;
  }
  /** How to choose among instances. */
  policy(policy: LoadBalancingPolicy): this {
    this.#options.policy = policy;
    return this;
  }
  /** Wait up to `ms` for the name. */
  timeout(ms: number): this {
    this.#options.timeout = ms;
    return this;
  }
  /** A routing key for the policy (consistent hashing sends equal keys to the same node). */
  key(key: string): this {
    this.#options.key = key;
    return this;
  }
  /** Resolve now. */
  resolve(name: string): Promise<ActorRef> {
    return this.#system.resolve(name, { ...this.#options });
  }
  /**
   * A lazy reference: no lookup now; the first call resolves (waiting up to `timeout` for the
   * name), later calls reuse that instance until its node dies or leaves, its name moves, or
   * a call fails to reach it — then the next call resolves again, possibly to another
   * instance. A call that failed before its request was sent is retried once on another
   * instance; a call that may have run is never repeated. Needs a networked system.
   *
   * @throws {PulsingUnsupportedError} on an in-process system.
   *
   * @example
   * ```ts
   * import * as pul from "@pulsing/pulsing";
   * const system = await pul.actorSystem({ addr: "127.0.0.1:0" });
   * const ref = system.resolving().timeout(1_000).lazy("later");
   * await system.spawn({ receive: () => "here" }, { name: "later" });
   * console.log(await ref.ask(null)); // "here"
   * await system.shutdown();
   * ```
   */
  lazy(name: string): ActorRef {
    const path = normalizeName(name, { allowSystem: true });
    const cluster = this.#system.cluster;
    if (!cluster?.lazy) {
      throw new PulsingUnsupportedError(
        "lazy references need a networked system (init with addr, seeds or headAddr)",
      );
    }
    return cluster.lazy(path, { ...this.#options });
  }
}
