/**
 * The durable queue backend (`"sqlite"`), on the SQLite built into the runtime (`node:sqlite`,
 * `DatabaseSync`): Deno ≥ 2.2 and Node ≥ 22.5 (22.5–22.12 need `--experimental-sqlite`). On a
 * runtime without it (Node 20, browsers) opening a backend fails with a
 * {@linkcode PulsingUnsupportedError}; importing this module never fails, because `node:sqlite`
 * and `node:fs` are loaded only when a backend is opened.
 *
 * ## Storage
 *
 * One database per bucket: `<storagePath>/queue.sqlite3` (the directory is created), with
 * `records(seq INTEGER PRIMARY KEY, data BLOB)` holding each record encoded with msgpack
 * (`msgpackr`, no records extension, bigint extension: strings, numbers, bigints, booleans,
 * `null`, `undefined`, `Uint8Array`, `Date`, arrays and nested objects round-trip; a
 * `Uint8Array` may come back as a Node `Buffer`, which is a `Uint8Array`), and
 * `meta(key, value)` holding the format version (`pulsing-queue-sqlite/1`).
 * `storagePath: ":memory:"` keeps the database in memory (tests, benchmarks).
 *
 * ## Durability
 *
 * - `journal_mode=WAL`: every `put` is one committed transaction, every `putBatch` one
 *   transaction (all or nothing). A committed record survives the process being killed
 *   (`kill -9`) and is read back by the next process that opens the same storage path.
 * - `synchronous=NORMAL` (default): commits are not fsynced, so an OS crash or power loss may
 *   lose the records committed since the last {@linkcode SqliteBackend.flush}. `flush()` runs a
 *   WAL checkpoint, which fsyncs the WAL and the database: after it returns, every record put
 *   before it survives a power loss. `close()` flushes too.
 * - `synchronous: "full"` fsyncs every commit (every record durable when `put` returns;
 *   slower).
 * - `locking_mode=EXCLUSIVE`: one process owns a storage path at a time. A second process
 *   opening it fails with a {@linkcode PulsingRuntimeError} ("in use"), instead of two writers
 *   interleaving offsets. The lock goes with the process, however it ends.
 *
 * `node:sqlite` is synchronous: each call runs to completion on the event loop (a 10,000-record
 * batch blocks it for a few milliseconds), which is also what makes concurrent async callers
 * safe without locks.
 *
 * @module
 */

import { once } from "../core/runtime.ts";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Packr } from "msgpackr/pack";
import type { Unpackr } from "msgpackr/unpack";
import { PulsingRuntimeError, PulsingUnsupportedError } from "../core/errors.ts";
import type {
  BackendOptions,
  BackendStats,
  QueueBackend,
  QueueRecord,
  StreamOptions,
} from "./backend.ts";
import { DataWaiters, type WaitOptions } from "./data_waiters.ts";
import { streamRecords } from "./record_stream.ts";
import { assertCount, assertRecord, assertRecords, closedError } from "./_backend_util.ts";

/** Options of the sqlite backend (the entries of the queue's `backendOptions`). */
export interface SqliteBackendOptions extends BackendOptions {
  /** The bucket's directory (created if missing), or `":memory:"`. Required. */
  storagePath?: string;
  /** `"normal"` (default): durable on `flush()`; `"full"`: every commit fsynced. */
  synchronous?: "normal" | "full";
}

/** The storage format written in the `meta` table. */
export const SQLITE_FORMAT = "pulsing-queue-sqlite/1";
/** The database file inside the storage directory. */
export const SQLITE_FILE_NAME = "queue.sqlite3";

// The record codec (npm `msgpackr`) is loaded with the first sqlite bucket, not at import: a
// node that never opens one does not load an npm package (on Deno that starts the npm/Node
// compatibility layer: ~1.2 MB of heap and a few ms of startup for every process).
let packr: Packr;
let unpackr: Unpackr;

const loadCodec = once(async () => {
  const [p, u] = await Promise.all([import("msgpackr/pack"), import("msgpackr/unpack")]);
  packr = new p.Packr({ useRecords: false, useBigIntExtension: true });
  unpackr = new u.Unpackr({ useRecords: false });
});

