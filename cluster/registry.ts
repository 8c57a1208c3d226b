/**
 * The cluster-wide name registry: replicated state with versions and tombstones.
 *
 * Each node *owns* the names of its own actors. Its part of the registry carries a version
 * that it bumps on every change; a change travels as a {@linkcode RegistryDelta} (pushed at
 * once to every peer), and a peer that notices a gap (a delta whose version is not the next
 * one, or a higher version announced through membership gossip) pulls the owner's full
 * {@linkcode RegistrySnapshot}. Since only the owner writes its part, there are no conflicts:
 * a higher version always wins, so a removed name never comes back through a stale message.
 * When a node is declared dead or leaves, its whole part is dropped and its id remembered, so
 * late messages from it are ignored.
 *
 * @module
 */

/** One named actor on one node. */
export interface RegistryEntry {
  /** The actor's path. */
  path: string;
  /** The actor's id (32 hex). */
  actorId: string;
  /** Metadata recorded at spawn (class, module, ...). */
  meta: Record<string, string>;
}

/** One change of one node's names. */
export interface RegistryDelta {
  /** The owner node. */
  n: string;
  /** The owner's version after this change. */
  v: number;
  /** `"add"` or `"del"`. */
  op: "add" | "del";
  /** The path. */
  p: string;
  /** The actor id. */
  a: string;
  /** Metadata (adds only). */
  m?: Record<string, string>;
}

/** The whole of one node's names at a version. */
export interface RegistrySnapshot {
  /** The owner node. */
  n: string;
  /** Its version. */
  v: number;
  /** Its entries. */
  e: RegistryEntry[];
}

/** What applying a remote message did. */
export type ApplyResult = "applied" | "stale" | "gap" | "ignored";

function wireEntries(part: Part): RegistryEntry[] {
  const out: RegistryEntry[] = [];
  for (const e of part.entries.values()) {
    out.push({ path: e.path, actorId: e.actorId, meta: e.meta });
  }
  return out;
}

/** An entry as stored: it knows its node, so that a lone instance needs no map. */
interface Stored extends RegistryEntry {
  node: string;
}

/** One instance of a path (the common case) is the entry itself; several are a map. */
type Slot = Stored | Map<string, Stored>;

interface Part {
  version: number;
  entries: Map<string, Stored>;
}

/**
 * The replicated registry held by one node.
 *
 * @example
 * ```ts
 * import { NameRegistry } from "./registry.ts";
 * const a = new NameRegistry("nodeA");
 * const b = new NameRegistry("nodeB");
 * const d = a.addLocal("actors/x", "id1", {});
 * console.log(b.applyDelta(d), b.instances("actors/x").length); // "applied" 1
 * ```
 */
export class NameRegistry {
  /** This node's id. */
  readonly selfId: string;
  readonly #parts = new Map<string, Part>();
  /** This node's part (its entries are indexed by path already, so not in `#byPath`). */
  readonly #self: Part;
  /**
   * Other nodes' entries by path: its one instance (most names), or a map node → entry when
   * there are several. Lookups by name cost O(instances), not O(nodes); local names are found
   * in `#self`, so a node holding many named actors keeps one map entry per name, not two.
   */
  readonly #byPath = new Map<string, Slot>();
  readonly #gone = new Map<string, number>();
  readonly #listeners = new Set<(path: string) => void>();

  /** An empty registry for node `selfId`. */
  constructor(selfId: string) {
    this.selfId = selfId;
    this.#self = { version: 0, entries: new Map() };
    this.#parts.set(selfId, this.#self);
  }

  /** Be told of every path whose instances changed. */
  onChange(fn: (path: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #index(nodeId: string, e: Stored): void {
    const s = this.#byPath.get(e.path);
    if (s === undefined || (!(s instanceof Map) && s.node === nodeId)) this.#byPath.set(e.path, e);
    else if (s instanceof Map) s.set(nodeId, e);
    else this.#byPath.set(e.path, new Map([[s.node, s], [nodeId, e]]));
  }

  #unindex(nodeId: string, path: string): void {
    const s = this.#byPath.get(path);
    if (s === undefined) return;
    if (s instanceof Map) {
      s.delete(nodeId);
      if (s.size === 1) this.#byPath.set(path, s.values().next().value!);
      else if (s.size === 0) this.#byPath.delete(path);
    } else if (s.node === nodeId) this.#byPath.delete(path);
  }

  #changed(path: string): void {
    for (const f of this.#listeners) f(path);
  }

  /** This node's version. */
  get localVersion(): number {
    return this.#self.version;
  }

  /** Record a local named actor; returns the delta to send to peers. */
  addLocal(path: string, actorId: string, meta: Record<string, string>): RegistryDelta {
    const part = this.#self;
    part.version++;
    part.entries.set(path, { path, actorId, meta, node: this.selfId });
    this.#changed(path);
    return { n: this.selfId, v: part.version, op: "add", p: path, a: actorId, m: meta };
  }

  /** Remove a local named actor (if that actor still holds the name); returns the delta. */
  removeLocal(path: string, actorId: string): RegistryDelta | undefined {
    const part = this.#self;
    const e = part.entries.get(path);
    if (!e || e.actorId !== actorId) return undefined;
    part.version++;
    part.entries.delete(path);
    this.#changed(path);
    return { n: this.selfId, v: part.version, op: "del", p: path, a: actorId };
  }

