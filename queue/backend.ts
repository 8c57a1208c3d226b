/**
 * The storage backend of a queue bucket: the interface every backend implements, and the
 * registry that maps a backend name (`"memory"`, `"sqlite"`, or one you register) to a factory.
 *
 * A backend is one append-only log of records. Offsets start at 0 and are dense: the record
 * put `k`-th (counting from 0, across restarts for a durable backend) has offset `k`, and
 * `get(offset, limit)` returns the records in offset order, which is arrival order. Reads
 * never remove anything (readers keep their own offsets).
 *
 * The bucket actor calls one backend from one actor at a time, but the built-in backends are
 * also safe to call concurrently from many async callers in one process: each call is applied
 * whole, in call order.
 *
 * @module
 */

import { PulsingBusinessError } from "../core/errors.ts";
import type { WaitOptions } from "./data_waiters.ts";
import { createMemoryBackend } from "./memory_backend.ts";
import { openSqliteBackend } from "./sqlite_backend.ts";

export type { WaitOptions } from "./data_waiters.ts";

/** One queue record: an object whose bucket column chooses its bucket. */
export type QueueRecord = Record<string, unknown>;

/**
 * The options a backend factory receives: the bucket it serves and its storage path, plus
 * every entry of the queue's `backendOptions`.
 */
export interface BackendOptions {
  /** The bucket this backend stores. */
  bucketId: number;
  /** The bucket's storage directory (durable backends). */
  storagePath?: string;
  /** The writer's batch size hint. */
  batchSize?: number;
  /** Backend-specific options (from the queue's `backendOptions`). */
  readonly [option: string]: unknown;
}

/** What {@linkcode QueueBackend.stats} reports. */
export interface BackendStats {
  /** The bucket served. */
  bucketId: number;
  /** The backend name (`"memory"`, `"sqlite"`, ...). */
  backend: string;
  /** Records stored (the next offset). */
  totalCount: number;
  /** Records stored but not yet made durable by `flush()` (always `totalCount` for memory). */
  bufferSize: number;
  /** Records made durable (always 0 for memory). */
  persistedCount: number;
  /** The storage path, for durable backends. */
  storagePath?: string;
}

/** Options of {@linkcode QueueBackend.stream}. */
export interface StreamOptions {
  /** Abort the stream: iteration throws `signal.reason`, even while waiting. */
  signal?: AbortSignal;
  /** Most records per yielded batch (default 100). */
  batchSize?: number;
  /** Stop after this many records in total (default: no limit). */
  limit?: number;
  /** When caught up, wait for new records (default `true`) or end (`false`). */
  wait?: boolean;
  /** When waiting, end the stream if nothing new arrives for this many ms (default: wait forever). */
  timeout?: number;
}

/**
 * The storage of one bucket. `put`, `putBatch`, `get`, `stream`, `flush`, `stats` and
 * `totalCount` are required (a duck-typed custom backend needs only those); `waitForData` and
 * `close` are optional.
 *
 * @example
 * ```ts
 * import type { QueueBackend } from "./backend.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * const b: QueueBackend = new MemoryBackend({ bucketId: 0 });
 * await b.put({ id: "u1", n: 1 });            // → offset 0
 * await b.putBatch([{ id: "u2" }, { id: "u3" }]); // → offset 1 (the first of the batch)
 * console.log(await b.get(1, 10));            // [{ id: "u2" }, { id: "u3" }]
 * console.log(b.totalCount());                // 3
 * ```
 */
export interface QueueBackend {
  /**
   * Append one record.
   * @returns Its offset.
   * @throws {TypeError} If `record` is not an object.
   */
  put(record: QueueRecord): Promise<number>;
  /**
   * Append records in order, all or nothing: after a failure none of them is stored.
   * @returns The offset of the first record (the others follow); for an empty batch, the
   * current `totalCount()`.
   * @throws {TypeError} If an element is not an object (nothing is stored).
   */
  putBatch(records: readonly QueueRecord[]): Promise<number>;
  /**
   * Up to `limit` records from `offset`, in offset order (fewer, or none, at the end).
   * @throws {RangeError} If `offset` or `limit` is not a non-negative integer.
   */
  get(offset: number, limit: number): Promise<QueueRecord[]>;
  /** Batches of records from `offset` (see {@linkcode StreamOptions}). */
  stream(offset: number, options?: StreamOptions): AsyncIterable<QueueRecord[]>;
  /**
   * Wait until there is a record at `offset`, without polling.
   * @returns `true` when there is, `false` after `timeout` ms or when the backend closes.
   * @throws The signal's reason when `signal` aborts.
   */
  waitForData?(offset: number, options?: WaitOptions): Promise<boolean>;
  /** Make every stored record durable (no-op for memory). */
  flush(): Promise<void>;
  /** Counters of the bucket. */
  stats(): Promise<BackendStats>;
  /** Records stored (the next offset). */
  totalCount(): number;
  /** Release resources; pending waits resolve `false`, further calls fail. Idempotent. */
  close?(): Promise<void>;
}

