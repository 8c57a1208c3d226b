/**
 * Form a cluster from what the launcher already says: torchrun-style variables, Slurm, a
 * Kubernetes headless service, or plain `PULSING_*` variables, in that order.
 *
 * | source | variables | seed |
 * |---|---|---|
 * | torchrun (also `mpirun`, by hand) | `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`, `LOCAL_RANK` | rank 0 at `MASTER_ADDR:MASTER_PORT+1` |
 * | Slurm (`srun`) | `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_STEP_NODELIST`/`SLURM_JOB_NODELIST` | task 0 (on the first host) at `15000 + SLURM_JOB_ID % 10000` |
 * | Kubernetes | `{ kubernetes: { service, port } }`, `POD_IP` | every address of the headless service |
 * | environment | `PULSING_ADDR`, `PULSING_SEEDS`, `PULSING_PASSPHRASE`, `PULSING_HEAD_ADDR` | `PULSING_SEEDS` |
 *
 * `PULSING_PASSPHRASE` applies to every source; `PULSING_ADDR` sets the bind address of every
 * source (a seed keeps its seed port); `PULSING_WORLD_SIZE` gives the expected size when the
 * source does not.
 *
 * This module takes the function that starts a node as a parameter (`pul.init` in `mod.ts`),
 * so that it does not import `mod.ts`.
 *
 * @module
 */

import type { ActorSystem } from "../core/system.ts";
import { PulsingRuntimeError } from "../core/errors.ts";
import { readEnv } from "../core/log.ts";
import { formatAddr, parseAddr } from "./addr.ts";
import { expandHostlist } from "./hostlist.ts";
import type { ClusterNode } from "./node.ts";

/** Where a cluster's layout can come from, in the order they are tried. */
export type BootstrapSource = "torchrun" | "slurm" | "kubernetes" | "env";

/** The order {@linkcode planBootstrap} tries the sources in. */
export const BOOTSTRAP_SOURCES: readonly BootstrapSource[] = [
  "torchrun",
  "slurm",
  "kubernetes",
  "env",
];

/** The default offset of the Pulsing seed port from `MASTER_PORT` (torchrun's own store is there). */
export const TORCHRUN_PORT_OFFSET = 1;

/** What a bootstrap source decides about this process's node (a subset of `pul.init` options). */
export interface NodeStartOptions {
  /** Bind address `host:port`. */
  addr?: string;
  /** The address other nodes use, when it differs from `addr`. */
  advertiseAddr?: string;
  /** Nodes to join. */
  seeds?: string[];
  /** Cluster passphrase (mutual TLS). */
  passphrase?: string;
  /** Worker mode: the head node's address. */
  headAddr?: string;
}

/** Starts a node (`pul.init` or `pul.actorSystem`). */
export type StartNode = (options: NodeStartOptions) => Promise<ActorSystem>;

/** Reads one environment variable (`undefined` when unset or not permitted). */
export type EnvReader = (name: string) => string | undefined;

/** The Kubernetes source: a headless service whose DNS name lists every pod. */
export interface KubernetesOptions {
  /** The service name (`pulsing-headless`, or its full `name.namespace.svc.cluster.local`). */
  service: string;
  /** The port every pod listens on. */
  port: number;
  /** Expected pod count (the StatefulSet's `replicas`); default `PULSING_WORLD_SIZE`. */
  replicas?: number;
  /** Resolve a name to IP addresses (default: the system resolver, all A/AAAA records). */
  resolve?: (name: string) => Promise<string[]>;
  /** How often to re-resolve while the cluster forms, in ms (default 1000). */
  intervalMs?: number;
}

