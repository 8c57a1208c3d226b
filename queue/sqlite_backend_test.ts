import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openSqliteBackend, SQLITE_FILE_NAME, SQLITE_FORMAT } from "./sqlite_backend.ts";
import { PulsingRuntimeError } from "../core/errors.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const MODULE = new URL("./sqlite_backend.ts", import.meta.url).href;

const tempDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of tempDirs) Deno.removeSync(d, { recursive: true });
});

async function tempDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "pulsing_sqlite_" });
  tempDirs.push(d);
  return d;
}

/** Run a script in a fresh `deno` process; returns its exit code, signal and stdout. */
async function runChild(
  source: string,
  args: string[],
): Promise<{ code: number; signal: string | null; stdout: string; stderr: string }> {
  const dir = await tempDir();
  const file = `${dir}/child.ts`;
  await Deno.writeTextFile(file, source);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, file, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("sqlite: records survive close and reopen; offsets continue", async () => {
  const dir = await tempDir();
  const a = await openSqliteBackend({ bucketId: 2, storagePath: dir });
  await a.put({ id: "a" });
  await a.putBatch([{ id: "b" }, { id: "c" }]);
  await a.close();
  const b = await openSqliteBackend({ bucketId: 2, storagePath: dir });
  assert.equal(b.totalCount(), 3);
  assert.equal(await b.put({ id: "d" }), 3);
  assert.deepEqual((await b.get(0, 10)).map((r) => r.id), ["a", "b", "c", "d"]);
  await b.close();
  await Deno.stat(`${dir}/${SQLITE_FILE_NAME}`);
});

Deno.test("sqlite: committed records survive kill -9 of the writing process", async () => {
  const dir = await tempDir();
  // the child writes, never flushes nor closes, and kills itself with SIGKILL
  const writer = await runChild(
    `import { openSqliteBackend } from "${MODULE}";
    const b = await openSqliteBackend({ bucketId: 0, storagePath: Deno.args[0] });
    for (let i = 0; i < 500; i++) await b.put({ id: i, body: "x".repeat(i % 50) });
    await b.putBatch(Array.from({ length: 500 }, (_, i) => ({ id: 500 + i, tag: new Uint8Array([i & 255]) })));
    console.log(JSON.stringify(await b.stats()));
    Deno.kill(Deno.pid, "SIGKILL");`,
    [dir],
  );
  assert.equal(writer.signal, "SIGKILL", writer.stderr);
  assert.equal(JSON.parse(writer.stdout).totalCount, 1000);
  const b = await openSqliteBackend({ bucketId: 0, storagePath: dir });
  assert.equal(b.totalCount(), 1000);
  const all = await b.get(0, 2000);
  assert.deepEqual(all.map((r) => r.id), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual([...(all[999].tag as Uint8Array)], [499 & 255]);
  await b.put({ id: 1000 });
  await b.flush();
  await b.close();
  // and a third process reads everything back
  const reader = await runChild(
    `import { openSqliteBackend } from "${MODULE}";
    const b = await openSqliteBackend({ bucketId: 0, storagePath: Deno.args[0] });
    const ids = (await b.get(0, 5000)).map((r) => r.id);
    console.log(JSON.stringify({ n: ids.length, last: ids.at(-1) }));
    await b.close();`,
    [dir],
  );
  assert.equal(reader.code, 0, reader.stderr);
  assert.deepEqual(JSON.parse(reader.stdout), { n: 1001, last: 1000 });
});

Deno.test("sqlite: one process owns a storage path; another gets a clear error", async () => {
  const dir = await tempDir();
  const owner = await openSqliteBackend({ bucketId: 0, storagePath: dir });
  await owner.put({ id: 1 });
  const other = await runChild(
    `import { openSqliteBackend } from "${MODULE}";
    try {
      await openSqliteBackend({ bucketId: 0, storagePath: Deno.args[0] });
      console.log("opened");
    } catch (e) {
      console.log(e.name + ": " + e.message);
    }`,
    [dir],
  );
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /^PulsingRuntimeError: .* is in use by another process/);
  await owner.close();
  const again = await openSqliteBackend({ bucketId: 0, storagePath: dir }); // released on close
  assert.equal(again.totalCount(), 1);
  await again.close();
});

Deno.test("sqlite: putBatch is all or nothing (one transaction, rolled back)", async () => {
  const dir = await tempDir();
  const b = await openSqliteBackend({ bucketId: 0, storagePath: dir });
  await b.put({ id: "before" });
  const poisoned = {
    get boom(): never {
      throw new Error("cannot encode record 3");
    },
  };
  const batch = [{ id: 1 }, { id: 2 }, poisoned, { id: 4 }];
  await assert.rejects(b.putBatch(batch), /cannot encode record 3/);
  assert.equal(b.totalCount(), 1);
  assert.deepEqual(await b.get(0, 10), [{ id: "before" }]);
  await assert.rejects(b.put({ s: Symbol("x") } as unknown as Record<string, unknown>));
  assert.equal(await b.put({ id: "after" }), 1);
  await b.close();
  const reopened = await openSqliteBackend({ bucketId: 0, storagePath: dir });
  assert.deepEqual((await reopened.get(0, 10)).map((r) => r.id), ["before", "after"]);
  await reopened.close();
});

Deno.test("sqlite: values round-trip through the msgpack encoding", async () => {
  const b = await openSqliteBackend({ bucketId: 0, storagePath: ":memory:" });
  const record = {
    id: "u1",
    n: 1.5,
    i: -7,
    big: 2n ** 70n,
    small: 5n,
    yes: true,
    nil: null,
    und: undefined,
    text: "héllo 🚀",
    when: new Date(1_700_000_000_000),
    nested: { list: [1, "two", { three: 3 }] },
  };
  await b.put(record);
  await b.put({ bytes: new Uint8Array([0, 1, 255]) });
  const [got, bin] = await b.get(0, 2);
  assert.deepEqual(got, record);
  assert.ok(bin.bytes instanceof Uint8Array);
  assert.deepEqual([...(bin.bytes as Uint8Array)], [0, 1, 255]);
  await b.close();
});

Deno.test("sqlite: flush makes records durable (stats), synchronous full at each commit", async () => {
  const b = await openSqliteBackend({ bucketId: 4, storagePath: await tempDir() });
  await b.putBatch([{ a: 1 }, { a: 2 }, { a: 3 }]);
  let st = await b.stats();
  assert.equal(st.backend, "sqlite");
  assert.equal(st.bucketId, 4);
  assert.deepEqual([st.totalCount, st.bufferSize, st.persistedCount], [3, 3, 0]);
  await b.flush();
  st = await b.stats();
  assert.deepEqual([st.totalCount, st.bufferSize, st.persistedCount], [3, 0, 3]);
  await b.close();

  const f = await openSqliteBackend({
    bucketId: 0,
    storagePath: await tempDir(),
    synchronous: "full",
  });
  await f.put({ a: 1 });
  st = await f.stats();
  assert.deepEqual([st.bufferSize, st.persistedCount], [0, 1]);
  await f.close();
});

Deno.test("sqlite: bad options and foreign files are clear errors", async () => {
  await assert.rejects(openSqliteBackend({ bucketId: 0 }), /needs a storagePath/);
  await assert.rejects(
    openSqliteBackend({ bucketId: 0, storagePath: ":memory:", synchronous: "off" as "full" }),
    TypeError,
  );
  const dir = await tempDir();
  await (await openSqliteBackend({ bucketId: 0, storagePath: dir })).close();
  const db = new DatabaseSync(`${dir}/${SQLITE_FILE_NAME}`);
  db.exec("UPDATE meta SET value = 'pulsing-queue-sqlite/99' WHERE key = 'format'");
  db.close();
  await assert.rejects(
    openSqliteBackend({ bucketId: 0, storagePath: dir }),
    (e: unknown) => e instanceof PulsingRuntimeError && e.message.includes(SQLITE_FORMAT),
  );
});
