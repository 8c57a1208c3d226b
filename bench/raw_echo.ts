/**
 * The physical floor: a raw length-prefixed TCP echo on `Deno.listen` / `Deno.connect`,
 * run as separate server and client processes on 127.0.0.1.
 *
 * Frame: `u32 BE length (= 1 + body) | u8 type | body`.
 * - `ECHO` (0): the server sends the same frame back.
 * - `ACK` (1): the server answers with an `ACK` frame whose body is the u32 body length
 *   (used for 1 MiB / 16 MiB payloads: the floor of an ask carrying a big `Uint8Array`).
 * - `STREAM_OPEN` (2, body `u32 count | u32 window`): the server pushes `count` `ITEM` (3)
 *   frames, each a small UTF-8 string, then `END` (5). It never has more than the granted
 *   credit outstanding; the client grants more with `CREDIT` (4, body `u32 n`) once half
 *   the window is consumed — the credit-based flow control an RPC stream uses.
 *
 * Both sides `setNoDelay(true)`, read with `conn.read` into one reused (growable) buffer and
 * batch writes: everything produced while handling one read goes out in one `write`.
 * Big payloads are written as header + body, never concatenated.
 *
 * Usage:
 * ```sh
 * deno run -A bench/raw_echo.ts server [--port 0]          # prints {"ready":true,"port":N}
 * deno run -A bench/raw_echo.ts client --port N [--kinds pingpong,pipeline] [--quick]
 * deno run -A bench/raw_echo.ts join-observer --port N     # polls until a server answers
 * ```
 * The client prints one JSON line per kind ({@link KindResult}).
 *
 * @module
 */

import {
  FULL_WORKLOAD,
  type Kind,
  type KindResult,
  KINDS,
  parseFlags,
  QUICK_WORKLOAD,
  SHORT_STREAM_ITEMS,
  SHORT_STREAMS,
  type Workload,
} from "./_workload.ts";
import { median, percentiles, wallMs } from "./_stats.ts";

/** Frame type: echo the body. */
export const T_ECHO = 0;
/** Frame type: reply with the u32 body length. */
export const T_ACK = 1;
/** Frame type: open a server→client stream (`u32 count | u32 window`). */
export const T_STREAM_OPEN = 2;
/** Frame type: one stream item (UTF-8 string). */
export const T_ITEM = 3;
/** Frame type: grant `u32 n` more items of credit. */
export const T_CREDIT = 4;
/** Frame type: end of stream. */
export const T_END = 5;

const HOST = "127.0.0.1";
const MAX_FRAME = 64 * 1024 * 1024;

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(off === 0 ? data : data.subarray(off));
}

/** Reads frames from a connection into one reused, growable buffer. */
export class FrameReader {
  /** Current read buffer. */
  buf: Uint8Array;
  #dv: DataView;
  #start = 0;
  #end = 0;
  /** Type of the frame returned by the last successful {@link next}. */
  type = 0;
  /** Body start offset (in {@link buf}) of the last frame. */
  bodyStart = 0;
  /** Body end offset (exclusive) of the last frame. */
  bodyEnd = 0;

  /**
   * Creates a reader over one connection.
   *
   * @param conn the connection to read from
   * @param initial initial buffer size (grows to fit the largest frame)
   */
  constructor(private readonly conn: Deno.Conn, initial = 256 * 1024) {
    this.buf = new Uint8Array(initial);
    this.#dv = new DataView(this.buf.buffer);
  }