/**
 * Builds a backend for one bucket. A class whose constructor takes {@linkcode BackendOptions}
 * is accepted too (it is called with `new`).
 */
export type BackendFactory = (options: BackendOptions) => QueueBackend | Promise<QueueBackend>;

/** A backend class, accepted by {@linkcode registerBackend} as well as a factory. */
export type BackendClass = new (options: BackendOptions) => QueueBackend;

/** Options of {@linkcode registerBackend}. */
export interface RegisterBackendOptions {
  /** Replace an existing registration (or shadow a built-in) instead of failing. */
  replace?: boolean;
}

/** Error codes of the registry's {@linkcode PulsingBusinessError}s. */
export const BackendErrorCode = {
  /** `getBackend` / `createBackend` of a name nobody registered. */
  unknown: 404,
  /** `registerBackend` of a name already taken, without `replace`. */
  duplicate: 409,
} as const;

/** The members a duck-typed backend must have. */
export const REQUIRED_BACKEND_METHODS: readonly string[] = [
  "put",
  "putBatch",
  "get",
  "stream",
  "flush",
  "stats",
  "totalCount",
];

const builtins = new Map<string, BackendFactory>([
  ["memory", createMemoryBackend],
  ["sqlite", (options) => openSqliteBackend(options)],
]);
const registered = new Map<string, BackendFactory>();

function assertName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError(`A backend name must be a non-empty string, got ${String(name)}`);
  }
}

