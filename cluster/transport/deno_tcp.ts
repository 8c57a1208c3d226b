/**
 * The Deno TCP transport: `Deno.listen` / `Deno.connect`, `setNoDelay(true)`, reads with
 * `conn.read` into one reused buffer per connection (or, for the body of a big message, straight
 * into its final buffer when the reader offers a {@linkcode ReadSink}), writes batched (small
 * buffers coalesced into one write, big buffers written as they are, never concatenated), the
 * first write of an idle connection issued at once.
 *
 * This module touches the `Deno` global only inside its functions, so importing it on Node is
 * harmless.
 *
 * @module
 */

import type { Conn, ConnectOptions, HostPort, Listener, ReadSink, Transport } from "./types.ts";

/** Options of {@linkcode DenoTcpTransport}. */
export interface DenoTcpOptions {
  /** Largest read buffer of a connection in bytes (default 256 KiB; starts at 16 KiB and grows). */
  readBufferSize?: number;
  /** Buffers smaller than this are copied into one coalesced write (default 16 KiB). */
  coalesceBelow?: number;
}

/** Smallest read asked of the socket (and the first read buffer's size). */
const MIN_READ = 16 * 1024;

function ignore(): void {}

function addrString(a: Deno.Addr): string {
  const n = a as Deno.NetAddr;
  if (n.hostname === undefined) return String((a as Deno.UnixAddr).path ?? a.transport);
  return n.hostname.includes(":") ? `[${n.hostname}]:${n.port}` : `${n.hostname}:${n.port}`;
}

class DenoTcpConn implements Conn {
  readonly remoteAddr: string;
  readonly localAddr: string;
  readonly #conn: Deno.Conn;
  readonly #readSize: number;
  readonly #coalesceBelow: number;
  #closed = false;
  #started = false;
  /** The last write (settled or not): a write issued while one is in flight waits for it. */
  #last: Promise<void> = Promise.resolve();
  #writing = 0;
  #onClose: ((err?: Error) => void) | undefined;
  #closeNotified = false;

  constructor(conn: Deno.Conn, options: DenoTcpOptions) {
    this.#conn = conn;
    this.remoteAddr = addrString(conn.remoteAddr);
    this.localAddr = addrString(conn.localAddr);
    this.#readSize = options.readBufferSize ?? 256 * 1024;
    this.#coalesceBelow = options.coalesceBelow ?? 16 * 1024;
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // not a TCP socket (or already closed): nothing to tune
    }
  }

  start(
    onData: (chunk: Uint8Array) => void,
    onClose: (err?: Error) => void,
    sink?: ReadSink,
  ): void {
    if (this.#started) throw new Error("Conn.start called twice");
    this.#started = true;
    this.#onClose = onClose;
    this.#readLoop(onData, sink);
  }

  async #readLoop(onData: (chunk: Uint8Array) => void, sink?: ReadSink): Promise<void> {
    // Start small (an idle or hostile connection costs 16 KiB), grow while reads fill it.
    let buf = new Uint8Array(Math.min(MIN_READ, this.#readSize));
    // How much of `buf` the next read asks for: ×4 while reads fill it, ÷4 (down to 16 KiB)
    // after a read that filled less than a quarter. After a quiet spell the next read is thus
    // short, so the start of a big message (whose body `sink` then takes in place) is not
    // read into `buf` wholesale and copied out of it.
    let want = buf.length;
    let err: Error | undefined;
    try {
      while (!this.#closed) {
        // big message bodies are read straight into place (no copy out of `buf`)
        const target = sink?.target();
        if (target !== undefined) {
          const n = await this.#conn.read(target);
          if (n === null) break;
          if (!this.#closed) sink!.placed(n);
          continue;
        }
        const n = await this.#conn.read(want === buf.length ? buf : buf.subarray(0, want));
        if (n === null) break;
        onData(buf.subarray(0, n));
        if (n === want) {
          if (want < buf.length) want = Math.min(want * 4, buf.length);
          else if (buf.length < this.#readSize) {
            buf = new Uint8Array(Math.min(buf.length * 4, this.#readSize));
            want = buf.length;
          }
        } else if (n < want >>> 2 && want > MIN_READ) want = Math.max(MIN_READ, want >>> 2);
      }
    } catch (e) {
      if (!this.#closed) err = e instanceof Error ? e : new Error(String(e));
    }
    this.close();
    this.#notifyClose(err);
  }

  #notifyClose(err?: Error): void {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    this.#onClose?.(err);
  }

  write(chunks: Uint8Array[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`connection to ${this.remoteAddr} closed`));
    // Idle: start at once (Deno's write op tries the syscall right away); else queue behind the
    // write in flight (the frame writer never does this: it has one write in flight at a time).
    let p: Promise<void>;
    if (this.#writing === 0) {
      p = chunks.length === 1 ? this.#writeOne(chunks[0]) : this.#writeNow(chunks);
    } else {
      p = this.#last.then(undefined, ignore).then(() => this.#writeNow(chunks));
    }
    this.#writing++;
    // handlers made once per connection: a write allocates two promises of its own, no closures
    return this.#last = p.then(this.#wrote, this.#writeFailed);
  }

  readonly #wrote = (): void => {
    this.#writing--;
  };

  readonly #writeFailed = (e: unknown): never => {
    this.#writing--;
    throw e;
  };

  /** One buffer (the usual write: the frame writer's batch): no async function frames. */
  #writeOne(b: Uint8Array): Promise<void> {
    return this.#conn.write(b).then((n) =>
      n === b.length ? undefined : this.#writeAll(b.subarray(n))
    );
  }

  async #writeNow(chunks: Uint8Array[]): Promise<void> {
    const small = this.#coalesceBelow;
    let i = 0;
    while (i < chunks.length) {
      if (this.#closed) throw new Error(`connection to ${this.remoteAddr} closed`);
      const c = chunks[i];
      if (c.length >= small) {
        await this.#writeAll(c);
        i++;
        continue;
      }
      // coalesce the run of small buffers that starts here
      let j = i;
      let total = 0;
      while (j < chunks.length && chunks[j].length < small) total += chunks[j++].length;
      if (j === i + 1) {
        await this.#writeAll(c);
      } else {
        const b = new Uint8Array(total);
        let o = 0;
        for (let k = i; k < j; k++) {
          b.set(chunks[k], o);
          o += chunks[k].length;
        }
        await this.#writeAll(b);
      }
      i = j;
    }
  }

  async #writeAll(b: Uint8Array): Promise<void> {
    let o = 0;
    while (o < b.length) o += await this.#conn.write(o === 0 ? b : b.subarray(o));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    if (!this.#started) this.#notifyClose();
  }
}

