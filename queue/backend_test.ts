import assert from "node:assert/strict";
import {
  assertQueueBackend,
  type BackendOptions,
  type BackendStats,
  createBackend,
  getBackend,
  isQueueBackend,
  listBackends,
  missingBackendMethods,
  type QueueBackend,
  type QueueRecord,
  registerBackend,
  type StreamOptions,
  unregisterBackend,
  waitForData,
} from "./backend.ts";
import { MemoryBackend } from "./memory_backend.ts";
import { streamRecords } from "./record_stream.ts";
import { PulsingBusinessError, PulsingRuntimeError } from "../core/errors.ts";

/** A custom backend written against the documented protocol only: no waitForData, no close. */
function mapBackend(options: BackendOptions): QueueBackend {
  const rows = new Map<number, QueueRecord>();
  const source = {
    get(offset: number, limit: number): Promise<QueueRecord[]> {
      const out: QueueRecord[] = [];
      for (let i = offset; i < Math.min(rows.size, offset + limit); i++) out.push(rows.get(i)!);
      return Promise.resolve(out);
    },
    // a deliberately naive wait, to show the fallback path works for custom backends
    async waitForData(offset: number, o: { timeout?: number; signal?: AbortSignal } = {}) {
      const deadline = performance.now() + (o.timeout ?? Infinity);
      while (rows.size <= offset) {
        o.signal?.throwIfAborted();
        if (performance.now() >= deadline) return false;
        await new Promise((r) => setTimeout(r, 2));
      }
      return true;
    },
  };
  return {
    put(record) {
      if (record === null || typeof record !== "object" || Array.isArray(record)) {
        return Promise.reject(new TypeError("record must be an object"));
      }
      rows.set(rows.size, record);
      return Promise.resolve(rows.size - 1);
    },
    putBatch(records) {
      if (records.some((r) => r === null || typeof r !== "object" || Array.isArray(r))) {
        return Promise.reject(new TypeError("record must be an object"));
      }
      const first = rows.size;
      for (const r of records) rows.set(rows.size, r);
      return Promise.resolve(first);
    },
    get(offset, limit) {
      if (offset < 0 || limit < 0) return Promise.reject(new RangeError("bad offset/limit"));
      return source.get(offset, limit);
    },
    stream: (offset: number, o?: StreamOptions) => streamRecords(source, offset, o),
    flush: () => Promise.resolve(),
    stats: (): Promise<BackendStats> =>
      Promise.resolve({
        bucketId: options.bucketId,
        backend: "map",
        totalCount: rows.size,
        bufferSize: rows.size,
        persistedCount: 0,
      }),
    totalCount: () => rows.size,
  };
}

interface Subject {
  label: string;
  open(): Promise<QueueBackend>;
}

const tempDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of tempDirs) Deno.removeSync(d, { recursive: true });
});

async function tempDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "pulsing_queue_" });
  tempDirs.push(d);
  return d;
}

const subjects: Subject[] = [
  { label: "memory", open: () => createBackend("memory", { bucketId: 1 }) },
  {
    label: "sqlite :memory:",
    open: () => createBackend("sqlite", { bucketId: 1, storagePath: ":memory:" }),
  },
  {
    label: "sqlite file",
    open: async () => createBackend("sqlite", { bucketId: 1, storagePath: await tempDir() }),
  },
  {
    label: "custom duck-typed",
    open: () => {
      registerBackend("test-map", mapBackend, { replace: true });
      return createBackend("test-map", { bucketId: 1 });
    },
  },
];

async function collect(it: AsyncIterable<QueueRecord[]>): Promise<QueueRecord[][]> {
  const out: QueueRecord[][] = [];
  for await (const batch of it) out.push(batch);
  return out;
}

