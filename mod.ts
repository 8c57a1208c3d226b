/**
 * Pulsing: a distributed actor runtime for Deno and Node. Write a class, `pul.remote` it,
 * spawn it, and call its methods from any process of the cluster as if it were local;
 * generator methods stream their results; nodes find each other by gossip.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 *
 * const Counter = pul.remote(class Counter {
 *   value = 0;
 *   incr(): number { return ++this.value; }
 *   async *countdown(n: number) { while (n > 0) yield n--; }
 * });
 *
 * await pul.init();
 * const counter = await Counter.spawn({ name: "counter" });
 * console.log(await counter.incr()); // 1
 * for await (const n of counter.countdown(3)) console.log(n); // 3, 2, 1
 * await pul.shutdown();
 * ```
 *
 * @module
 */

import { ActorSystem, type ActorSystemOptions } from "./core/system.ts";
import {
  getSystem as coreGetSystem,
  isInitialized,
  peekGlobalSystem,
  setGlobalSystem,
} from "./core/global.ts";
import { type Queue, writeQueue, type WriteQueueOptions } from "./queue/queue.ts";
import { type QueueReader, readQueue, type ReadQueueOptions } from "./queue/reader.ts";
import { type TopicWriter, writeTopic, type WriteTopicOptions } from "./topic/writer.ts";
import { readTopic, type ReadTopicOptions, type TopicReader } from "./topic/reader.ts";
import type { ActorRef } from "./core/actor_ref.ts";
import type { ActorId } from "./core/ids.ts";
import { PulsingRuntimeError } from "./core/errors.ts";
import {
  ActorClass,
  type ActorProxy,
  type AnyProxy,
  asAny,
  type ProxyResolveOptions,
} from "./core/remote.ts";
import type { Actor } from "./core/actor.ts";
import type { SpawnOptions } from "./core/system.ts";
import { startClusterNode } from "./cluster/node.ts";
import { ServiceActor } from "./core/remote.ts";
import { SYSTEM_ACTOR_PATH, SystemCore } from "./core/system_actor.ts";
import { parseAddr } from "./cluster/addr.ts";
import type { Transport } from "./cluster/transport/types.ts";
import { guardTransport } from "./cluster/transport/guard.ts";
import { TRANSPORT_STATS_KEY } from "./http/metrics.ts";
import { defaultTransport } from "./cluster/transport/mod.ts";
import type { HttpServerHandle, ServeHttpOptions } from "./http/gateway.ts";
import type { WireLimits } from "./cluster/rpc.ts";
import type { SwimConfig } from "./cluster/swim.ts";
import type { HeadConfig } from "./cluster/head.ts";
import type { BreakerOptions } from "./cluster/breaker.ts";
import {
  type BootstrapOptions,
  bootstrapWith,
  initInsideTorchrunWith,
  type PlanOptions,
} from "./cluster/bootstrap.ts";
import { startWorkers, type StartWorkersOptions } from "./cluster/workers.ts";

export {
  PulsingActorError,
  PulsingBusinessError,
  PulsingError,
  PulsingRuntimeError,
  PulsingSystemError,
  PulsingTimeoutError,
  PulsingUnsupportedError,
} from "./core/errors.ts";
export type { PulsingActorErrorOptions, PulsingErrorOptions } from "./core/errors.ts";
export { ActorId, NodeId } from "./core/ids.ts";
export { ActorRef, type CallOptions } from "./core/actor_ref.ts";
export { ActorStream } from "./core/actor_stream.ts";
export {
  ActorSystem,
  type LoadBalancingPolicy,
  type MemberInfo,
  type NamedActorInfo,
  type NamedInstance,
  ResolveBuilder,
  type ResolveOptions,
  SpawnBuilder,
  type SpawnOptions,
} from "./core/system.ts";
export {
  type RestartPolicy,
  type SupervisionOptions,
  SupervisionSpec,
} from "./core/supervision.ts";
export {
  ActorClass,
  type ActorProxy,
  type ActorSpawnOptions,
  type AnyProxy,
  asAny,
  type MethodKeys,
  mount,
  PendingCall,
  type ProxyMethod,
  type ProxyResolveOptions,
  refOf,
  remote,
  type RemoteOptions,
  unmount,
  withOptions,
} from "./core/remote.ts";
export { Behavior, BehaviorAction, stateful, stateless } from "./core/behavior.ts";
export {
  type ClientResolveOptions,
  connect,
  type ConnectOptions,
  type GatewayClient,
  type TypedClientResolveOptions,
} from "./http/client.ts";
export type { HttpServerHandle, ServeHttpOptions } from "./http/gateway.ts";
export { DEFAULT_WIRE_LIMITS, type WireLimits } from "./cluster/rpc.ts";
export type { FrameLimits } from "./streams/frame.ts";
export { DEFAULT_SWIM_CONFIG, type SwimConfig } from "./cluster/swim.ts";
export type { HeadConfig } from "./cluster/head.ts";
export { type BreakerOptions, CircuitOpenError } from "./cluster/breaker.ts";
export {
  BOOTSTRAP_SOURCES,
  BootstrapEnvError,
  type BootstrapOptions,
  type BootstrapPlan,
  type BootstrapSource,
  type EnvReader,
  type KubernetesOptions,
  type NodeStartOptions,
  planBootstrap,
  type PlanOptions,
  type StartNode,
  TORCHRUN_PORT_OFFSET,
} from "./cluster/bootstrap.ts";
export { expandHostlist } from "./cluster/hostlist.ts";
export {
  type ConsistentHashOptions,
  ConsistentHashPolicy,
  PowerOfTwoPolicy,
  RandomPolicy,
  RoundRobinPolicy,
} from "./cluster/policy.ts";
export type { StartWorkersOptions, WorkerInfo, WorkerPool } from "./cluster/workers.ts";
export * as queue from "./queue/mod.ts";
export * as topic from "./topic/mod.ts";
export type { Queue, QueueReader, ReadQueueOptions, WriteQueueOptions } from "./queue/mod.ts";
export type { ReadTopicOptions, TopicReader, TopicWriter, WriteTopicOptions } from "./topic/mod.ts";
export { isInitialized };