/** Options of {@linkcode planBootstrap}. */
export interface PlanOptions {
  /** Sources to try, in this order (default {@linkcode BOOTSTRAP_SOURCES}). */
  sources?: readonly BootstrapSource[];
  /** Where variables come from (default: the process environment, without permission errors). */
  env?: EnvReader;
  /** torchrun: the seed port is `MASTER_PORT + portOffset` (default {@linkcode TORCHRUN_PORT_OFFSET}). */
  torchrun?: { portOffset?: number };
  /** Slurm: the seed port (default `15000 + SLURM_JOB_ID % 10000`). */
  slurm?: { port?: number };
  /** Kubernetes: used only when given. */
  kubernetes?: KubernetesOptions;
  /** Expected cluster size when the source does not say (default `PULSING_WORLD_SIZE`). */
  worldSize?: number;
}

/** What {@linkcode planBootstrap} decided. */
export interface BootstrapPlan {
  /** The source that applied, or `"none"` (an in-process node). */
  source: BootstrapSource | "none";
  /** Options for the node. */
  node: NodeStartOptions;
  /** This process's rank, when the source numbers processes. */
  rank?: number;
  /** This process's rank on its machine (`LOCAL_RANK`, `SLURM_LOCALID`). */
  localRank?: number;
  /** How many nodes the cluster should have, when known. */
  worldSize?: number;
  /** True for the process the others join. */
  isSeed: boolean;
  /** The variables the plan was built from (set ones only). */
  variables: string[];
}

/** Options of {@linkcode bootstrapWith}. */
export interface BootstrapOptions extends PlanOptions {
  /**
   * How long to wait for the expected members, in ms (default 60 000). `0`: do not wait, say
   * whether the cluster is complete now. The formation keeps being watched after a timeout,
   * so `onReady` may still fire later.
   */
  waitTimeout?: number;
  /** Called once with the system when the cluster is complete (errors are logged). */
  onReady?: (system: ActorSystem) => void | Promise<void>;
}

/**
 * A launcher environment that is incomplete or contradicts itself. `variables` names the
 * variables involved; the message says what to change.
 *
 * @example
 * ```ts
 * import { BootstrapEnvError, planBootstrap } from "./bootstrap.ts";
 * const env = { RANK: "3", WORLD_SIZE: "2", MASTER_ADDR: "h", MASTER_PORT: "29500" };
 * try {
 *   planBootstrap({ env: (k) => env[k as keyof typeof env] });
 * } catch (e) {
 *   console.log(e instanceof BootstrapEnvError, (e as BootstrapEnvError).variables);
 *   // true ["RANK", "WORLD_SIZE"]
 * }
 * ```
 */
export class BootstrapEnvError extends PulsingRuntimeError {
  /** The variables involved. */
  readonly variables: string[];
  /** Create the error. */
  constructor(variables: string[], message: string) {
    super(`Bootstrap: ${message} (check ${variables.join(", ")})`);
    this.variables = variables;
  }
}

/**
 * Decide, from the environment alone, how this process joins its cluster. Pure: starts
 * nothing and resolves no names (the Kubernetes seeds are resolved by {@linkcode bootstrapWith}).
 *
 * @param options Sources, an environment reader, per-source settings.
 * @returns The plan; `source: "none"` when no source applies.
 * @throws {BootstrapEnvError} when a source's variables are incomplete, malformed or
 * contradictory (the error names them).
 *
 * @example
 * ```ts
 * import { planBootstrap } from "./bootstrap.ts";
 * const env: Record<string, string> = {
 *   RANK: "1", WORLD_SIZE: "4", MASTER_ADDR: "10.0.0.1", MASTER_PORT: "29500",
 * };
 * const plan = planBootstrap({ env: (k) => env[k] });
 * console.log(plan.source, plan.node.seeds); // "torchrun" ["10.0.0.1:29501"]
 * ```
 */