for (const s of subjects) {
  Deno.test(`${s.label}: put / putBatch / get / totalCount (CRUD)`, async () => {
    const b = await s.open();
    assert.equal(b.totalCount(), 0);
    assert.deepEqual(await b.get(0, 10), []);
    assert.equal(await b.put({ id: "a", n: 1 }), 0);
    assert.equal(await b.put({ id: "b", n: 2 }), 1);
    assert.equal(await b.putBatch([{ id: "c" }, { id: "d" }, { id: "e" }]), 2);
    assert.equal(await b.putBatch([]), 5);
    assert.equal(b.totalCount(), 5);
    assert.deepEqual(await b.get(0, 2), [{ id: "a", n: 1 }, { id: "b", n: 2 }]);
    assert.deepEqual((await b.get(1, 100)).map((r) => r.id), ["b", "c", "d", "e"]);
    assert.deepEqual(await b.get(5, 10), []);
    assert.deepEqual(await b.get(99, 10), []);
    assert.deepEqual(await b.get(0, 0), []);
    // non-destructive: reading again gives the same records
    assert.deepEqual((await b.get(0, 100)).map((r) => r.id), ["a", "b", "c", "d", "e"]);
    await b.flush();
    await b.close?.();
  });

  Deno.test(`${s.label}: bad records and ranges are rejected, nothing stored`, async () => {
    const b = await s.open();
    for (const bad of [null, [1], "x", 5]) {
      await assert.rejects(b.put(bad as unknown as QueueRecord), TypeError);
    }
    await assert.rejects(
      b.putBatch([{ id: 1 }, null as unknown as QueueRecord, { id: 3 }]),
      TypeError,
    );
    assert.equal(b.totalCount(), 0);
    await assert.rejects(b.get(-1, 10), RangeError);
    await assert.rejects(b.get(0, -1), RangeError);
    await b.close?.();
  });

  Deno.test(`${s.label}: stream without wait yields batches then ends`, async () => {
    const b = await s.open();
    await b.putBatch(Array.from({ length: 250 }, (_, i) => ({ i })));
    const all = await collect(b.stream(0, { wait: false }));
    assert.deepEqual(all.map((x) => x.length), [100, 100, 50]); // ≤ 100 per batch by default
    const part = await collect(b.stream(10, { wait: false, batchSize: 7, limit: 20 }));
    assert.deepEqual(part.map((x) => x.length), [7, 7, 6]);
    assert.deepEqual(part.flat().map((r) => r.i), Array.from({ length: 20 }, (_, i) => i + 10));
    assert.deepEqual(await collect(b.stream(250, { wait: false })), []);
    await b.close?.();
  });

  Deno.test(`${s.label}: stream waits for new data (notify) until the limit`, async () => {
    const b = await s.open();
    const got = collect(b.stream(0, { limit: 5, timeout: 5000 }));
    await new Promise((r) => setTimeout(r, 20));
    await b.put({ i: 0 });
    await new Promise((r) => setTimeout(r, 20));
    await b.putBatch([{ i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }, { i: 5 }]);
    assert.deepEqual((await got).flat().map((r) => r.i), [0, 1, 2, 3, 4]);
    await b.close?.();
  });

  Deno.test(`${s.label}: stream and waitForData time out empty`, async () => {
    const b = await s.open();
    let t0 = performance.now();
    assert.deepEqual(await collect(b.stream(0, { timeout: 300 })), []);
    assert.ok(performance.now() - t0 >= 250, "returned before the timeout");
    t0 = performance.now();
    assert.equal(await waitForData(b, 0, { timeout: 200 }), false);
    assert.ok(performance.now() - t0 >= 150);
    await b.put({ x: 1 });
    assert.equal(await waitForData(b, 0, { timeout: 200 }), true);
    await b.close?.();
  });

  Deno.test(`${s.label}: an abort signal ends a waiting stream with its reason`, async () => {
    const b = await s.open();
    const ac = new AbortController();
    const got = collect(b.stream(0, { signal: ac.signal }));
    setTimeout(() => ac.abort(new Error("reader gone")), 30);
    await assert.rejects(got, /reader gone/);
    await assert.rejects(waitForData(b, 0, { signal: AbortSignal.abort(new Error("x")) }), /x/);
    await b.close?.();
  });

  Deno.test(`${s.label}: stats shape`, async () => {
    const b = await s.open();
    await b.putBatch([{ a: 1 }, { a: 2 }]);
    const st = await b.stats();
    assert.equal(st.bucketId, 1);
    assert.equal(st.totalCount, 2);
    assert.equal(typeof st.backend, "string");
    assert.equal(st.bufferSize + st.persistedCount >= 2, true);
    await b.close?.();
  });
}