  /** Parses the next complete frame already buffered; false when more bytes are needed. */
  next(): boolean {
    const avail = this.#end - this.#start;
    if (avail < 5) return false;
    const len = this.#dv.getUint32(this.#start);
    if (len < 1 || len > MAX_FRAME) throw new Error(`bad frame length ${len}`);
    if (avail < 4 + len) return false;
    this.type = this.buf[this.#start + 4];
    this.bodyStart = this.#start + 5;
    this.bodyEnd = this.#start + 4 + len;
    this.#start = this.bodyEnd;
    return true;
  }

  /** Body of the last frame as a view (valid until the next {@link fill}). */
  body(): Uint8Array {
    return this.buf.subarray(this.bodyStart, this.bodyEnd);
  }

  /** u32 at the start of the last frame's body. */
  bodyU32(): number {
    return this.#dv.getUint32(this.bodyStart);
  }

  /** Reads more bytes; false on EOF. Keeps a partial frame contiguous. */
  async fill(): Promise<boolean> {
    this.#makeRoom();
    const n = await this.conn.read(this.buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  #makeRoom(): void {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    }
    const live = this.#end - this.#start;
    let need = 5;
    if (live >= 4) {
      const len = this.#dv.getUint32(this.#start);
      if (len > MAX_FRAME) throw new Error(`frame too large: ${len}`);
      need = 4 + len;
    }
    const required = Math.max(need, live + 1);
    if (this.buf.length - this.#start >= required && this.#end < this.buf.length) return;
    if (required <= this.buf.length) {
      this.buf.copyWithin(0, this.#start, this.#end);
    } else {
      const nb = new Uint8Array(Math.max(required, this.buf.length * 2));
      nb.set(this.buf.subarray(this.#start, this.#end));
      this.buf = nb;
      this.#dv = new DataView(nb.buffer);
    }
    this.#start = 0;
    this.#end = live;
  }
}

/** Accumulates small frames and writes them with one `write` per {@link flush}. */
export class BatchWriter {
  #out: Uint8Array;
  #dv: DataView;
  #len = 0;
  #spare: Uint8Array | null;
  #tail: Promise<void> = Promise.resolve();
  #enc = new TextEncoder();

  /**
   * Creates a writer over one connection.
   *
   * @param conn the connection to write to
   * @param initial initial batch buffer size (grows when needed)
   */
  constructor(private readonly conn: Deno.Conn, initial = 64 * 1024) {
    this.#out = new Uint8Array(initial);
    this.#dv = new DataView(this.#out.buffer);
    this.#spare = new Uint8Array(initial);
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#out.length) return;
    const nb = new Uint8Array(Math.max(this.#len + n, this.#out.length * 2));
    nb.set(this.#out.subarray(0, this.#len));
    this.#out = nb;
    this.#dv = new DataView(nb.buffer);
  }

  /** Appends a frame whose body is copied from `src[start, end)`. */
  frame(type: number, src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.#reserve(5 + n);
    this.#dv.setUint32(this.#len, 1 + n);
    this.#out[this.#len + 4] = type;
    this.#out.set(src.subarray(start, end), this.#len + 5);
    this.#len += 5 + n;
  }

  /** Appends a frame with a u32 body. */
  frameU32(type: number, value: number): void {
    this.#reserve(9);
    this.#dv.setUint32(this.#len, 5);
    this.#out[this.#len + 4] = type;
    this.#dv.setUint32(this.#len + 5, value);
    this.#len += 9;
  }

  /** Appends a frame with an empty body. */
  frameEmpty(type: number): void {
    this.#reserve(5);
    this.#dv.setUint32(this.#len, 1);
    this.#out[this.#len + 4] = type;
    this.#len += 5;
  }

  /** Appends a frame whose body is the UTF-8 encoding of `s`. */
  frameString(type: number, s: string): void {
    this.#reserve(5 + s.length * 3);
    const { written } = this.#enc.encodeInto(s, this.#out.subarray(this.#len + 5));
    this.#dv.setUint32(this.#len, 1 + written);
    this.#out[this.#len + 4] = type;
    this.#len += 5 + written;
  }

  /** Writes everything appended so far in one write (serialised after earlier flushes). */
  flush(): Promise<void> {
    if (this.#len === 0) return this.#tail;
    const data = this.#out;
    const n = this.#len;
    this.#out = this.#spare && this.#spare.length >= 4096
      ? this.#spare
      : new Uint8Array(data.length);
    this.#dv = new DataView(this.#out.buffer);
    this.#spare = null;
    this.#len = 0;
    this.#tail = this.#tail.then(async () => {
      await writeAll(this.conn, data.subarray(0, n));
      this.#spare = data;
    });
    return this.#tail;
  }
}

// ---------------------------------------------------------------------------------------------
// Server

interface StreamState {
  credit: number;
  wake: (() => void) | null;
}

async function produceStream(
  w: BatchWriter,
  count: number,
  st: StreamState,
): Promise<void> {
  let i = 0;
  while (i < count) {
    if (st.credit === 0) {
      await new Promise<void>((res) => (st.wake = res));
      st.wake = null;
      continue;
    }
    const n = Math.min(st.credit, count - i, 1024);
    for (let k = 0; k < n; k++, i++) w.frameString(T_ITEM, `item-${i}`);
    st.credit -= n;
    await w.flush();
  }
  w.frameEmpty(T_END);
  await w.flush();
}

async function serveConn(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const r = new FrameReader(conn);
  const w = new BatchWriter(conn);
  let stream: StreamState | null = null;
  try {
    while (await r.fill()) {
      while (r.next()) {
        switch (r.type) {
          case T_ECHO:
            w.frame(T_ECHO, r.buf, r.bodyStart, r.bodyEnd);
            break;
          case T_ACK:
            w.frameU32(T_ACK, r.bodyEnd - r.bodyStart);
            break;
          case T_STREAM_OPEN: {
            const count = r.bodyU32();
            const window = new DataView(r.buf.buffer, r.bodyStart + 4, 4).getUint32(0);
            const st: StreamState = { credit: window, wake: null };
            stream = st;
            produceStream(w, count, st).catch(() => conn.close());
            break;
          }
          case T_CREDIT:
            if (stream) {
              stream.credit += r.bodyU32();
              stream.wake?.();
            }
            break;
          default:
            throw new Error(`unknown frame type ${r.type}`);
        }
      }
      await w.flush();
    }
  } catch {
    // connection reset or bad input: drop this connection only
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

async function runServer(port: number, maxLifeMs: number, watchStdin: boolean): Promise<void> {
  const listener = Deno.listen({ hostname: HOST, port });
  const addr = listener.addr as Deno.NetAddr;
  console.log(JSON.stringify({ ready: true, port: addr.port, pid: Deno.pid }));
  // Exit after maxLifeMs, and (with --watch-stdin) when the parent closes our stdin, so no
  // orphan survives an orchestrator that died.
  const stop = () => {
    try {
      listener.close();
    } catch { /* closed */ }
    Deno.exit(0);
  };
  setTimeout(stop, maxLifeMs);
  if (watchStdin) {
    (async () => {
      const b = new Uint8Array(64);
      try {
        while ((await Deno.stdin.read(b)) !== null) { /* ignore */ }
      } catch { /* no stdin */ }
      stop();
    })();
  }
  for await (const conn of listener) serveConn(conn);
}

// ---------------------------------------------------------------------------------------------
// Client

async function connect(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: HOST, port });
  conn.setNoDelay(true);
  return conn;
}

function frameBytes(type: number, body: Uint8Array): Uint8Array {
  const f = new Uint8Array(5 + body.length);
  new DataView(f.buffer).setUint32(0, 1 + body.length);
  f[4] = type;
  f.set(body, 5);
  return f;
}

async function expectFrame(r: FrameReader): Promise<number> {
  while (!r.next()) {
    if (!(await r.fill())) throw new Error("server closed the connection");
  }
  return r.type;
}

async function pingpong(port: number, wl: Workload): Promise<Record<string, number>> {
  const conn = await connect(port);
  const r = new FrameReader(conn, 64 * 1024);
  const frame = frameBytes(T_ECHO, new Uint8Array(wl.tinyBytes).fill(7));
  const samples = new Float64Array(wl.pingpongIters);
  try {
    for (let i = 0; i < wl.pingpongWarmup; i++) {
      await writeAll(conn, frame);
      await expectFrame(r);
    }
    for (let i = 0; i < wl.pingpongIters; i++) {
      const t = performance.now();
      await writeAll(conn, frame);
      await expectFrame(r);
      samples[i] = performance.now() - t;
    }
  } finally {
    conn.close();
  }
  const [p50, p99] = percentiles(samples, [50, 99]);
  let sum = 0;
  for (const s of samples) sum += s;
  return { p50_us: p50 * 1000, p99_us: p99 * 1000, mean_us: (sum / samples.length) * 1000 };
}

async function pipeline(port: number, wl: Workload): Promise<Record<string, number>> {
  const conn = await connect(port);
  const r = new FrameReader(conn, 256 * 1024);
  const one = frameBytes(T_ECHO, new Uint8Array(wl.tinyBytes).fill(7));
  const k = wl.pipelineInflight;
  const batch = new Uint8Array(one.length * k);
  for (let i = 0; i < k; i++) batch.set(one, i * one.length);
  let done = 0;
  let inflight = k;
  let measuring = false;
  let doneAtStart = 0;
  let measured = 0;
  let tStart = 0;
  let tEnd = 0;
  const t0 = performance.now();
  try {
    await writeAll(conn, batch);
    let sending = true;
    while (inflight > 0) {
      if (!(await r.fill())) throw new Error("server closed the connection");
      let got = 0;
      while (r.next()) got++;
      done += got;
      inflight -= got;
      const now = performance.now();
      if (!measuring && now - t0 >= wl.pipelineWarmupMs) {
        measuring = true;
        tStart = now;
        doneAtStart = done;
      } else if (measuring && sending && now - tStart >= wl.pipelineMs) {
        sending = false;
        tEnd = now;
        measured = done - doneAtStart; // completed in the window
      }
      if (sending && got > 0) {
        await writeAll(conn, batch.subarray(0, got * one.length));
        inflight += got;
      }
    }
  } finally {
    conn.close();
  }
  return { msgs_per_s: measured / ((tEnd - tStart) / 1000) };
}

async function bulk(
  port: number,
  wl: Workload,
  size: number,
  windowMs: number,
  warmup: number,
): Promise<Record<string, number>> {
  const conn = await connect(port);
  const r = new FrameReader(conn, 64 * 1024);
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) payload[i] = i & 0xff;
  const header = new Uint8Array(5);
  new DataView(header.buffer).setUint32(0, 1 + size);
  header[4] = T_ACK;
  const one = async () => {
    await writeAll(conn, header);
    await writeAll(conn, payload);
  };
  try {
    for (let i = 0; i < warmup; i++) {
      await one();
      await expectFrame(r);
      if (r.bodyU32() !== size) throw new Error("bad ack");
    }
    let n = 0;
    const t0 = performance.now();
    let elapsed = 0;
    // `bulkInflight` requests outstanding; 1 = sequential asks.
    let outstanding = 0;
    while (true) {
      while (outstanding < wl.bulkInflight) {
        await one();
        outstanding++;
      }
      await expectFrame(r);
      outstanding--;
      n++;
      elapsed = performance.now() - t0;
      if (elapsed >= windowMs && n >= wl.bulkMinReqs) break;
    }
    while (outstanding > 0) {
      await expectFrame(r);
      outstanding--;
    }
    return { mib_per_s: (n * size) / (1024 * 1024) / (elapsed / 1000), requests: n };
  } finally {
    conn.close();
  }
}

async function oneStream(
  conn: Deno.Conn,
  r: FrameReader,
  count: number,
  window: number,
): Promise<{ seconds: number; ttfiUs: number; chars: number }> {
  const open = new Uint8Array(13);
  const dv = new DataView(open.buffer);
  dv.setUint32(0, 9);
  open[4] = T_STREAM_OPEN;
  dv.setUint32(5, count);
  dv.setUint32(9, window);
  const credit = new Uint8Array(9);
  const cdv = new DataView(credit.buffer);
  cdv.setUint32(0, 5);
  credit[4] = T_CREDIT;
  const dec = new TextDecoder();
  const t0 = performance.now();
  let ttfi = -1;
  let got = 0;
  let unacked = 0;
  let chars = 0;
  await writeAll(conn, open);
  let ended = false;
  while (!ended) {
    if (!(await r.fill())) throw new Error("server closed the stream");
    while (r.next()) {
      if (r.type === T_ITEM) {
        const s = dec.decode(r.body());
        chars += s.length;
        if (got === 0) ttfi = performance.now() - t0;
        got++;
        unacked++;
      } else if (r.type === T_END) {
        ended = true;
      }
    }
    if (!ended && unacked >= window / 2) {
      cdv.setUint32(5, unacked);
      unacked = 0;
      await writeAll(conn, credit);
    }
  }
  if (got !== count) throw new Error(`stream delivered ${got} of ${count}`);
  return { seconds: (performance.now() - t0) / 1000, ttfiUs: ttfi * 1000, chars };
}

async function stream(port: number, wl: Workload): Promise<Record<string, number>> {
  const conn = await connect(port);
  const r = new FrameReader(conn, 256 * 1024);
  try {
    await oneStream(conn, r, wl.streamWarmupItems, wl.streamWindow);
    const res = await oneStream(conn, r, wl.streamItems, wl.streamWindow);
    // first-item latency of short streams (a chat reply, a token stream): median of many
    const firsts: number[] = [];
    for (let i = 0; i < SHORT_STREAMS; i++) {
      firsts.push((await oneStream(conn, r, SHORT_STREAM_ITEMS, wl.streamWindow)).ttfiUs);
    }
    return {
      items_per_s: wl.streamItems / res.seconds,
      ttfi_us: res.ttfiUs,
      ttfi_short_us: median(firsts),
      window: wl.streamWindow,
    };
  } finally {
    conn.close();
  }
}

async function runKind(kind: Kind, port: number, wl: Workload): Promise<KindResult> {
  try {
    switch (kind) {
      case "pingpong":
        return { kind, metrics: await pingpong(port, wl) };
      case "pipeline":
        return { kind, metrics: await pipeline(port, wl) };
      case "bulk1m":
        return { kind, metrics: await bulk(port, wl, 1 << 20, wl.bulk1mMs, wl.bulkWarmup) };
      case "bulk16m":
        return { kind, metrics: await bulk(port, wl, 16 << 20, wl.bulk16mMs, wl.bulk16mWarmup) };
      case "stream":
        return { kind, metrics: await stream(port, wl) };
    }
  } catch (e) {
    return { kind, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Polls `127.0.0.1:port` until an echo round trip succeeds; prints the wall time. */
async function joinObserver(port: number, timeoutMs: number): Promise<void> {
  console.log(JSON.stringify({ ready: true }));
  const deadline = performance.now() + timeoutMs;
  const frame = frameBytes(T_ECHO, new Uint8Array(16));
  while (performance.now() < deadline) {
    try {
      const conn = await connect(port);
      try {
        const r = new FrameReader(conn, 1024);
        await writeAll(conn, frame);
        await expectFrame(r);
        const t1 = wallMs();
        console.log(JSON.stringify({ kind: "join", t1 }));
        return;
      } finally {
        conn.close();
      }
    } catch {
      await new Promise((res) => setTimeout(res, 1));
    }
  }
  console.log(JSON.stringify({ kind: "join", error: `no answer within ${timeoutMs} ms` }));
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  const f = parseFlags(rest);
  const wl: Workload = f.params ? JSON.parse(f.params) : (f.quick ? QUICK_WORKLOAD : FULL_WORKLOAD);
  if (mode === "server") {
    await runServer(Number(f.port ?? 0), Number(f["max-life-ms"] ?? 300_000), !!f["watch-stdin"]);
  } else if (mode === "client") {
    const port = Number(f.port);
    const kinds = (f.kinds ? f.kinds.split(",") : [...KINDS]) as Kind[];
    for (const k of kinds) console.log(JSON.stringify(await runKind(k, port, wl)));
  } else if (mode === "join-observer") {
    await joinObserver(Number(f.port), Number(f["timeout-ms"] ?? 15_000));
  } else {
    console.error("usage: raw_echo.ts server|client|join-observer [--port N] [--quick]");
    Deno.exit(2);
  }
}