/**
 * `system.queue`: the distributed queue on a given system (see `pul.queue`).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const system = await pul.actorSystem();
 * const w = await system.queue.write("jobs");
 * await w.put({ id: "a", n: 1 });
 * const r = await system.queue.read("jobs");
 * console.log((await r.get()).length); // 1
 * await system.shutdown();
 * ```
 */
export interface QueueFacade {
  /** Open a queue for writing. */
  write(topic: string, options?: WriteQueueOptions): Promise<Queue>;
  /** Open a queue for reading. */
  read(topic: string, options?: ReadQueueOptions): Promise<QueueReader>;
}

/**
 * `system.topic`: pub/sub on a given system (see `pul.topic`).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const system = await pul.actorSystem();
 * const w = await system.topic.write("events");
 * console.log((await w.publish({ type: "login" })).subscriberCount); // 0
 * await system.shutdown();
 * ```
 */
export interface TopicFacade {
  /** Open a topic for publishing. */
  write(topic: string, options?: WriteTopicOptions): Promise<TopicWriter>;
  /** Subscribe to a topic. */
  read<T = unknown>(topic: string, options?: ReadTopicOptions): Promise<TopicReader<T>>;
}

/**
 * An {@linkcode ActorSystem} with the queue and topic APIs bound to it: what `pul.init` and
 * `pul.actorSystem` return.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const system: pul.PulsingSystem = await pul.actorSystem();
 * console.log(typeof system.queue.write); // "function"
 * await system.shutdown();
 * ```
 */
export type PulsingSystem = ActorSystem & {
  /** The distributed queue on this system. */
  readonly queue: QueueFacade;
  /** Pub/sub on this system. */
  readonly topic: TopicFacade;
  /** The HTTP gateway started by `init({ http })` (its `url`, `addr`, `close()`), if any. */
  readonly gateway?: HttpServerHandle;
};

function withFacets(system: ActorSystem): PulsingSystem {
  if (!Object.hasOwn(system, "queue")) {
    const queue: QueueFacade = {
      write: (t, o) => writeQueue(system, t, o),
      read: (t, o) => readQueue(system, t, o),
    };
    const topic: TopicFacade = {
      write: (t, o) => writeTopic(system, t, o),
      read: <T>(t: string, o?: ReadTopicOptions) => readTopic<T>(system, t, o),
    };
    Object.defineProperty(system, "queue", { value: queue, enumerable: false });
    Object.defineProperty(system, "topic", { value: topic, enumerable: false });
  }
  return system as PulsingSystem;
}

/**
 * The global system (with `queue` and `topic`).
 *
 * @throws {PulsingRuntimeError} `Actor system not initialized. Call 'await pul.init()' first.`
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * console.log(pul.getSystem().addr); // "" (in-process)
 * await pul.shutdown();
 * ```
 */
export function getSystem(): PulsingSystem {
  return withFacets(coreGetSystem());
}