for (const s of subjects.filter((x) => !x.label.startsWith("custom"))) {
  Deno.test(`${s.label}: close ends waits; calls after close fail; idempotent`, async () => {
    const b = await s.open();
    const waiting = b.waitForData!(0);
    const streaming = collect(b.stream(0));
    await b.close!();
    assert.equal(await waiting, false);
    assert.deepEqual(await streaming, []);
    await assert.rejects(b.put({ x: 1 }), PulsingRuntimeError);
    await assert.rejects(b.putBatch([{ x: 1 }]), /closed/);
    await assert.rejects(b.get(0, 1), /closed/);
    await b.close!();
  });

  Deno.test(`${s.label}: stress: 10,000 records, 8 putters, 4 readers`, async () => {
    const b = await s.open();
    const total = 10_000, putters = 8, perPutter = total / putters;
    const readers = Array.from(
      { length: 4 },
      (_, r) => collect(b.stream(0, { limit: total, timeout: 10_000, batchSize: 37 + r })),
    );
    const batchesOf = new Map<string, number>(); // "p:seq" -> batch id, to check contiguity
    const firstOf = new Map<number, string>(); // batch id -> its first "p:seq"
    let batchId = 0;
    await Promise.all(Array.from({ length: putters }, async (_, p) => {
      let seq = 0;
      while (seq < perPutter) {
        if ((seq + p) % 3 === 0) {
          await b.put({ p, seq: seq++ });
        } else {
          const n = Math.min(perPutter - seq, 1 + ((seq * 7 + p) % 40));
          const batch = Array.from({ length: n }, () => ({ p, seq: seq++ }));
          const id = batchId++;
          for (const r of batch) batchesOf.set(`${r.p}:${r.seq}`, id);
          firstOf.set(id, `${p}:${batch[0].seq}`);
          await b.putBatch(batch);
        }
        if (seq % 50 === 0) await new Promise((r) => setTimeout(r, 0));
      }
    }));
    assert.equal(b.totalCount(), total);
    const log = await b.get(0, total + 1);
    assert.equal(log.length, total);
    // no loss, no duplicates
    assert.equal(new Set(log.map((r) => `${r.p}:${r.seq}`)).size, total);
    // per-putter order preserved
    const last = new Array<number>(putters).fill(-1);
    for (const r of log) {
      assert.equal(r.seq, last[r.p as number] + 1);
      last[r.p as number] = r.seq as number;
    }
    // a batch is contiguous in the log
    for (let i = 1; i < log.length; i++) {
      const prev = batchesOf.get(`${log[i - 1].p}:${log[i - 1].seq}`);
      const cur = batchesOf.get(`${log[i].p}:${log[i].seq}`);
      if (cur !== undefined && cur !== prev) {
        // a batch starts here, so this must be its first record
        assert.equal(`${log[i].p}:${log[i].seq}`, firstOf.get(cur));
      }
    }
    // every concurrent reader saw exactly the log, in order
    for (const got of await Promise.all(readers)) {
      assert.deepEqual(got.flat(), log);
    }
    await b.close!();
  });
}

Deno.test("registry: built-ins listed first, registrations after, in order", () => {
  const before = listBackends();
  assert.deepEqual(before.slice(0, 2), ["memory", "sqlite"]);
  registerBackend("reg-a", mapBackend);
  registerBackend("reg-b", mapBackend);
  const after = listBackends();
  assert.deepEqual(after.slice(-2), ["reg-a", "reg-b"]);
  assert.equal(unregisterBackend("reg-a"), true);
  assert.equal(unregisterBackend("reg-b"), true);
  assert.equal(unregisterBackend("reg-b"), false);
  assert.deepEqual(listBackends(), before);
});