const loadSqlite = once(() =>
  import("node:sqlite").catch((e: unknown) => {
    throw new PulsingUnsupportedError(
      "the sqlite queue backend: node:sqlite is not available in this runtime " +
        "(it needs Deno >= 2.2 or Node >= 22.5; Node 22.5-22.12 need --experimental-sqlite). " +
        'Use the "memory" backend or register your own.',
      { cause: e },
    );
  })
);

/**
 * The sqlite backend of one bucket. Open it with {@linkcode openSqliteBackend} (or
 * `SqliteBackend.open`).
 *
 * @example
 * ```ts
 * import { openSqliteBackend } from "./sqlite_backend.ts";
 * const dir = await Deno.makeTempDir();
 * const b = await openSqliteBackend({ bucketId: 0, storagePath: dir });
 * await b.putBatch([{ id: "a" }, { id: "b" }]);
 * await b.flush();  // durable even across a power loss
 * await b.close();
 * const again = await openSqliteBackend({ bucketId: 0, storagePath: dir });
 * console.log(await again.get(0, 10)); // [{ id: "a" }, { id: "b" }]
 * await again.close();
 * ```
 */
export class SqliteBackend implements QueueBackend {
  /** The bucket served. */
  readonly bucketId: number;
  /** The storage directory (or `":memory:"`). */
  readonly storagePath: string;
  #db: DatabaseSync;
  #insert: StatementSync;
  #select: StatementSync;
  #count: number;
  #durable: number;
  #full: boolean;
  #closed = false;
  #waiters: DataWaiters = new DataWaiters(() => this.#count);