  /** This node's full part, to answer a pull. */
  localSnapshot(): RegistrySnapshot {
    const part = this.#self;
    return { n: this.selfId, v: part.version, e: wireEntries(part) };
  }

  /** The part held for `nodeId` (the head serves it to workers), or undefined. */
  snapshotOf(nodeId: string): RegistrySnapshot | undefined {
    const part = this.#parts.get(nodeId);
    return part ? { n: nodeId, v: part.version, e: wireEntries(part) } : undefined;
  }

  /** The version held for `nodeId` (0 when unknown). */
  versionOf(nodeId: string): number {
    return this.#parts.get(nodeId)?.version ?? 0;
  }

  /** Whether `nodeId` is known to be gone (dead or left). */
  isGone(nodeId: string): boolean {
    return this.#gone.has(nodeId);
  }

  /**
   * Apply a delta from its owner. `"gap"` means versions were missed: pull a snapshot.
   */
  applyDelta(d: RegistryDelta): ApplyResult {
    if (d.n === this.selfId || this.#gone.has(d.n)) return "ignored";
    let part = this.#parts.get(d.n);
    if (!part) {
      part = { version: 0, entries: new Map() };
      this.#parts.set(d.n, part);
    }
    if (d.v <= part.version) return "stale";
    if (d.v !== part.version + 1) return "gap";
    part.version = d.v;
    if (d.op === "add") {
      const e: Stored = { path: d.p, actorId: d.a, meta: d.m ?? {}, node: d.n };
      part.entries.set(d.p, e);
      this.#index(d.n, e);
    } else {
      part.entries.delete(d.p);
      this.#unindex(d.n, d.p);
    }
    this.#changed(d.p);
    return "applied";
  }

  /** Replace a node's part by a newer snapshot. */
  applySnapshot(s: RegistrySnapshot): ApplyResult {
    if (s.n === this.selfId || this.#gone.has(s.n)) return "ignored";
    const part = this.#parts.get(s.n);
    if (part && s.v <= part.version) return "stale";
    const entries = new Map<string, Stored>();
    for (const e of s.e) {
      entries.set(e.path, { path: e.path, actorId: e.actorId, meta: e.meta ?? {}, node: s.n });
    }
    const touched = new Set<string>(entries.keys());
    if (part) {
      for (const p of part.entries.keys()) {
        touched.add(p);
        this.#unindex(s.n, p);
      }
    }
    this.#parts.set(s.n, { version: s.v, entries });
    for (const e of entries.values()) this.#index(s.n, e);
    for (const p of touched) this.#changed(p);
    return "applied";
  }

  /**
   * Forget a node that died or left, and ignore anything it sent before.
   * @param nodeId The node.
   * @param now Current time (ms), to expire the tombstone later.
   */
  dropNode(nodeId: string, now: number = Date.now()): void {
    if (nodeId === this.selfId) return;
    this.#gone.set(nodeId, now);
    const part = this.#parts.get(nodeId);
    this.#parts.delete(nodeId);
    if (!part) return;
    for (const p of part.entries.keys()) this.#unindex(nodeId, p);
    for (const p of part.entries.keys()) this.#changed(p);
  }

  /**
   * A node that was dropped is back (a newer incarnation proved it alive, or it registered
   * again with the head): accept its messages again. Its names come with its next snapshot.
   */
  revive(nodeId: string): void {
    this.#gone.delete(nodeId);
  }

  /** Forget node tombstones older than `maxAgeMs`. */
  expireTombstones(maxAgeMs: number, now: number = Date.now()): void {
    for (const [id, t] of this.#gone) if (now - t > maxAgeMs) this.#gone.delete(id);
  }

  /** Every instance of `path`, this node's first. */
  instances(path: string): { nodeId: string; entry: RegistryEntry }[] {
    const out: { nodeId: string; entry: RegistryEntry }[] = [];
    const own = this.#self.entries.get(path);
    if (own !== undefined) out.push({ nodeId: this.selfId, entry: own });
    const s = this.#byPath.get(path);
    if (s === undefined) return out;
    if (!(s instanceof Map)) out.push({ nodeId: s.node, entry: s });
    else for (const [nodeId, entry] of s) out.push({ nodeId, entry });
    return out;
  }

  /** The entry of `path` on node `nodeId`, if any (O(1)). */
  entryOf(nodeId: string, path: string): RegistryEntry | undefined {
    if (nodeId === this.selfId) return this.#self.entries.get(path);
    const s = this.#byPath.get(path);
    if (s === undefined) return undefined;
    if (s instanceof Map) return s.get(nodeId);
    return s.node === nodeId ? s : undefined;
  }

  /** Find a named actor by id on any node. */
  findActor(actorId: string): { nodeId: string; entry: RegistryEntry } | undefined {
    for (const [nodeId, part] of this.#parts) {
      for (const e of part.entries.values()) if (e.actorId === actorId) return { nodeId, entry: e };
    }
    return undefined;
  }

  /** All paths with their instances. */
  all(): Map<string, { nodeId: string; entry: RegistryEntry }[]> {
    const out = new Map<string, { nodeId: string; entry: RegistryEntry }[]>();
    for (const [nodeId, part] of this.#parts) {
      for (const e of part.entries.values()) {
        let l = out.get(e.path);
        if (!l) out.set(e.path, l = []);
        l.push({ nodeId, entry: e });
      }
    }
    return out;
  }

  /** Node ids with a part held here. */
  nodes(): string[] {
    return [...this.#parts.keys()];
  }
}