/**
 * Timings of a networked node (see {@linkcode InitOptions.tuning}).
 *
 * @example
 * ```ts
 * import type { ClusterTuning } from "@pulsing/pulsing";
 * const wan: ClusterTuning = { swim: { periodMs: 1_000, probeTimeoutMs: 500 }, requestTimeoutMs: 60_000 };
 * ```
 */
export interface ClusterTuning {
  /** Connect timeout, ms (5 000). */
  connectTimeoutMs?: number;
  /** Default timeout of a remote ask or call, ms (30 000; per call: `withOptions`). */
  requestTimeoutMs?: number;
  /** Membership (SWIM) timings: period, probe timeout, suspicion multipliers... */
  swim?: Partial<SwimConfig>;
  /** Head mode timings: heartbeat and worker timeout. */
  head?: Partial<HeadConfig>;
  /** The per-node circuit breaker, or `false` to turn it off. */
  breaker?: BreakerOptions | false;
}

/** Options of {@linkcode init} and {@linkcode actorSystem}. */
export interface InitOptions extends ActorSystemOptions {
  /** Listen on `host:port` (port 0 picks a free one). Omit for an in-process system. */
  addr?: string;
  /** Addresses of nodes to join (gossip mode). */
  seeds?: string[];
  /** Cluster passphrase: mutual TLS with a CA derived from it. */
  passphrase?: string;
  /** Worker mode: the head node's address. */
  headAddr?: string;
  /** Head mode: this node holds the registry for its workers. */
  isHeadNode?: boolean;
  /** The address other nodes should use when it differs from `addr` (NAT, `0.0.0.0`). */
  advertiseAddr?: string;
  /** Also serve the HTTP gateway (REST calls, health, metrics, dashboard) on this port. */
  http?: ServeHttpOptions;
  /** Wire limits (frame, message and header sizes, nesting depth, requests and streams per
   * connection, handshake and idle timeouts); every limit has a safe default. */
  limits?: WireLimits;
  /** Timings of the network layer; every field has a sensible default. */
  tuning?: ClusterTuning;
  /**
   * Reject `init` with the reason (for example a passphrase mismatch) when no seed or head
   * answers; by default the node runs alone, says so, and keeps retrying in the background.
   */
  requireJoin?: boolean;
  /**
   * Start this many extra local nodes (subprocesses, one per core) joined to this one, so that
   * `placement: "remote"` and queue buckets spread over the cores; give `modules` to import
   * there (the modules that define your `pul.remote` classes). Needs `addr`.
   */
  workers?: number | (StartWorkersOptions & { count: number });
}

async function startNode(system: ActorSystem, options: InitOptions): Promise<void> {
  const addr = options.addr ?? "127.0.0.1:0";
  let transport: Transport | undefined;
  if (options.passphrase !== undefined) {
    const host = parseAddr(addr).hostname;
    // Loaded only with a passphrase: node:tls costs tens of ms at every process start.
    const [{ clusterTlsMaterial }, { NodeTlsTransport }] = await Promise.all([
      import("./cluster/tls/mod.ts"),
      import("./cluster/transport/node_tls.ts"),
    ]);
    const material = await clusterTlsMaterial(options.passphrase, { hosts: [host] });
    system.log(
      "info",
      `TLS on: cluster CA ${material.fingerprint.slice(0, 16)}, certificates in ${
        Math.round(material.timings.caMs + material.timings.leafMs)
      } ms`,
    );
    transport = new NodeTlsTransport(material, {
      onRefused: (r) => system.log("warn", r.message),
    });
  } else if (!isLoopback(parseAddr(addr).hostname)) {
    warnOnce(
      system,
      `listening on ${addr} without a passphrase: any host that can reach this port can call ` +
        `your actors. Set { passphrase } for mutual TLS.`,
    );
  }
  await startClusterNode(system, {
    addr,
    seeds: options.seeds,
    transport: guardTransport(
      transport ?? defaultTransport(),
      (line) => system.log("warn", line),
      system.extension(TRANSPORT_STATS_KEY, () => ({ bytesIn: 0, bytesOut: 0 })),
    ),
    advertiseAddr: options.advertiseAddr,
    headAddr: options.headAddr,
    isHeadNode: options.isHeadNode,
    rpc: options.limits,
    connectTimeoutMs: options.tuning?.connectTimeoutMs,
    requestTimeoutMs: options.tuning?.requestTimeoutMs,
    swim: options.tuning?.swim,
    head: options.tuning?.head,
    breaker: options.tuning?.breaker,
    requireJoin: options.requireJoin,
  });
}

