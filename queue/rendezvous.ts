/**
 * Rendezvous (highest-random-weight) hashing: which live node owns a key (a queue bucket, a
 * topic broker).
 *
 * Every node computes a score for each candidate, `score(key, node)`, and the highest score
 * wins. The score is the bucket hash ({@linkcode bucketHash}, FNV-1a 64 + `fmix64`) of the
 * canonical encoding of the pair `[key, node]` (see `bucket_hash.ts`), compared as an unsigned
 * 64-bit integer; a tie (probability 2^-64) goes to the node whose canonical encoding is
 * smaller byte-wise. So the owner:
 *
 * - depends only on the key and the *set* of nodes (not their order, not duplicates);
 * - is the same on every node, runtime and version that sees the same set;
 * - is spread uniformly over the nodes;
 * - moves for only ≈1/N of the keys when a node joins or leaves (only the keys that the
 *   leaving node owned, or that the joining node now wins, move).
 *
 * Callers pass the nodes they consider live (the cluster's `Alive` members, or every member
 * when none is alive, as the reference does). Conventional keys: `"<topic>:bucket_<n>"` for a
 * queue bucket, `"topic:<topic>"` for a topic broker.
 *
 * @module
 */

import { PulsingRuntimeError } from "../core/errors.ts";
import { ByteWriter, compare64, encodeKeyInto, Hash64, type HashableKey, TAG } from "./_hash64.ts";

/** A node id as the cluster knows it. */
export type RendezvousNode = string | number | bigint;

/** One scored candidate, as returned by {@linkcode rankNodes}. */
export interface ScoredNode<N extends RendezvousNode> {
  /** The node. */
  node: N;
  /** Its score for the key, an unsigned 64-bit integer; the highest wins. */
  score: bigint;
}

interface Scored<N> {
  node: N;
  hi: number;
  lo: number;
  enc?: Uint8Array;
}

/**
 * The owner of a key among the given nodes.
 *
 * @param key The key (any bucket key: see `bucket_hash.ts`).
 * @param nodes The live node ids; order and duplicates do not matter.
 * @returns The node with the highest score for `key`.
 * @throws {PulsingRuntimeError} If `nodes` is empty.
 * @throws {TypeError} If the key or a node id has no canonical encoding.
 *
 * @example
 * ```ts
 * import { ownerOf } from "./rendezvous.ts";
 * const owner = ownerOf("orders:bucket_3", ["node-a", "node-b", "node-c"]);
 * console.log(owner === ownerOf("orders:bucket_3", ["node-c", "node-a", "node-b"])); // true
 * ```
 */
export function ownerOf<N extends RendezvousNode>(key: HashableKey, nodes: readonly N[]): N {
  if (nodes.length === 0) {
    throw new PulsingRuntimeError(
      `No live node to own key ${JSON.stringify(String(key))}: the node list is empty`,
    );
  }
  const prefix = keyPrefix(key);
  let best: Scored<N> | undefined;
  for (const node of nodes) {
    const s = score(prefix, node);
    if (best === undefined || better(s, best)) best = s;
  }
  return best!.node;
}

/**
 * Every distinct node, best first: the owner, then the node that would own the key if the
 * owner left, and so on (for replicas and fail-over).
 *
 * @param key The key.
 * @param nodes The node ids; duplicates are listed once.
 * @returns The nodes with their scores, highest score first (empty for an empty list).
 * @throws {TypeError} If the key or a node id has no canonical encoding.
 *
 * @example
 * ```ts
 * import { ownerOf, rankNodes } from "./rendezvous.ts";
 * const nodes = ["a", "b", "c"];
 * const ranked = rankNodes("topic:events", nodes);
 * console.log(ranked[0].node === ownerOf("topic:events", nodes)); // true
 * console.log(ranked[1].node === ownerOf("topic:events", nodes.filter((n) => n !== ranked[0].node))); // true
 * ```
 */
export function rankNodes<N extends RendezvousNode>(
  key: HashableKey,
  nodes: readonly N[],
): ScoredNode<N>[] {
  const prefix = keyPrefix(key);
  const seen = new Set<RendezvousNode>();
  const scored: Scored<N>[] = [];
  for (const node of nodes) {
    if (seen.has(node)) continue;
    seen.add(node);
    scored.push(score(prefix, node));
  }
  scored.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  return scored.map((s) => ({ node: s.node, score: (BigInt(s.hi) << 32n) | BigInt(s.lo) }));
}

/** The hash state after `[TAG.array, 2, key]`, shared by every node's score. */
function keyPrefix(key: HashableKey): Hash64 {
  const h = new Hash64();
  h.byte(TAG.array);
  h.byte(0), h.byte(0), h.byte(0), h.byte(2);
  encodeKeyInto(h, key);
  return h;
}

function score<N extends RendezvousNode>(prefix: Hash64, node: N): Scored<N> {
  const h = prefix.clone();
  encodeKeyInto(h, node);
  const [hi, lo] = h.digest();
  return { node, hi, lo };
}

function better<N>(a: Scored<N>, b: Scored<N>): boolean {
  const c = compare64(a.hi, a.lo, b.hi, b.lo);
  if (c !== 0) return c > 0;
  return compareBytes(encoded(a), encoded(b)) < 0;
}

function encoded<N>(s: Scored<N>): Uint8Array {
  if (s.enc === undefined) {
    const w = new ByteWriter();
    encodeKeyInto(w, s.node);
    s.enc = w.result();
  }
  return s.enc;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