export function planBootstrap(options: PlanOptions = {}): BootstrapPlan {
  const env = envWithTrace(options.env ?? readEnv);
  const common = commonEnv(env, options);
  for (const source of options.sources ?? BOOTSTRAP_SOURCES) {
    const plan = source === "torchrun"
      ? torchrunPlan(env, common, options)
      : source === "slurm"
      ? slurmPlan(env, common, options)
      : source === "kubernetes"
      ? kubernetesPlan(env, common, options)
      : envPlan(env, common);
    if (plan) {
      plan.variables = [...env.seen];
      return plan;
    }
  }
  return { source: "none", node: {}, isSeed: true, variables: [...env.seen] };
}

/**
 * Start this process's node as the environment says, then wait for the cluster to form.
 *
 * @param start Starts the node (`pul.init`, or `pul.actorSystem` for an independent one).
 * @param options Sources, `waitTimeout`, `onReady`, per-source settings.
 * @returns `true` once the expected members are alive (with no known size: once the seeds
 * were reached), `false` at `waitTimeout`.
 * @throws {BootstrapEnvError} on a bad or contradictory environment; whatever `start` throws.
 *
 * @example
 * ```ts
 * import * as pul from "../mod.ts";
 * import { bootstrapWith } from "./bootstrap.ts";
 * // No launcher variables: an in-process node, complete at once.
 * const ok = await bootstrapWith(pul.init, { env: () => undefined, onReady: () => {} });
 * console.log(ok); // true
 * await pul.shutdown();
 * ```
 */