Deno.test("registry: unknown name is a PulsingBusinessError 404 listing what exists", async () => {
  assert.throws(() => getBackend("nope"), PulsingBusinessError);
  await assert.rejects(createBackend("nope", { bucketId: 0 }), (err: unknown) => {
    assert.ok(err instanceof PulsingBusinessError);
    assert.equal(err.code, 404);
    assert.match(err.message, /Unknown backend: "nope"\. Available: "memory", "sqlite"/);
    assert.deepEqual((err.details as { available: string[] }).available, listBackends());
    return true;
  });
});

Deno.test("registry: duplicate name is a PulsingBusinessError 409 unless replace", () => {
  registerBackend("dup", mapBackend);
  try {
    assert.throws(() => registerBackend("dup", mapBackend), (err: unknown) => {
      assert.ok(err instanceof PulsingBusinessError);
      assert.equal(err.code, 409);
      assert.match(err.message, /already registered/);
      return true;
    });
    assert.throws(() => registerBackend("memory", mapBackend), { code: 409 });
    registerBackend("dup", (o) => new MemoryBackend(o), { replace: true });
    assert.ok(getBackend("dup")({ bucketId: 0 }) instanceof MemoryBackend);
  } finally {
    unregisterBackend("dup");
  }
});

Deno.test("registry: bad names and factories are TypeErrors", () => {
  assert.throws(() => registerBackend("", mapBackend), TypeError);
  assert.throws(() => registerBackend(5 as unknown as string, mapBackend), TypeError);
  assert.throws(() => registerBackend("x", {} as unknown as typeof mapBackend), TypeError);
  assert.throws(() => getBackend(undefined as unknown as string), TypeError);
});

Deno.test("registry: a registration shadows a built-in; unregister restores it", async () => {
  registerBackend("memory", mapBackend, { replace: true });
  try {
    assert.equal((await (await createBackend("memory", { bucketId: 0 })).stats()).backend, "map");
  } finally {
    unregisterBackend("memory");
  }
  assert.equal((await (await createBackend("memory", { bucketId: 0 })).stats()).backend, "memory");
  assert.deepEqual(listBackends().filter((n) => n === "memory"), ["memory"]);
});

Deno.test("registry: a class is accepted and constructed with the options", async () => {
  class Tagged extends MemoryBackend {
    tag: string;
    constructor(o: BackendOptions) {
      super(o);
      this.tag = String(o.tag);
    }
  }
  registerBackend("tagged", Tagged);
  try {
    const b = await createBackend("tagged", { bucketId: 7, tag: "hi" });
    assert.ok(b instanceof Tagged);
    assert.equal(b.tag, "hi");
    assert.equal(b.bucketId, 7);
  } finally {
    unregisterBackend("tagged");
  }
});

Deno.test("duck typing: missing members are named; a non-backend factory fails clearly", async () => {
  assert.deepEqual(missingBackendMethods({ put() {}, get() {} }), [
    "putBatch",
    "stream",
    "flush",
    "stats",
    "totalCount",
  ]);
  assert.equal(missingBackendMethods(null).length, 7);
  assert.equal(isQueueBackend(new MemoryBackend()), true);
  assert.equal(isQueueBackend(mapBackend({ bucketId: 0 })), true);
  assert.equal(isQueueBackend({ ...mapBackend({ bucketId: 0 }), flush: 1 }), false);
  assert.throws(() => assertQueueBackend({}, "empty"), /"empty" .*missing put, putBatch/);
  registerBackend("broken", () => ({ put: () => Promise.resolve(0) }) as unknown as QueueBackend);
  try {
    await assert.rejects(createBackend("broken", { bucketId: 0 }), /missing putBatch, get/);
  } finally {
    unregisterBackend("broken");
  }
});

Deno.test("waitForData helper: uses the backend's own wait or falls back to stream", async () => {
  const custom = mapBackend({ bucketId: 0 });
  assert.equal(custom.waitForData, undefined);
  setTimeout(() => custom.put({ x: 1 }), 20);
  assert.equal(await waitForData(custom, 0, { timeout: 2000 }), true);
  assert.equal(await waitForData(custom, 5, { timeout: 30 }), false);
});
