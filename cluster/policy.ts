/**
 * Load-balancing policies: how `resolve` chooses one of several instances of a name.
 *
 * A policy gets the live instances (never an empty list) and, when the caller passed one, a
 * routing key (`system.resolving().key("user-42")`). Each instance carries `inFlight`, the
 * requests this node has sent to that instance's node and not yet seen answered.
 *
 * | policy | choice |
 * |---|---|
 * | {@linkcode RoundRobinPolicy} | the next one in turn (the default, one counter per name) |
 * | {@linkcode RandomPolicy} | uniform at random |
 * | {@linkcode PowerOfTwoPolicy} | the less loaded (fewer in-flight requests) of two random ones |
 * | {@linkcode ConsistentHashPolicy} | by the key on a hash ring: the same key goes to the same node, and when nodes come or go only ~1/N of the keys move |
 *
 * @module
 */

import type { LoadBalancingPolicy, NamedInstance } from "../core/system.ts";

export type { LoadBalancingPolicy, NamedInstance };

/**
 * Each instance in turn. One counter per policy object; with no policy at all, resolve uses
 * round robin with one counter per name.
 *
 * @example
 * ```ts
 * import { RoundRobinPolicy } from "./policy.ts";
 * const p = new RoundRobinPolicy();
 * const xs = [{ nodeId: "a", actorId: "1" }, { nodeId: "b", actorId: "2" }];
 * console.log(p.select(xs), p.select(xs), p.select(xs)); // 0 1 0
 * ```
 */
export class RoundRobinPolicy implements LoadBalancingPolicy {
  #next = 0;
  /** Pick the next index. */
  select(instances: NamedInstance[]): number {
    const i = this.#next % instances.length;
    this.#next = (this.#next + 1) % 0x7fffffff;
    return i;
  }
  /** Start over at the first instance. */
  reset(): void {
    this.#next = 0;
  }
}

/**
 * Uniform at random.
 *
 * @example
 * ```ts
 * import { RandomPolicy } from "./policy.ts";
 * const p = new RandomPolicy(() => 0.99);
 * console.log(p.select([{ nodeId: "a", actorId: "1" }, { nodeId: "b", actorId: "2" }])); // 1
 * ```
 */
export class RandomPolicy implements LoadBalancingPolicy {
  readonly #random: () => number;
  /**
   * A random policy.
   * @param random A uniform source in [0, 1) (default `Math.random`).
   */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }
  /** Pick a random index. */
  select(instances: NamedInstance[]): number {
    return Math.min(instances.length - 1, Math.floor(this.#random() * instances.length));
  }
}

/**
 * Power of two choices: draw two distinct instances at random and take the one whose node has
 * fewer requests in flight from this node (ties go to the first drawn). Nearly as even as
 * "least loaded" without looking at every instance, and without the herd effect of all callers
 * picking the same least-loaded node.
 *
 * @example
 * ```ts
 * import { PowerOfTwoPolicy } from "./policy.ts";
 * const p = new PowerOfTwoPolicy();
 * const xs = [
 *   { nodeId: "a", actorId: "1", inFlight: 9 },
 *   { nodeId: "b", actorId: "2", inFlight: 0 },
 * ];
 * console.log(p.select(xs)); // 1
 * ```
 */
export class PowerOfTwoPolicy implements LoadBalancingPolicy {
  readonly #random: () => number;
  /**
   * A power-of-two-choices policy.
   * @param random A uniform source in [0, 1) (default `Math.random`).
   */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }
  /** Pick the less loaded of two random indices. */
  select(instances: NamedInstance[]): number {
    const n = instances.length;
    if (n === 1) return 0;
    const i = Math.min(n - 1, Math.floor(this.#random() * n));
    let j = Math.min(n - 2, Math.floor(this.#random() * (n - 1)));
    if (j >= i) j++;
    return (instances[j].inFlight ?? 0) < (instances[i].inFlight ?? 0) ? j : i;
  }
}

/** Options of {@linkcode ConsistentHashPolicy}. */
export interface ConsistentHashOptions {
  /** Points per node on the ring (default 160): more points, more even shares. */
  virtualNodes?: number;
}

/**
 * Consistent hashing on a ring of virtual nodes (160 per node, placed by node id): a key goes
 * to the first point at or after its hash. The same key goes to the same node while that node
 * lives; when a node comes or goes, only the keys of its arcs move (about 1/N of them).
 * Without a key it falls back to the first instance in ring order of the empty key.
 *
 * The ring is rebuilt only when the set of nodes changes.
 *
 * @example
 * ```ts
 * import { ConsistentHashPolicy } from "./policy.ts";
 * const p = new ConsistentHashPolicy();
 * const xs = [{ nodeId: "a", actorId: "1" }, { nodeId: "b", actorId: "2" }];
 * const i = p.select(xs, "user-42");
 * console.log(p.select([...xs].reverse(), "user-42") === 1 - i); // true (same node)
 * ```
 */
export class ConsistentHashPolicy implements LoadBalancingPolicy {
  readonly #vnodes: number;
  #signature = "";
  #ring: Uint32Array = new Uint32Array(0);
  #owners: string[] = [];

  /**
   * A consistent-hash policy.
   * @param options Ring size.
   */
  constructor(options: ConsistentHashOptions = {}) {
    const v = options.virtualNodes ?? 160;
    if (!Number.isInteger(v) || v < 1 || v > 10_000) {
      throw new TypeError(`virtualNodes must be an integer in 1..10000, got ${v}`);
    }
    this.#vnodes = v;
  }

  /** Pick the instance owning `key`. */
  select(instances: NamedInstance[], key?: string): number {
    if (instances.length === 1) return 0;
    const owner = this.owner(instances.map((x) => x.nodeId), key ?? "");
    const i = instances.findIndex((x) => x.nodeId === owner);
    return i < 0 ? 0 : i;
  }

  /**
   * The node id owning `key` among `nodeIds` (order does not matter).
   *
   * @example
   * ```ts
   * import { ConsistentHashPolicy } from "./policy.ts";
   * const p = new ConsistentHashPolicy();
   * console.log(["a", "b"].includes(p.owner(["a", "b"], "k"))); // true
   * ```
   */
  owner(nodeIds: string[], key: string): string {
    this.#build(nodeIds);
    const h = hash32(key);
    const ring = this.#ring;
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === ring.length ? 0 : lo];
  }

  #build(nodeIds: string[]): void {
    const sorted = [...new Set(nodeIds)].sort();
    const sig = sorted.join("\n");
    if (sig === this.#signature && this.#ring.length > 0) return;
    const points: { h: number; id: string }[] = [];
    for (const id of sorted) {
      for (let v = 0; v < this.#vnodes; v++) points.push({ h: hash32(`${id}#${v}`), id });
    }
    points.sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.#ring = Uint32Array.from(points, (p) => p.h);
    this.#owners = points.map((p) => p.id);
    this.#signature = sig;
  }
}

/**
 * A 32-bit string hash (FNV-1a over UTF-16 code units, then the murmur3 finalizer for
 * avalanche). Stable across processes and runtimes.
 *
 * @example
 * ```ts
 * import { hash32 } from "./policy.ts";
 * console.log(hash32("a") === hash32("a"), hash32("a") !== hash32("b")); // true true
 * ```
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