class DenoTcpListener implements Listener {
  readonly addr: HostPort;
  readonly #listener: Deno.Listener;
  readonly #options: DenoTcpOptions;
  #cb: ((conn: Conn) => void) | undefined;
  #backlog: Conn[] = [];
  #closed = false;

  constructor(listener: Deno.Listener, options: DenoTcpOptions) {
    this.#listener = listener;
    this.#options = options;
    const a = listener.addr as Deno.NetAddr;
    this.addr = { hostname: a.hostname, port: a.port };
    this.#acceptLoop();
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let c: Deno.Conn;
      try {
        c = await this.#listener.accept();
      } catch {
        if (this.#closed) return;
        continue; // a failed accept (e.g. EMFILE) must not stop the listener
      }
      const conn = new DenoTcpConn(c, this.#options);
      if (this.#cb) this.#cb(conn);
      else this.#backlog.push(conn);
    }
  }

  onConnection(cb: (conn: Conn) => void): void {
    this.#cb = cb;
    const waiting = this.#backlog;
    this.#backlog = [];
    for (const c of waiting) cb(c);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const c of this.#backlog) c.close();
    this.#backlog = [];
  }
}

/**
 * TCP over `Deno.listen` / `Deno.connect`.
 *
 * @example
 * ```ts
 * import { DenoTcpTransport } from "./deno_tcp.ts";
 * const t = new DenoTcpTransport();
 * const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
 * listener.onConnection((conn) => conn.start((chunk) => console.log(chunk.length), () => {}));
 * const conn = await t.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await conn.write([new Uint8Array([1, 2, 3])]);
 * conn.close();
 * listener.close();
 * ```
 */
export class DenoTcpTransport implements Transport {
  /** `"deno-tcp"`. */
  readonly kind: string = "deno-tcp";
  readonly #options: DenoTcpOptions;

  /**
   * Create the transport.
   *
   * @param options Buffer sizes.
   */
  constructor(options: DenoTcpOptions = {}) {
    this.#options = options;
  }

  /** Bind and listen (port 0 picks a free port). */
  listen(addr: HostPort): Promise<Listener> {
    const l = Deno.listen({ hostname: addr.hostname, port: addr.port, transport: "tcp" });
    return Promise.resolve(new DenoTcpListener(l, this.#options));
  }

  /** Dial; `signal` aborts the attempt. */
  async connect(options: ConnectOptions): Promise<Conn> {
    options.signal?.throwIfAborted();
    const c = await Deno.connect({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
      signal: options.signal,
    } as Deno.ConnectOptions);
    return new DenoTcpConn(c, this.#options);
  }
}
