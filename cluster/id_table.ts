/**
 * A map from request ids (unsigned 32-bit integers) to values, for the per-connection tables of
 * asks waiting for replies and requests being served, which see one insert and one delete per
 * message.
 *
 * Why not a `Map`: a `Map` with that churn rebuilds its hash table every few hundred operations,
 * and V8 links each discarded table to its successor. Once a discarded table has been promoted
 * to the old generation, it keeps every young table after it — and the entries they hold —
 * alive through each scavenge until the next full collection. Measured on the 64-in-flight
 * benchmark (`bench/pulsing_node.ts`, after the sequential figure had grown V8's young
 * generation): the asking side then promoted 4–6 MB per scavenge, scavenges took 4–5 ms instead
 * of 0.05 ms, and the client spent 1.46 µs of CPU per ask instead of 1.10 µs (640k → 850k
 * asks/s).
 *
 * Ids are mostly consecutive, so a value lives in the slot `id & mask` of two flat arrays that
 * are allocated once and never rebuilt on delete; an id whose slot is taken (a long-running
 * request, or a peer choosing ids that collide) goes to a small overflow `Map`. The slot arrays
 * start small and double, up to 4096 slots, while they are at least half full.
 *
 * @example
 * ```ts
 * import { IdTable } from "./id_table.ts";
 * const t = new IdTable<string>();
 * t.set(1, "a");
 * t.set(2, "b");
 * t.delete(1);
 * console.log(t.get(2), t.has(1), t.size); // "b" false 1
 * ```
 *
 * @module
 */

const MIN_SLOTS = 64;
const MAX_SLOTS = 4096;

/**
 * Id → value, with `Map`'s API for what the RPC layer uses. Values must not be `undefined`.
 * Iteration order is not insertion order.
 *
 * @example
 * ```ts
 * import { IdTable } from "./id_table.ts";
 * const t = new IdTable<number>();
 * for (let id = 1; id <= 3; id++) t.set(id, id * 10);
 * console.log([...t.values()].sort()); // [ 10, 20, 30 ]
 * ```
 */
export class IdTable<V> {
  #ids: Uint32Array = new Uint32Array(MIN_SLOTS);
  #vals: (V | undefined)[] = new Array(MIN_SLOTS).fill(undefined);
  #mask = MIN_SLOTS - 1;
  #inSlots = 0;
  #over: Map<number, V> | undefined;

  /** Number of entries. */
  get size(): number {
    return this.#inSlots + (this.#over?.size ?? 0);
  }

  /**
   * The value of `id`.
   *
   * @param id The id.
   * @returns The value, or `undefined`.
   */
  get(id: number): V | undefined {
    const i = id & this.#mask;
    if (this.#ids[i] === id) {
      const v = this.#vals[i];
      if (v !== undefined) return v;
    }
    return this.#over === undefined ? undefined : this.#over.get(id);
  }

  /**
   * Whether `id` has a value.
   *
   * @param id The id.
   * @returns True when present.
   */
  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /**
   * Set the value of `id`.
   *
   * @param id An unsigned 32-bit integer.
   * @param v The value (not `undefined`).
   * @returns This table.
   */
  set(id: number, v: V): this {
    let i = id & this.#mask;
    if (this.#vals[i] !== undefined && this.#ids[i] !== id) {
      if (this.#over?.has(id)) {
        this.#over.set(id, v);
        return this;
      }
      if (this.#mask + 1 < MAX_SLOTS && this.#inSlots * 2 >= this.#mask + 1) {
        this.#grow();
        i = id & this.#mask;
      }
    }
    const cur = this.#vals[i];
    if (cur === undefined) {
      if (this.#over?.delete(id)) { /* moved into its slot */ }
      this.#ids[i] = id;
      this.#vals[i] = v;
      this.#inSlots++;
    } else if (this.#ids[i] === id) {
      this.#vals[i] = v;
    } else {
      (this.#over ??= new Map()).set(id, v);
    }
    return this;
  }

  /**
   * Remove `id`.
   *
   * @param id The id.
   * @returns Whether it was present.
   */
  delete(id: number): boolean {
    const i = id & this.#mask;
    if (this.#ids[i] === id && this.#vals[i] !== undefined) {
      this.#vals[i] = undefined;
      this.#inSlots--;
      return true;
    }
    return this.#over !== undefined && this.#over.delete(id);
  }

  /** Remove every entry. */
  clear(): void {
    this.#vals.fill(undefined);
    this.#inSlots = 0;
    this.#over = undefined;
  }

  /**
   * The entries, in no particular order (a snapshot: the table may change meanwhile).
   *
   * @returns `[id, value]` pairs.
   */
  entries(): [number, V][] {
    const out: [number, V][] = [];
    const vals = this.#vals;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined) out.push([this.#ids[i], v]);
    }
    if (this.#over !== undefined) { for (const e of this.#over) out.push(e); }
    return out;
  }

  /**
   * The values, in no particular order (a snapshot).
   *
   * @returns The values.
   */
  values(): V[] {
    const out: V[] = [];
    for (const v of this.#vals) if (v !== undefined) out.push(v);
    if (this.#over !== undefined) { for (const v of this.#over.values()) out.push(v); }
    return out;
  }

  /** Iterate over a snapshot of the entries. */
  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries()[Symbol.iterator]();
  }

  #grow(): void {
    const ids = this.#ids, vals = this.#vals;
    const n = vals.length * 2;
    this.#ids = new Uint32Array(n);
    this.#vals = new Array(n).fill(undefined);
    this.#mask = n - 1;
    this.#inSlots = 0;
    const over = this.#over;
    this.#over = undefined;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined) this.set(ids[i], v);
    }
    if (over !== undefined) { for (const [id, v] of over) this.set(id, v); }
  }
}