function isClass(f: unknown): f is BackendClass {
  return typeof f === "function" && /^class[\s{]/.test(Function.prototype.toString.call(f));
}

/**
 * Register a backend under a name, for `queue.write(topic, { backend: name })`. Every node
 * that may host the queue's buckets must register it (a backend travels by name).
 *
 * @param name The backend name.
 * @param factory A factory function, or a class whose constructor takes {@linkcode BackendOptions}.
 * @param options `replace: true` to replace an existing registration or shadow a built-in.
 * @throws {TypeError} If the name is not a non-empty string or the factory is not a function.
 * @throws {PulsingBusinessError} Code 409 if the name is taken and `replace` is not set.
 *
 * @example
 * ```ts
 * import { listBackends, registerBackend, unregisterBackend } from "./backend.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * registerBackend("my-memory", (options) => new MemoryBackend(options));
 * console.log(listBackends()); // ["memory", "sqlite", "my-memory"]
 * unregisterBackend("my-memory");
 * ```
 */
export function registerBackend(
  name: string,
  factory: BackendFactory | BackendClass,
  options: RegisterBackendOptions = {},
): void {
  assertName(name);
  if (typeof factory !== "function") {
    throw new TypeError(
      `The backend "${name}" must be a factory function or a class, got ${typeof factory}`,
    );
  }
  if (!options.replace && (registered.has(name) || builtins.has(name))) {
    throw new PulsingBusinessError(
      BackendErrorCode.duplicate,
      `Backend "${name}" is already registered (pass { replace: true } to replace it)`,
      { name },
    );
  }
  const f: BackendFactory = isClass(factory) ? (o) => new factory(o) : (factory as BackendFactory);
  registered.set(name, f);
}

/**
 * Remove a registration made with {@linkcode registerBackend}. A built-in that it shadowed is
 * visible again; built-ins themselves cannot be removed.
 *
 * @param name The backend name.
 * @returns Whether a registration was removed.
 *
 * @example
 * ```ts
 * import { registerBackend, unregisterBackend } from "./backend.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * registerBackend("tmp", (o) => new MemoryBackend(o));
 * console.log(unregisterBackend("tmp"), unregisterBackend("tmp")); // true false
 * ```
 */
export function unregisterBackend(name: string): boolean {
  return registered.delete(name);
}

/**
 * The factory registered under a name (registrations shadow built-ins).
 *
 * @param name The backend name.
 * @returns Its factory.
 * @throws {TypeError} If the name is not a non-empty string.
 * @throws {PulsingBusinessError} Code 404, listing the available names, if it is unknown.
 *
 * @example
 * ```ts
 * import { getBackend } from "./backend.ts";
 * const memory = getBackend("memory");
 * const b = await memory({ bucketId: 0 });
 * console.log(b.totalCount()); // 0
 * ```
 */
export function getBackend(name: string): BackendFactory {
  assertName(name);
  const f = registered.get(name) ?? builtins.get(name);
  if (f === undefined) {
    const available = listBackends();
    throw new PulsingBusinessError(
      BackendErrorCode.unknown,
      `Unknown backend: "${name}". Available: ${available.map((n) => `"${n}"`).join(", ")}. ` +
        "Register custom backends with registerBackend(name, factory) on every node.",
      { name, available },
    );
  }
  return f;
}

/**
 * Every backend name: the built-ins, then registrations in registration order.
 *
 * @returns The names.
 *
 * @example
 * ```ts
 * import { listBackends } from "./backend.ts";
 * console.log(listBackends().slice(0, 2)); // ["memory", "sqlite"]
 * ```
 */
export function listBackends(): string[] {
  return [...builtins.keys(), ...[...registered.keys()].filter((n) => !builtins.has(n))];
}

/**
 * Build the backend of one bucket by name, and check that what the factory returned has the
 * members of {@linkcode QueueBackend}.
 *
 * @param name The backend name.
 * @param options The bucket and its storage options.
 * @returns The backend.
 * @throws {PulsingBusinessError} Code 404 for an unknown name.
 * @throws {TypeError} If the factory returned something that is not a backend.
 *
 * @example
 * ```ts
 * import { createBackend } from "./backend.ts";
 * const b = await createBackend("memory", { bucketId: 3 });
 * console.log((await b.stats()).bucketId); // 3
 * ```
 */
export async function createBackend(name: string, options: BackendOptions): Promise<QueueBackend> {
  const backend: unknown = await getBackend(name)(options);
  assertQueueBackend(backend, name);
  return backend;
}

/**
 * Wait until a backend has a record at `offset`: its own `waitForData` when it has one (no
 * polling), else the first batch of `stream(offset, { wait: true, timeout, signal })`.
 *
 * @param backend The backend.
 * @param offset The offset to wait for.
 * @param options Timeout (ms) and abort signal.
 * @returns `true` when there is data at `offset`, `false` on timeout or close.
 * @throws The signal's reason when it aborts.
 *
 * @example
 * ```ts
 * import { waitForData } from "./backend.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * const b = new MemoryBackend({ bucketId: 0 });
 * setTimeout(() => b.put({ id: 1 }), 10);
 * console.log(await waitForData(b, 0, { timeout: 1000 })); // true
 * ```
 */
export async function waitForData(
  backend: QueueBackend,
  offset: number,
  options: WaitOptions = {},
): Promise<boolean> {
  if (typeof backend.waitForData === "function") return backend.waitForData(offset, options);
  const stream = backend.stream(offset, { ...options, wait: true, batchSize: 1, limit: 1 });
  for await (const batch of stream) if (batch.length > 0) return true;
  return false;
}

/**
 * The members of {@linkcode REQUIRED_BACKEND_METHODS} that a value lacks.
 *
 * @param value Any value.
 * @returns The missing member names (empty for a backend).
 *
 * @example
 * ```ts
 * import { missingBackendMethods } from "./backend.ts";
 * console.log(missingBackendMethods({ put() {}, get() {} }));
 * // ["putBatch", "stream", "flush", "stats", "totalCount"]
 * ```
 */
export function missingBackendMethods(value: unknown): string[] {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    return [...REQUIRED_BACKEND_METHODS];
  }
  const v = value as Record<string, unknown>;
  return REQUIRED_BACKEND_METHODS.filter((m) => typeof v[m] !== "function");
}

/**
 * Whether a value has every member of a {@linkcode QueueBackend} (duck typing).
 *
 * @param value Any value.
 * @returns `true` if it has all the required methods.
 *
 * @example
 * ```ts
 * import { isQueueBackend } from "./backend.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * console.log(isQueueBackend(new MemoryBackend({ bucketId: 0 })), isQueueBackend({})); // true false
 * ```
 */
export function isQueueBackend(value: unknown): value is QueueBackend {
  return missingBackendMethods(value).length === 0;
}

/**
 * Throw unless a value is a {@linkcode QueueBackend} (duck typing).
 *
 * @param value Any value.
 * @param name The backend name, for the message.
 * @throws {TypeError} Naming the missing methods.
 *
 * @example
 * ```ts
 * import { assertQueueBackend } from "./backend.ts";
 * try { assertQueueBackend({ put() {} }, "broken"); } catch (e) { console.log((e as Error).message); }
 * ```
 */
export function assertQueueBackend(
  value: unknown,
  name = "custom",
): asserts value is QueueBackend {
  const missing = missingBackendMethods(value);
  if (missing.length > 0) {
    throw new TypeError(
      `The backend "${name}" did not produce a queue backend: missing ${missing.join(", ")}`,
    );
  }
}
