/**
 * The `Deno` object the Deno test files see when they run on Node (scripts/node_test.ts
 * injects it into each bundled test with esbuild's `inject`, so it is a module binding, never a
 * global: the library under test still sees no `Deno` at all).
 *
 * `Deno.test` maps to `node:test`: every call form (`(name, fn)`, `(name, options, fn)`,
 * `(fn)`, `({ name, fn, ... })`, `(options, fn)`), `ignore` → skip, `only` → only, and the
 * context's `step` → a subtest. The sanitizer and permission options have no Node meaning and
 * are dropped. A test whose name matches one of the patterns in `globalThis.__pulsingSkip`
 * (set by the runner's banner) is reported as skipped with its reason.
 *
 * Each test keeps the event loop alive while it runs, as Deno's runner does: on Node a
 * pending `AbortSignal.timeout()` timer is unref'd, so a test awaiting only that would end with
 * "Promise resolution is still pending but the event loop has already resolved".
 *
 * Besides `test`, only the small file-system and env helpers some portable tests use are
 * provided; the runner refuses to bundle a test that touches any other `Deno.*` member. The
 * window-style `addEventListener("unload", fn)` some tests use for clean-up is mapped to
 * `process.on("exit")` (the runner `define`s the global to {@linkcode __pulsingAddEventListener}).
 *
 * @module
 */
import { test as nodeTest } from "node:test";
import { mkdtemp, rm, rmdir, stat as fsStat } from "node:fs/promises";
import { rmdirSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Only what the tests' free-port helpers do — `Deno.listen({ port: 0 })`, read `addr.port`,
 * `close()` — which Node cannot do synchronously in-process: a child node binds port 0 and
 * reports it. Anything else throws.
 */
function listen(o = {}) {
  if (o.port !== 0 && o.port !== undefined) {
    throw new Error("node test shim: listen({ port: 0 }) only");
  }
  const hostname = o.hostname ?? "0.0.0.0";
  const script = `const s=require("net").createServer().listen(0,${
    JSON.stringify(hostname)
  },()=>{process.stdout.write(String(s.address().port));s.close()})`;
  const port = Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }));
  const unsupported = () => {
    throw new Error("node test shim: a Deno.listen listener only reports a free port");
  };
  return {
    addr: { transport: "tcp", hostname, port },
    close() {},
    accept: unsupported,
    [Symbol.asyncIterator]: unsupported,
  };
}

/** Patterns of test names to skip on Node, with why: `[RegExp, string][]`. */
function skipReason(name) {
  for (const [re, why] of globalThis.__pulsingSkip ?? []) if (re.test(name)) return why;
  return undefined;
}

function normalize(a, b, c) {
  if (typeof a === "function") return { name: a.name || "(anonymous)", fn: a };
  if (typeof a === "string") {
    return typeof b === "function" ? { name: a, fn: b } : { ...b, name: a, fn: c };
  }
  if (typeof b === "function") return { ...a, name: a.name ?? b.name, fn: b };
  return { ...a };
}

function wrapContext(t, name) {
  return {
    name,
    origin: "node",
    /** Deno's `t.step(name, fn)`, `t.step({ name, fn, ignore })`, `t.step(fn)`. */
    async step(a, b, c) {
      const d = normalize(a, b, c);
      if (d.ignore) {
        await t.test(d.name, { skip: true }, () => {});
        return false;
      }
      let ok = true;
      await t.test(d.name, async (tt) => {
        try {
          await d.fn(wrapContext(tt, d.name));
        } catch (e) {
          ok = false;
          throw e;
        }
      });
      return ok;
    },
  };
}

/** Run `fn` with a ref'd timer holding the event loop open until it settles. */
async function keepingAlive(fn) {
  const keep = setInterval(() => {}, 2 ** 30);
  try {
    return await fn();
  } finally {
    clearInterval(keep);
  }
}

/** `Deno.test` on `node:test`. */
function test(a, b, c) {
  const d = normalize(a, b, c);
  const why = skipReason(d.name);
  const options = {};
  if (d.ignore) options.skip = "ignore: true";
  if (why) options.skip = why;
  if (d.only) options.only = true;
  nodeTest(d.name, options, (t) => keepingAlive(() => d.fn(wrapContext(t, d.name))));
}

class NotFound extends Error {
  name = "NotFound";
}

function mapFsError(e) {
  if (e?.code === "ENOENT") {
    const nf = new NotFound(e.message);
    nf.cause = e;
    return nf;
  }
  return e;
}

/** The shimmed `Deno` namespace. */
export const Deno = {
  test,
  listen,
  env: {
    get: (k) => process.env[k],
    set: (k, v) => {
      process.env[k] = v;
    },
    has: (k) => k in process.env,
    delete: (k) => {
      delete process.env[k];
    },
    toObject: () => ({ ...process.env }),
  },
  errors: { NotFound },
  makeTempDir: (o = {}) => mkdtemp(join(o.dir ?? tmpdir(), o.prefix ?? "")),
  /** Like Deno: a file, an empty folder, or (recursive) a whole tree. */
  remove: async (p, o = {}) => {
    try {
      await rm(p, { recursive: !!o.recursive });
    } catch (e) {
      if (e?.code !== "ERR_FS_EISDIR") throw mapFsError(e);
      await rmdir(p).catch((e2) => {
        throw mapFsError(e2);
      });
    }
  },
  removeSync: (p, o = {}) => {
    try {
      rmSync(p, { recursive: !!o.recursive });
    } catch (e) {
      if (e?.code !== "ERR_FS_EISDIR") throw mapFsError(e);
      try {
        rmdirSync(p);
      } catch (e2) {
        throw mapFsError(e2);
      }
    }
  },
  stat: async (p) => {
    try {
      const s = await fsStat(p);
      return { isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size, mtime: s.mtime };
    } catch (e) {
      throw mapFsError(e);
    }
  },
};

/**
 * `addEventListener` of the window global, as far as tests use it: `unload` runs at process
 * exit; other events are never fired on Node and are ignored.
 */
export function __pulsingAddEventListener(type, fn) {
  if (type === "unload" || type === "beforeunload") process.on("exit", () => fn(new Event(type)));
}