  private constructor(db: DatabaseSync, options: SqliteBackendOptions, storagePath: string) {
    this.bucketId = options.bucketId;
    this.storagePath = storagePath;
    this.#db = db;
    this.#full = options.synchronous === "full";
    this.#insert = db.prepare("INSERT INTO records (seq, data) VALUES (?, ?)");
    this.#select = db.prepare(
      "SELECT data FROM records WHERE seq >= ? AND seq < ? ORDER BY seq",
    );
    const row = db.prepare("SELECT COALESCE(MAX(seq) + 1, 0) AS n FROM records").get() as {
      n: number;
    };
    this.#count = Number(row.n);
    this.#durable = this.#count;
  }

  /**
   * Open (or create) the database of one bucket.
   *
   * @param options `bucketId`, `storagePath` (required), `synchronous`.
   * @returns The backend, holding every record stored there before.
   * @throws {PulsingUnsupportedError} If the runtime has no `node:sqlite`.
   * @throws {TypeError} If `storagePath` is missing or `synchronous` is invalid.
   * @throws {PulsingRuntimeError} If another process holds the storage path, or it holds
   * another format.
   */
  static async open(options: SqliteBackendOptions): Promise<SqliteBackend> {
    const { storagePath, synchronous = "normal" } = options;
    if (typeof storagePath !== "string" || storagePath.length === 0) {
      throw new TypeError(
        'The sqlite backend needs a storagePath (a directory, or ":memory:")',
      );
    }
    if (synchronous !== "normal" && synchronous !== "full") {
      throw new TypeError(`synchronous must be "normal" or "full", got ${String(synchronous)}`);
    }
    const [{ DatabaseSync }] = await Promise.all([loadSqlite(), loadCodec()]);
    let file = storagePath;
    if (storagePath !== ":memory:") {
      const fs = await import("node:fs");
      fs.mkdirSync(storagePath, { recursive: true });
      file = `${storagePath.replace(/[\\/]+$/, "")}/${SQLITE_FILE_NAME}`;
    }
    const db = new DatabaseSync(file);
    try {
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
      db.exec(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);" +
          "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);",
      );
      db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)").run(
        SQLITE_FORMAT,
      );
      db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('bucket_id', ?)").run(
        String(options.bucketId),
      );
      const format = db.prepare("SELECT value FROM meta WHERE key = 'format'").get() as {
        value: string;
      };
      if (format.value !== SQLITE_FORMAT) {
        throw new PulsingRuntimeError(
          `${file} holds format "${format.value}", this version reads "${SQLITE_FORMAT}"`,
        );
      }
      if (storagePath !== ":memory:") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      return new SqliteBackend(db, options, storagePath);
    } catch (e) {
      db.close();
      if (e instanceof PulsingRuntimeError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      if (/locked|busy/i.test(msg)) {
        throw new PulsingRuntimeError(
          `The sqlite queue storage ${file} is in use by another process ` +
            "(one process owns a storage path at a time)",
          { cause: e },
        );
      }
      throw new PulsingRuntimeError(`Cannot open the sqlite queue storage ${file}: ${msg}`, {
        cause: e,
      });
    }
  }

  /** Append one record (one transaction); returns its offset. */
  put(record: QueueRecord): Promise<number> {
    try {
      this.#open();
      assertRecord(record, "put");
      const offset = this.#count;
      this.#insert.run(offset, packr.pack(record));
      this.#count = offset + 1;
      if (this.#full) this.#durable = this.#count;
      this.#waiters.notify();
      return Promise.resolve(offset);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Append records in one transaction, all or nothing; returns the offset of the first. */
  putBatch(records: readonly QueueRecord[]): Promise<number> {
    try {
      this.#open();
      assertRecords(records, "putBatch");
      const first = this.#count;
      if (records.length === 0) return Promise.resolve(first);
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        for (let i = 0; i < records.length; i++) {
          this.#insert.run(first + i, packr.pack(records[i]));
        }
        this.#db.exec("COMMIT");
      } catch (e) {
        this.#db.exec("ROLLBACK"); // all or nothing: none of the batch is stored
        throw e;
      }
      this.#count = first + records.length;
      if (this.#full) this.#durable = this.#count;
      this.#waiters.notify();
      return Promise.resolve(first);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Up to `limit` records from `offset`. */
  get(offset: number, limit: number): Promise<QueueRecord[]> {
    try {
      this.#open();
      assertCount(offset, "offset");
      assertCount(limit, "limit");
      const end = Math.min(this.#count, offset + limit);
      if (offset >= end) return Promise.resolve([]);
      const rows = this.#select.all(offset, end) as { data: Uint8Array }[];
      return Promise.resolve(rows.map((r) => unpackr.unpack(r.data) as QueueRecord));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Batches from `offset`, waiting for new records when caught up (see `StreamOptions`). */
  stream(offset: number, options?: StreamOptions): AsyncGenerator<QueueRecord[], void, undefined> {
    return streamRecords(this, offset, options);
  }

  /** Resolve `true` once there is a record at `offset`; `false` on timeout or close. */
  waitForData(offset: number, options?: WaitOptions): Promise<boolean> {
    return this.#waiters.wait(offset, options);
  }

  /** Checkpoint the WAL with fsync: every record put so far survives a power loss. */
  flush(): Promise<void> {
    try {
      this.#open();
      if (this.storagePath !== ":memory:") {
        const r = this.#db.prepare("PRAGMA wal_checkpoint(FULL)").get() as { busy: number };
        if (r.busy !== 0) throw new PulsingRuntimeError("sqlite checkpoint was blocked");
      }
      this.#durable = this.#count;
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** `{ bucketId, backend: "sqlite", totalCount, bufferSize, persistedCount, storagePath }`. */
  stats(): Promise<BackendStats> {
    return Promise.resolve({
      bucketId: this.bucketId,
      backend: "sqlite",
      totalCount: this.#count,
      bufferSize: this.#count - this.#durable,
      persistedCount: this.#durable,
      storagePath: this.storagePath,
    });
  }

  /** Records stored (the next offset). */
  totalCount(): number {
    return this.#count;
  }

  /** Checkpoint, close the database (releasing the storage path) and end every wait. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#waiters.close();
    try {
      this.#db.close();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #open(): void {
    if (this.#closed) throw closedError("sqlite", this.bucketId);
  }
}

/**
 * The factory of the `"sqlite"` backend: open (or create) the database of one bucket.
 *
 * @param options `bucketId`, `storagePath` (required; a directory or `":memory:"`),
 * `synchronous` (`"normal"` or `"full"`).
 * @returns The backend.
 * @throws {PulsingUnsupportedError} If the runtime has no `node:sqlite` (Node < 22.5).
 * @throws {TypeError} If `storagePath` is missing.
 * @throws {PulsingRuntimeError} If another process holds the storage path.
 *
 * @example
 * ```ts
 * import { openSqliteBackend } from "./sqlite_backend.ts";
 * const b = await openSqliteBackend({ bucketId: 0, storagePath: ":memory:" });
 * console.log(await b.put({ id: 1 })); // 0
 * await b.close();
 * ```
 */
export function openSqliteBackend(options: SqliteBackendOptions): Promise<SqliteBackend> {
  return SqliteBackend.open(options);
}