let warned = false;
function warnOnce(system: ActorSystem, msg: string): void {
  if (warned) return;
  warned = true;
  system.log("warn", msg);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

async function createSystem(options: InitOptions): Promise<PulsingSystem> {
  const networked = options.addr !== undefined || (options.seeds?.length ?? 0) > 0 ||
    options.headAddr !== undefined || options.isHeadNode === true ||
    options.passphrase !== undefined;
  if (options.isHeadNode && options.headAddr) {
    throw new TypeError("Cannot set both isHeadNode and headAddr");
  }
  const system = new ActorSystem(options);
  if (networked) {
    // Diagnostics reachable from anywhere: pul.resolve("system/core", { nodeId }).
    system.spawnInstance(new ServiceActor(new SystemCore(system)), {
      name: SYSTEM_ACTOR_PATH,
      allowSystemName: true,
      metadata: { class: "SystemCore", module: "" },
    });
    try {
      await startNode(system, options);
    } catch (e) {
      await system.shutdown();
      throw e;
    }
  }
  if (options.workers) {
    const w = typeof options.workers === "number" ? { count: options.workers } : options.workers;
    try {
      await startWorkers(system, w.count, { passphrase: options.passphrase, ...w });
    } catch (e) {
      await system.shutdown();
      throw e;
    }
  }
  if (options.http) {
    try {
      const { serveHttp } = await import("./http/gateway.ts");
      const handle = await serveHttp(system, options.http);
      Object.defineProperty(system, "gateway", { value: handle, enumerable: false });
    } catch (e) {
      await system.shutdown();
      throw e;
    }
  }
  return withFacets(system);
}

/**
 * Start the global actor system. With no options it is an in-process system; with `addr` it
 * listens, and with `seeds` (or `headAddr`) it joins a cluster.
 *
 * Calling `init` again while a system is running returns that same system and ignores the new
 * options; after {@linkcode shutdown}, `init` starts a fresh one.
 *
 * @param options Address, seeds, passphrase, head/worker mode, logger.
 * @returns The global system.
 * @throws {TypeError} on contradictory options (`isHeadNode` with `headAddr`).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const a = await pul.init();
 * const b = await pul.init();
 * console.log(a === b); // true
 * await pul.shutdown();
 * ```
 */
export async function init(options: InitOptions = {}): Promise<PulsingSystem> {
  const existing = peekGlobalSystem();
  if (existing && !existing.isShutdown) return withFacets(existing);
  const system = await createSystem(options);
  setGlobalSystem(system);
  return system;
}

/**
 * Stop the global system: every actor stops (its `onStop` runs), the node leaves the cluster,
 * and the global reference is cleared. A no-op when not initialized.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * await pul.shutdown();
 * console.log(pul.isInitialized()); // false
 * ```
 */
export async function shutdown(): Promise<void> {
  const s = peekGlobalSystem();
  setGlobalSystem(undefined);
  await s?.shutdown();
}

/**
 * Create an independent system (not the global one); several can coexist in one process.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const system = await pul.actorSystem();
 * const ref = await system.spawn({ receive: (x: number) => x + 1 });
 * console.log(await ref.ask(1)); // 2
 * await system.shutdown();
 * ```
 */
export function actorSystem(options: InitOptions = {}): Promise<PulsingSystem> {
  return createSystem(options);
}

/** Options of {@linkcode resolve}. */
export interface ResolveProxyOptions<T extends object> extends ProxyResolveOptions {
  /** The actor class, for a typed proxy. */
  // deno-lint-ignore no-explicit-any
  cls?: ActorClass<T, any>;
}

/**
 * Find a named actor anywhere in the cluster and return a proxy: typed when `cls` is given,
 * untyped (any method name) otherwise.
 *
 * @throws {PulsingRuntimeError} `Named actor not found: <path>` (after `timeout` ms if given).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const Echo = pul.remote(class Echo { say(s: string) { return s; } });
 * await pul.init();
 * await Echo.spawn({ name: "echo" });
 * const typed = await pul.resolve("echo", { cls: Echo });
 * const untyped = await pul.resolve("echo");
 * console.log(await typed.say("a"), await untyped.say("b")); // "a" "b"
 * await pul.shutdown();
 * ```
 */
export function resolve<T extends object>(
  name: string,
  // deno-lint-ignore no-explicit-any
  options: ResolveProxyOptions<T> & { cls: ActorClass<T, any[]> },
): Promise<ActorProxy<T>>;
/** Untyped form. */
export function resolve(name: string, options?: ProxyResolveOptions): Promise<AnyProxy>;
export async function resolve<T extends object>(
  name: string,
  options: ResolveProxyOptions<T> = {},
): Promise<ActorProxy<T> | AnyProxy> {
  const system = options.system ?? getSystem();
  const ref = await system.resolve(name, {
    timeout: options.timeout,
    nodeId: options.nodeId,
    policy: options.policy,
    key: options.key,
  });
  if (options.cls === undefined) return asAny(ref);
  if (!(options.cls instanceof ActorClass)) {
    throw new TypeError(
      "resolve({ cls }): cls must be the ActorClass that pul.remote() returned, not the plain class",
    );
  }
  return options.cls.proxy(ref);
}

/**
 * A reference to an actor by id (local, then the cluster).
 *
 * @throws {PulsingRuntimeError} `Actor not found: <id>`.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * const ref = await pul.spawn({ receive: () => "pong" });
 * console.log(await (await pul.refer(ref.actorId)).ask("ping")); // "pong"
 * await pul.shutdown();
 * ```
 */
export function refer(actorId: ActorId | string): Promise<ActorRef> {
  return getSystem().refer(actorId);
}

/**
 * Spawn a low-level actor (an object with `receive`, or a factory) on the global system.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * const ref = await pul.spawn({ receive: (m: string) => m.length }, { name: "len" });
 * console.log(await ref.ask("four")); // 4
 * await pul.shutdown();
 * ```
 */
export function spawn(
  actor: Actor | (() => Actor | Promise<Actor>),
  options?: SpawnOptions,
): Promise<ActorRef> {
  return getSystem().spawn(actor, options);
}

/** Options of {@linkcode bootstrap}. */
export interface PulBootstrapOptions extends BootstrapOptions {
  /** Extra options for the node that bootstrap starts (logger, http, limits, ...). */
  initOptions?: InitOptions;
}

/**
 * Form the cluster from what the environment already says: torchrun variables (`MASTER_ADDR`,
 * `MASTER_PORT`, `RANK`, `WORLD_SIZE`), Slurm (`SLURM_PROCID`, `SLURM_NTASKS`,
 * `SLURM_JOB_NODELIST`), a Kubernetes headless service, or `PULSING_ADDR` / `PULSING_SEEDS` /
 * `PULSING_PASSPHRASE` / `PULSING_HEAD_ADDR`. Resolves `true` once the expected world size has
 * joined (or a seed answered when the size is unknown), `false` after `waitTimeout` ms.
 *
 * @throws {BootstrapEnvError} on a bad or contradictory environment, naming the variables.
 *
 * @example
 * ```ts ignore
 * import * as pul from "@pulsing/pulsing";
 * // started by: torchrun --nproc-per-node 4 --no-python deno run -A train.ts
 * const ready = await pul.bootstrap({ waitTimeout: 30_000, onReady: (s) => console.log(s.addr) });
 * if (!ready) console.warn("not every rank joined in time");
 * ```
 */
export function bootstrap(options: PulBootstrapOptions = {}): Promise<boolean> {
  return bootstrapWith((o) => init({ ...options.initOptions, ...o }), options);
}

/**
 * Join the cluster of a torchrun-style launch from this one process (rank 0 is the seed at
 * `MASTER_ADDR`, port `MASTER_PORT + 1`); does not wait for the other ranks.
 *
 * @example
 * ```ts ignore
 * import * as pul from "@pulsing/pulsing";
 * const system = await pul.initInsideTorchrun();
 * console.log(system.addr);
 * ```
 */
export function initInsideTorchrun(
  options: Pick<PlanOptions, "env" | "torchrun"> & { initOptions?: InitOptions } = {},
): Promise<ActorSystem> {
  return initInsideTorchrunWith((o) => init({ ...options.initOptions, ...o }), options);
}

/**
 * Exchange membership state with more addresses at any time (after `init`): new seeds, or a
 * group of nodes that formed apart — the two groups merge. Host names are resolved (each address
 * counts).
 *
 * @param addrs `host:port` addresses.
 * @param options `system` (default: the global one).
 *
 * @example
 * ```ts ignore
 * import * as pul from "@pulsing/pulsing";
 * await pul.init({ addr: "127.0.0.1:7000" });
 * await pul.addSeeds(["127.0.0.1:7100"]); // a node of another group
 * ```
 */
export async function addSeeds(
  addrs: string[],
  options: { system?: ActorSystem } = {},
): Promise<void> {
  const system = options.system ?? getSystem();
  const node = system.cluster as { addSeeds?(a: string[]): Promise<unknown> } | undefined;
  if (!node?.addSeeds) {
    throw new PulsingRuntimeError("addSeeds: this system is not a networked node (init({ addr }))");
  }
  await node.addSeeds(addrs);
}
