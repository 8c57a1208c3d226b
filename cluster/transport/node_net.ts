/**
 * The node:net transport (Node, Bun, and Deno's Node compatibility layer): `setNoDelay(true)`,
 * writes batched with `cork()` / `uncork()` (the buffers go out without being concatenated),
 * reads of a dialled socket into one reused buffer (`net.connect({ onread })`: no Buffer, no
 * Readable push and no `data` event per read), reads of an accepted socket from its `data`
 * events (`onread` cannot be given to a server's sockets).
 *
 * `node:net` is loaded lazily, on the first `listen` or `connect`, so importing this module
 * costs nothing where it is not used.
 *
 * @module
 */

import type { Conn, ConnectOptions, HostPort, Listener, Transport } from "./types.ts";
import type * as NodeNet from "node:net";
import { ReadHook } from "./read_hook.ts";

let netModule: Promise<typeof NodeNet> | undefined;
function loadNet(): Promise<typeof NodeNet> {
  return netModule ??= import("node:net");
}

function fmt(host: string | undefined, port: number | undefined): string {
  const h = host ?? "?";
  return h.includes(":") ? `[${h}]:${port}` : `${h}:${port}`;
}

/** Size of the reused read buffer of a dialled connection. */
const CLIENT_READ_BUFFER = 64 * 1024;

class NodeNetConn implements Conn {
  readonly remoteAddr: string;
  readonly localAddr: string;
  readonly #socket: NodeNet.Socket;
  #closed = false;
  #started = false;
  #closeNotified = false;
  #onClose: ((err?: Error) => void) | undefined;
  #error: Error | undefined;
  readonly #hook: ReadHook | undefined;

  constructor(socket: NodeNet.Socket, hook?: ReadHook) {
    this.#socket = socket;
    this.#hook = hook;
    socket.setNoDelay(true);
    this.remoteAddr = fmt(socket.remoteAddress, socket.remotePort);
    this.localAddr = fmt(socket.localAddress, socket.localPort);
    socket.on("error", (e: Error) => {
      this.#error ??= e;
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#notifyClose(this.#error);
    });
  }

  start(onData: (chunk: Uint8Array) => void, onClose: (err?: Error) => void): void {
    if (this.#started) throw new Error("Conn.start called twice");
    this.#started = true;
    this.#onClose = onClose;
    if (this.#closed) {
      this.#notifyClose(this.#error);
      return;
    }
    if (this.#hook !== undefined) this.#hook.start(onData);
    else this.#socket.on("data", (b: Uint8Array) => onData(b));
  }

  #notifyClose(err?: Error): void {
    if (this.#closeNotified || !this.#started) return;
    this.#closeNotified = true;
    this.#onClose?.(err);
  }

  write(chunks: Uint8Array[]): Promise<void> {
    if (this.#closed || this.#socket.destroyed) {
      return Promise.reject(new Error(`connection to ${this.remoteAddr} closed`));
    }
    return new Promise<void>((resolve, reject) => {
      const s = this.#socket;
      const last = chunks.length - 1;
      if (last < 0) return resolve();
      // the callback of the last write fires once everything before it is flushed to the OS
      const done = (err?: Error | null) => {
        if (err) reject(err);
        else resolve();
      };
      if (last === 0) {
        // one buffer (the frame writer's usual batch): cork/uncork would take Node's writev
        // path for it, with its buffered-request objects
        s.write(chunks[0], done);
        return;
      }
      s.cork();
      for (let i = 0; i < last; i++) s.write(chunks[i]);
      s.write(chunks[last], done);
      s.uncork();
    });
  }

  close(): void {
    if (this.#closed && this.#socket.destroyed) return;
    this.#closed = true;
    this.#socket.destroy();
  }
}

class NodeNetListener implements Listener {
  readonly addr: HostPort;
  readonly #server: NodeNet.Server;
  #cb: ((conn: Conn) => void) | undefined;
  #backlog: Conn[] = [];
  #closed = false;

  constructor(server: NodeNet.Server, addr: HostPort) {
    this.#server = server;
    this.addr = addr;
    server.on("connection", (s: NodeNet.Socket) => {
      const conn = new NodeNetConn(s);
      if (this.#cb) this.#cb(conn);
      else this.#backlog.push(conn);
    });
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
    this.#server.close();
    for (const c of this.#backlog) c.close();
    this.#backlog = [];
  }
}

/**
 * TCP over `node:net`.
 *
 * @example
 * ```ts
 * import { NodeNetTransport } from "./node_net.ts";
 * const t = new NodeNetTransport();
 * const listener = await t.listen({ hostname: "127.0.0.1", port: 0 });
 * listener.onConnection((conn) => conn.start((chunk) => console.log(chunk.length), () => {}));
 * const conn = await t.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await conn.write([new Uint8Array([1, 2, 3])]);
 * conn.close();
 * listener.close();
 * ```
 */
export class NodeNetTransport implements Transport {
  /** `"node-net"`. */
  readonly kind: string = "node-net";

  /** Bind and listen (port 0 picks a free port). */
  async listen(addr: HostPort): Promise<Listener> {
    const net = await loadNet();
    const server = net.createServer({ noDelay: true } as NodeNet.ServerOpts);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(addr.port, addr.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const a = server.address() as NodeNet.AddressInfo;
    return new NodeNetListener(server, { hostname: a.address, port: a.port });
  }

  /** Dial; `signal` aborts the attempt. */
  async connect(options: ConnectOptions): Promise<Conn> {
    options.signal?.throwIfAborted();
    const net = await loadNet();
    const hook = new ReadHook(CLIENT_READ_BUFFER);
    const socket = net.connect({
      host: options.hostname,
      port: options.port,
      onread: { buffer: hook.buffer, callback: hook.callback },
    } as NodeNet.NetConnectOpts);
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        socket.destroy();
        reject(options.signal?.reason ?? new Error("connect aborted"));
      };
      const done = (): void => {
        options.signal?.removeEventListener("abort", onAbort);
        socket.off("error", onError);
        resolve();
      };
      const onError = (e: Error): void => {
        options.signal?.removeEventListener("abort", onAbort);
        socket.destroy();
        reject(e);
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", done);
      socket.once("error", onError);
    });
    return new NodeNetConn(socket, hook);
  }
}