export async function bootstrapWith(
  start: StartNode,
  options: BootstrapOptions = {},
): Promise<boolean> {
  const plan = planBootstrap(options);
  const k8s = plan.source === "kubernetes" ? options.kubernetes : undefined;
  let resolved: string[] | undefined;
  if (k8s) {
    resolved = await resolveService(k8s);
    const self = plan.node.advertiseAddr;
    plan.node.seeds = resolved.filter((a) => a !== self);
  }
  const system = await start(plan.node);
  const watch = watchFormation(system, plan, k8s, resolved, options.onReady);
  const timeout = options.waitTimeout ?? 60_000;
  if (timeout <= 0) return await watch.check();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<boolean>((r) => timer = setTimeout(() => r(false), timeout));
  try {
    return await Promise.race([watch.ready.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Start this process's node from torchrun-style variables alone (`RANK`, `WORLD_SIZE`,
 * `MASTER_ADDR`, `MASTER_PORT`): rank 0 is the seed at `MASTER_ADDR:MASTER_PORT+1`, the
 * others join it. Does not wait for the other ranks (see {@linkcode bootstrapWith}).
 *
 * @param start Starts the node (`pul.init`).
 * @param options `env`, `torchrun.portOffset`.
 * @returns The started system.
 * @throws {BootstrapEnvError} when the variables are missing or contradictory.
 *
 * @example
 * ```ts ignore
 * import * as pul from "../mod.ts";
 * import { initInsideTorchrunWith } from "./bootstrap.ts";
 * // torchrun --nproc-per-node 4 --no-python deno run -A train.ts
 * const system = await initInsideTorchrunWith(pul.init);
 * ```
 */
export function initInsideTorchrunWith(
  start: StartNode,
  options: Pick<PlanOptions, "env" | "torchrun"> = {},
): Promise<ActorSystem> {
  const plan = planBootstrap({ ...options, sources: ["torchrun"] });
  if (plan.source !== "torchrun") {
    throw new BootstrapEnvError(
      ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"],
      "not started by torchrun: the torchrun variables are not set",
    );
  }
  return start(plan.node);
}

// ---- the sources ----

interface TracedEnv {
  (name: string): string | undefined;
  seen: Set<string>;
}

function envWithTrace(read: EnvReader): TracedEnv {
  const seen = new Set<string>();
  const f = ((name: string) => {
    const v = read(name);
    if (v === undefined || v.trim() === "") return undefined;
    seen.add(name);
    return v.trim();
  }) as TracedEnv;
  f.seen = seen;
  return f;
}

interface Common {
  addr?: string;
  passphrase?: string;
  seeds?: string;
  headAddr?: string;
  worldSize?: number;
}

function commonEnv(env: TracedEnv, options: PlanOptions): Common {
  const addr = env("PULSING_ADDR");
  if (addr !== undefined) checkAddr(addr, "PULSING_ADDR");
  const headAddr = env("PULSING_HEAD_ADDR");
  if (headAddr !== undefined) checkAddr(headAddr, "PULSING_HEAD_ADDR");
  const seeds = env("PULSING_SEEDS");
  if (seeds !== undefined && headAddr !== undefined) {
    throw new BootstrapEnvError(
      ["PULSING_SEEDS", "PULSING_HEAD_ADDR"],
      "both are set: a worker of a head node joins the head, not seeds; unset one",
    );
  }
  let worldSize = options.worldSize;
  const ws = env("PULSING_WORLD_SIZE");
  if (ws !== undefined) {
    const n = int(ws, "PULSING_WORLD_SIZE", 1);
    if (worldSize !== undefined && worldSize !== n) {
      throw new BootstrapEnvError(
        ["PULSING_WORLD_SIZE"],
        `PULSING_WORLD_SIZE=${n} but the worldSize option is ${worldSize}`,
      );
    }
    worldSize = n;
  }
  return { addr, passphrase: env("PULSING_PASSPHRASE"), seeds, headAddr, worldSize };
}

/** A launcher source owns the layout: PULSING_SEEDS / PULSING_HEAD_ADDR would contradict it. */
function refuseManualLayout(common: Common, launcherVars: string[]): void {
  const manual = common.seeds !== undefined
    ? "PULSING_SEEDS"
    : common.headAddr !== undefined
    ? "PULSING_HEAD_ADDR"
    : undefined;
  if (manual) {
    throw new BootstrapEnvError(
      [manual, ...launcherVars],
      `${manual} is set, but ${launcherVars.join("/")} already say where the seed is; ` +
        `unset ${manual} (or choose the source with { sources })`,
    );
  }
}

function checkWorldSize(common: Common, size: number, variable: string): void {
  if (common.worldSize !== undefined && common.worldSize !== size) {
    throw new BootstrapEnvError(
      ["PULSING_WORLD_SIZE", variable],
      `PULSING_WORLD_SIZE=${common.worldSize} contradicts ${variable}=${size}`,
    );
  }
}

/** Bind address for a node of a launcher: `PULSING_ADDR`, or loopback/any by the seed host. */
function bindAddr(common: Common, seedHost: string, port: number, isSeed: boolean): string {
  if (common.addr !== undefined) {
    const hp = parseAddr(common.addr);
    if (isSeed && hp.port !== 0 && hp.port !== port) {
      throw new BootstrapEnvError(
        ["PULSING_ADDR"],
        `this process is the seed and must listen on port ${port}, but PULSING_ADDR=${common.addr}`,
      );
    }
    return formatAddr({ hostname: hp.hostname, port: isSeed ? port : hp.port });
  }
  const host = isLoopback(seedHost) ? "127.0.0.1" : "0.0.0.0";
  return formatAddr({ hostname: host, port: isSeed ? port : 0 });
}

function torchrunPlan(env: TracedEnv, common: Common, options: PlanOptions): BootstrapPlan | null {
  const rankS = env("RANK");
  const sizeS = env("WORLD_SIZE");
  if (rankS === undefined && sizeS === undefined) return null;
  const vars = ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"];
  const master = env("MASTER_ADDR");
  const portS = env("MASTER_PORT");
  const missing = vars.filter((_v, i) => [rankS, sizeS, master, portS][i] === undefined);
  if (missing.length) {
    throw new BootstrapEnvError(
      missing,
      `torchrun-style variables are incomplete: ${missing.join(", ")} not set ` +
        `(set all of ${vars.join(", ")})`,
    );
  }
  const rank = int(rankS!, "RANK", 0);
  const size = int(sizeS!, "WORLD_SIZE", 1);
  if (rank >= size) {
    throw new BootstrapEnvError(
      ["RANK", "WORLD_SIZE"],
      `RANK=${rank} is not below WORLD_SIZE=${size}`,
    );
  }
  const masterPort = int(portS!, "MASTER_PORT", 1);
  const offset = options.torchrun?.portOffset ?? TORCHRUN_PORT_OFFSET;
  const port = masterPort + offset;
  if (masterPort > 65535 || port > 65535 || port < 1) {
    throw new BootstrapEnvError(
      ["MASTER_PORT"],
      `MASTER_PORT=${masterPort} + offset ${offset} is not a port (1..65535)`,
    );
  }
  const host = checkHost(master!, "MASTER_ADDR");
  let localRank: number | undefined;
  const lr = env("LOCAL_RANK");
  if (lr !== undefined) {
    localRank = int(lr, "LOCAL_RANK", 0);
    if (localRank > rank) {
      throw new BootstrapEnvError(
        ["LOCAL_RANK", "RANK"],
        `LOCAL_RANK=${localRank} is above RANK=${rank}`,
      );
    }
    const lws = env("LOCAL_WORLD_SIZE");
    if (lws !== undefined && localRank >= int(lws, "LOCAL_WORLD_SIZE", 1)) {
      throw new BootstrapEnvError(
        ["LOCAL_RANK", "LOCAL_WORLD_SIZE"],
        `LOCAL_RANK=${localRank} is not below LOCAL_WORLD_SIZE=${lws}`,
      );
    }
  }
  refuseManualLayout(common, ["RANK", "MASTER_ADDR"]);
  checkWorldSize(common, size, "WORLD_SIZE");
  const seed = formatAddr({ hostname: host, port });
  const isSeed = rank === 0;
  return {
    source: "torchrun",
    node: {
      addr: bindAddr(common, host, port, isSeed),
      advertiseAddr: isSeed && common.addr === undefined ? seed : undefined,
      seeds: isSeed ? [] : [seed],
      passphrase: common.passphrase,
    },
    rank,
    localRank,
    worldSize: size,
    isSeed,
    variables: [],
  };
}

function slurmPlan(env: TracedEnv, common: Common, options: PlanOptions): BootstrapPlan | null {
  const procS = env("SLURM_PROCID");
  if (procS === undefined) return null;
  const ntasksVar = env("SLURM_NTASKS") !== undefined ? "SLURM_NTASKS" : "SLURM_NPROCS";
  const ntasksS = env(ntasksVar);
  const listVar = ["SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"].find((v) =>
    env(v) !== undefined
  );
  const missing = [
    ...(ntasksS === undefined ? ["SLURM_NTASKS"] : []),
    ...(listVar === undefined ? ["SLURM_JOB_NODELIST"] : []),
  ];
  if (missing.length) {
    throw new BootstrapEnvError(
      ["SLURM_PROCID", ...missing],
      `SLURM_PROCID is set but ${missing.join(" and ")} not (run the processes with srun)`,
    );
  }
  const procid = int(procS, "SLURM_PROCID", 0);
  const ntasks = int(ntasksS!, ntasksVar, 1);
  if (procid >= ntasks) {
    throw new BootstrapEnvError(
      ["SLURM_PROCID", ntasksVar],
      `SLURM_PROCID=${procid} is not below ${ntasksVar}=${ntasks}`,
    );
  }
  let hosts: string[];
  try {
    hosts = expandHostlist(env(listVar!)!);
  } catch (e) {
    throw new BootstrapEnvError([listVar!], (e as Error).message);
  }
  if (hosts.length === 0) throw new BootstrapEnvError([listVar!], `${listVar} is empty`);
  const first = checkHost(hosts[0], listVar!);
  let port = options.slurm?.port;
  if (port === undefined) {
    const job = env("SLURM_JOB_ID");
    port = 15000 + (job !== undefined ? int(job, "SLURM_JOB_ID", 0) % 10000 : 0);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BootstrapEnvError(["SLURM_JOB_ID"], `seed port ${port} is not in 1..65535`);
  }
  const nodeName = env("SLURMD_NODENAME");
  const localS = env("SLURM_LOCALID");
  const localRank = localS !== undefined ? int(localS, "SLURM_LOCALID", 0) : undefined;
  // The seed is the first task on the first host (task 0 under block and cyclic layouts).
  const isSeed = nodeName !== undefined && localRank !== undefined
    ? nodeName === hosts[0] && localRank === 0
    : procid === 0;
  refuseManualLayout(common, ["SLURM_PROCID", listVar!]);
  checkWorldSize(common, ntasks, ntasksVar);
  const seed = formatAddr({ hostname: first, port });
  return {
    source: "slurm",
    node: {
      addr: bindAddr(common, first, port, isSeed),
      seeds: isSeed ? [] : [seed],
      passphrase: common.passphrase,
    },
    rank: procid,
    localRank,
    worldSize: ntasks,
    isSeed,
    variables: [],
  };
}

function kubernetesPlan(
  env: TracedEnv,
  common: Common,
  options: PlanOptions,
): BootstrapPlan | null {
  const k = options.kubernetes;
  if (!k) return null;
  if (typeof k.service !== "string" || k.service.trim() === "") {
    throw new TypeError("kubernetes.service must be the headless service's DNS name");
  }
  if (!Number.isInteger(k.port) || k.port < 1 || k.port > 65535) {
    throw new TypeError(`kubernetes.port must be a port in 1..65535, got ${k.port}`);
  }
  refuseManualLayout(common, ["kubernetes.service"]);
  if (k.replicas !== undefined) checkWorldSize(common, k.replicas, "kubernetes.replicas");
  const podIp = env("POD_IP");
  if (podIp !== undefined) checkHost(podIp, "POD_IP");
  let addr = formatAddr({ hostname: "0.0.0.0", port: k.port });
  let advertiseAddr = podIp !== undefined
    ? formatAddr({ hostname: podIp, port: k.port })
    : undefined;
  if (common.addr !== undefined) {
    addr = common.addr;
    const hp = parseAddr(addr);
    if (hp.port !== k.port) {
      throw new BootstrapEnvError(
        ["PULSING_ADDR"],
        `PULSING_ADDR=${addr} must use the service port ${k.port}`,
      );
    }
    if (advertiseAddr === undefined && hp.hostname !== "0.0.0.0" && hp.hostname !== "::") {
      advertiseAddr = addr;
    }
  }
  return {
    source: "kubernetes",
    node: { addr, advertiseAddr, seeds: [], passphrase: common.passphrase },
    worldSize: k.replicas ?? common.worldSize,
    isSeed: false,
    variables: [],
  };
}

function envPlan(_env: TracedEnv, common: Common): BootstrapPlan | null {
  if (
    common.addr === undefined && common.seeds === undefined && common.headAddr === undefined &&
    common.passphrase === undefined
  ) return null;
  const seeds = common.seeds?.split(",").map((s) => s.trim()).filter((s) => s !== "") ?? [];
  for (const s of seeds) checkAddr(s, "PULSING_SEEDS");
  // A worker of a head node reaches the head through the membership, like a seed.
  if (common.headAddr !== undefined) seeds.push(common.headAddr);
  return {
    source: "env",
    node: {
      addr: common.addr ?? "127.0.0.1:0",
      seeds,
      passphrase: common.passphrase,
      headAddr: common.headAddr,
    },
    worldSize: common.worldSize,
    isSeed: seeds.length === 0,
    variables: [],
  };
}

// ---- watching the cluster form ----

interface Formation {
  ready: Promise<void>;
  check(): Promise<boolean>;
}

function watchFormation(
  system: ActorSystem,
  plan: BootstrapPlan,
  k8s: KubernetesOptions | undefined,
  firstResolution: string[] | undefined,
  onReady: ((system: ActorSystem) => void | Promise<void>) | undefined,
): Formation {
  let resolved = firstResolution;
  let done = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => markReady = r);
  const interval = k8s?.intervalMs ?? 1000;
  let nextResolve = Date.now() + interval;

  const check = async (): Promise<boolean> => {
    if (done) return true;
    const members = await system.members();
    const alive = members.filter((m) => m.status === "alive");
    let ok: boolean;
    if (plan.worldSize !== undefined) ok = alive.length >= plan.worldSize;
    else if (k8s) {
      const have = new Set(alive.map((m) => m.addr));
      ok = resolved !== undefined && resolved.length > 0 && resolved.every((a) => have.has(a));
    } else ok = (plan.node.seeds?.length ?? 0) === 0 || alive.length >= 2;
    if (ok && !done) {
      done = true;
      markReady();
      if (onReady) {
        try {
          await onReady(system);
        } catch (e) {
          system.log("warn", `bootstrap onReady failed: ${(e as Error)?.message ?? e}`);
        }
      }
    }
    return ok;
  };

  const tick = async (): Promise<void> => {
    timer = undefined;
    if (done || system.isShutdown) return;
    try {
      if (k8s && Date.now() >= nextResolve) {
        nextResolve = Date.now() + interval;
        resolved = await resolveService(k8s);
        rejoin(system, resolved);
      }
      await check();
    } catch (e) {
      system.log("debug", `bootstrap: ${(e as Error)?.message ?? e}`);
    }
    if (!done && !system.isShutdown) timer = setTimeout(tick, 100);
  };
  system.onShutdown(() => {
    done = true;
    clearTimeout(timer);
  });
  timer = setTimeout(tick, 0);
  return { ready, check };
}

/**
 * Kubernetes: exchange state with every address DNS lists that is not a live member yet (pods
 * appear one by one, and two groups that formed apart merge this way).
 */
function rejoin(system: ActorSystem, addrs: string[]): void {
  const node = system.cluster as ClusterNode | undefined;
  if (!node?.swim?.running) return;
  const known = new Set(node.swim.aliveMembers().map((m) => m.addr));
  const fresh = addrs.filter((a) => a !== system.addr && !known.has(a));
  // DNS is asked again anyway: do not remember pods that have gone away as seeds.
  if (fresh.length > 0) void node.addSeeds(fresh, { remember: false }).catch(() => {});
}

async function resolveService(k: KubernetesOptions): Promise<string[]> {
  let ips: string[];
  try {
    ips = k.resolve ? await k.resolve(k.service) : await lookupAll(k.service);
  } catch {
    return [];
  }
  return [...new Set(ips.map((ip) => formatAddr({ hostname: ip, port: k.port })))].sort();
}

async function lookupAll(name: string): Promise<string[]> {
  const dns = await import("node:dns/promises");
  const all = await dns.lookup(name, { all: true });
  return all.map((a) => a.address);
}

// ---- small checks ----

function int(text: string, variable: string, min: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new BootstrapEnvError(
      [variable],
      `${variable}=${JSON.stringify(text)} is not an integer >= ${min}`,
    );
  }
  return Number(text);
}

function checkAddr(text: string, variable: string): void {
  try {
    parseAddr(text);
  } catch (e) {
    throw new BootstrapEnvError([variable], `${variable}: ${(e as Error).message}`);
  }
}

function checkHost(host: string, variable: string): string {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (!/^[A-Za-z0-9._:-]+$/.test(h) || (h.includes(":") && !/^[0-9A-Fa-f:.]+$/.test(h))) {
    throw new BootstrapEnvError(
      [variable],
      `${variable}=${JSON.stringify(host)} is not a host name or IP address`,
    );
  }
  return h;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
