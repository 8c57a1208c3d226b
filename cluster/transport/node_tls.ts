/**
 * Mutual TLS transport on `node:tls`, for Deno and Node alike.
 *
 * `node:tls` is used on both runtimes because it is the only API that does real mutual TLS in
 * Deno (`Deno.listenTls` cannot require client certificates) and because it avoids the
 * first-message stall of `Deno.connectTls` (no TCP_NODELAY there): here both sockets get
 * TCP_NODELAY before the handshake starts.
 *
 * - The listener requires a client certificate signed by the cluster CA
 *   (`requestCert: true, rejectUnauthorized: true`, `ca: [caPem]`).
 * - The client presents its leaf and verifies the server's leaf against the same CA, then checks
 *   that it names {@linkcode CLUSTER_SERVER_NAME} (`pulsing.local`). Peers are dialled by IP, and
 *   any holder of the passphrase can mint a leaf for any IP, so the chain is the identity check;
 *   the fixed name only pins "a leaf issued for a Pulsing cluster".
 * - Handshake timeout (default 5 s) on both sides.
 * - Every failure becomes one line ({@linkcode tlsFailureMessage}): connect rejects with a
 *   `PulsingRuntimeError` carrying it; the listener hands it to `onRefused` (default:
 *   `console.warn`), once per refused connection.
 *
 * With TLS 1.3 the client finishes its handshake before the server has checked the client's
 * certificate, so a server-side refusal (no certificate, foreign certificate) reaches the client
 * as `onClose(err)` right after connect, with the classified message, not as a connect error.
 *
 * @module
 */

import tls from "node:tls";
import type { Socket } from "node:net";
import { PulsingRuntimeError } from "../../core/errors.ts";
import { CLUSTER_SERVER_NAME } from "../tls/mod.ts";
import {
  classifyTlsError,
  type TlsFailure,
  tlsFailureMessage,
  type TlsSide,
} from "../tls/classify.ts";
import type { Conn, ConnectOptions, HostPort, Listener, Transport } from "./types.ts";
import { ReadHook } from "./read_hook.ts";

/** The default handshake timeout, in milliseconds. */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 5000;

/** A refused inbound connection, as reported to {@linkcode NodeTlsOptions.onRefused}. */
export interface TlsRefusal {
  /** `host:port` of the peer. */
  remoteAddr: string;
  /** The classified failure. */
  failure: TlsFailure;
  /** The one-line message (`TLS handshake with ... failed: ...`). */
  message: string;
}

/** The certificate material of this node (what `clusterTlsMaterial` returns fits). */
export interface NodeTlsMaterial {
  /** The cluster CA certificate, PEM: the only trust anchor. */
  caPem: string;
  /** This node's leaf certificate, PEM. */
  certPem: string;
  /** Its private key, PKCS#8 PEM. */
  keyPem: string;
}

/** Options of {@linkcode NodeTlsTransport}. */
export interface NodeTlsOptions {
  /** Handshake timeout in ms, both sides (default 5000). */
  handshakeTimeoutMs?: number;
  /** The name the server certificate must carry (default `pulsing.local`). */
  serverName?: string;
  /** Called once per refused inbound connection (default: `console.warn(refusal.message)`). */
  onRefused?: (refusal: TlsRefusal) => void;
}

function addrOf(host: string | undefined, port: number | undefined): string {
  const h = host ?? "?";
  return `${h.includes(":") ? `[${h}]` : h}:${port ?? "?"}`;
}

/**
 * Size of the reused read buffer of a dialled connection (one TLS record of plaintext). Accepted
 * sockets cannot take `onread` (it is ignored when a TLS socket wraps an existing one) and read
 * through `data` events.
 */
const CLIENT_READ_BUFFER = 16 * 1024;

/** One established TLS connection. */
class NodeTlsConn implements Conn {
  readonly remoteAddr: string;
  readonly localAddr: string;
  #sock: tls.TLSSocket;
  #closed = false;
  #closeErr: Error | undefined;
  #onClose: ((err?: Error) => void) | undefined;
  #reported = false;
  #side: TlsSide;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #hook: ReadHook | undefined;

  constructor(sock: tls.TLSSocket, side: TlsSide, hook?: ReadHook) {
    this.#sock = sock;
    this.#side = side;
    this.#hook = hook;
    this.remoteAddr = addrOf(sock.remoteAddress, sock.remotePort);
    this.localAddr = addrOf(sock.localAddress, sock.localPort);
    // Errors after the handshake (e.g. the server refusing our certificate under TLS 1.3).
    sock.on("error", (e: Error) => {
      if (this.#closeErr === undefined) this.#closeErr = this.#wrap(e);
    });
    sock.on("close", () => {
      this.#closed = true;
      if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
      this.#report();
    });
  }

  #wrap(e: Error): Error {
    const f = classifyTlsError(e, this.#side);
    if (f.kind === "other" || f.kind === "closed") {
      return new PulsingRuntimeError(`connection to ${this.remoteAddr} broke: ${f.raw}`, {
        cause: e,
      });
    }
    return new PulsingRuntimeError(tlsFailureMessage(this.remoteAddr, f), { cause: e });
  }

  #report(): void {
    if (this.#reported || this.#onClose === undefined || !this.#closed) return;
    this.#reported = true;
    this.#onClose(this.#closeErr);
  }

  start(onData: (chunk: Uint8Array) => void, onClose: (err?: Error) => void): void {
    if (this.#onClose !== undefined) throw new PulsingRuntimeError("Conn.start called twice");
    this.#onClose = onClose;
    if (this.#hook !== undefined) this.#hook.start(onData);
    else this.#sock.on("data", (chunk: Uint8Array) => onData(chunk));
    this.#report();
  }

  write(chunks: Uint8Array[]): Promise<void> {
    const sock = this.#sock;
    if (this.#closed || sock.destroyed || !sock.writable) {
      return Promise.reject(
        new PulsingRuntimeError(`connection to ${this.remoteAddr} is closed`, {
          cause: this.#closeErr,
        }),
      );
    }
    if (chunks.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => {
        if (err) {
          reject(
            new PulsingRuntimeError(`write to ${this.remoteAddr} failed: ${err.message}`, {
              cause: err,
            }),
          );
        } else resolve();
      };
      if (chunks.length === 1) {
        sock.write(chunks[0], done);
        return;
      }
      sock.cork();
      for (let i = 0; i < chunks.length - 1; i++) sock.write(chunks[i]);
      sock.write(chunks[chunks.length - 1], done);
      sock.uncork();
    });
  }

  close(): void {
    if (this.#closed || this.#killTimer !== undefined) return;
    // Flush what was written, send close_notify and FIN; force it if the peer lingers.
    this.#sock.end();
    this.#killTimer = setTimeout(() => this.#sock.destroy(), 2000);
  }
}

/** A TLS listener. */
class NodeTlsListener implements Listener {
  #server: tls.Server;
  #requested: HostPort;
  #cb: ((conn: Conn) => void) | undefined;
  #pending: Conn[] = [];
  #closed = false;

  constructor(server: tls.Server, requested: HostPort) {
    this.#server = server;
    this.#requested = requested;
  }

  get addr(): HostPort {
    const bound = this.#server.address();
    const port = typeof bound === "object" && bound !== null ? bound.port : this.#requested.port;
    return { hostname: this.#requested.hostname, port };
  }

  /** Internal: a connection passed the handshake. */
  accept(conn: Conn): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    if (this.#cb) this.#cb(conn);
    else this.#pending.push(conn);
  }

  onConnection(cb: (conn: Conn) => void): void {
    this.#cb = cb;
    const pending = this.#pending;
    this.#pending = [];
    for (const c of pending) cb(c);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
  }
}

/**
 * Mutual TLS over `node:tls` with the cluster's certificate material.
 *
 * @example
 * ```ts
 * import { clusterTlsMaterial } from "../tls/mod.ts";
 * import { NodeTlsTransport } from "./node_tls.ts";
 * const material = await clusterTlsMaterial("correct horse battery staple", { hosts: ["127.0.0.1"] });
 * const transport = new NodeTlsTransport(material, { onRefused: (r) => console.warn(r.message) });
 * const listener = await transport.listen({ hostname: "127.0.0.1", port: 0 });
 * listener.onConnection((conn) => conn.start((b) => void conn.write([b.slice()]), () => {}));
 * const conn = await transport.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * conn.close();
 * listener.close();
 * ```
 */
export class NodeTlsTransport implements Transport {
  /** `"node-tls"`. */
  readonly kind: string = "node-tls";
  #material: NodeTlsMaterial;
  #timeoutMs: number;
  #serverName: string;
  #onRefused: (refusal: TlsRefusal) => void;

  /**
   * @param material CA certificate, leaf certificate and key (PEM).
   * @param options Timeout, server name, refusal hook.
   */
  constructor(material: NodeTlsMaterial, options: NodeTlsOptions = {}) {
    this.#material = material;
    this.#timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
    this.#serverName = options.serverName ?? CLUSTER_SERVER_NAME;
    this.#onRefused = options.onRefused ?? ((r) => console.warn(r.message));
  }

  /**
   * Listen for mutual-TLS connections; only peers with a leaf signed by the cluster CA get
   * through. Refusals go to `onRefused`.
   *
   * @param addr Host and port (0 = any free port).
   * @returns The listener.
   * @throws {PulsingRuntimeError} When the address cannot be bound.
   */
  async listen(addr: HostPort): Promise<Listener> {
    const m = this.#material;
    const server = tls.createServer({
      key: m.keyPem,
      cert: m.certPem,
      ca: [m.caPem],
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: this.#timeoutMs,
    });
    const listener = new NodeTlsListener(server, addr);
    // TCP_NODELAY before the handshake, so no flight waits for Nagle.
    // Remember the peer address: Deno's TLSSocket has lost it by the time a handshake fails.
    const peers = new WeakMap<object, string>();
    server.on("connection", (raw: Socket) => {
      raw.setNoDelay(true);
      peers.set(raw, addrOf(raw.remoteAddress, raw.remotePort));
    });
    const peerOf = (sock: tls.TLSSocket): string => {
      if (sock.remoteAddress !== undefined) return addrOf(sock.remoteAddress, sock.remotePort);
      const parent = (sock as unknown as { _parent?: object })._parent;
      return (parent && peers.get(parent)) ?? addrOf(undefined, undefined);
    };
    // Handshake failures and timeouts (node:tls reports its timeout here but leaves the socket
    // open, so close it ourselves).
    server.on("tlsClientError", (err: Error, sock: tls.TLSSocket) => {
      this.#refuse(peerOf(sock), err);
      sock.destroy();
    });
    server.on("secureConnection", (sock: tls.TLSSocket) => {
      if (!sock.authorized) {
        // rejectUnauthorized makes this unreachable; keep the check as a second lock.
        this.#refuse(peerOf(sock), sock.authorizationError ?? new Error("unauthorized"));
        sock.destroy();
        return;
      }
      sock.setNoDelay(true);
      listener.accept(new NodeTlsConn(sock, "server"));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => {
        reject(
          new PulsingRuntimeError(
            `cannot listen on ${addrOf(addr.hostname, addr.port)}: ${e.message}`,
            { cause: e },
          ),
        );
      };
      server.once("error", onError);
      server.listen(addr.port, addr.hostname, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (e: Error) => console.warn(`TLS listener error: ${e.message}`));
    return listener;
  }

  #refuse(remoteAddr: string, err: unknown): void {
    const failure = classifyTlsError(err, "server");
    const message = tlsFailureMessage(remoteAddr, failure);
    try {
      this.#onRefused({ remoteAddr, failure, message });
    } catch {
      // a logging hook must not break the listener
    }
  }

  /**
   * Dial a TLS listener, present this node's leaf and verify the server against the cluster CA.
   *
   * @param options Host, port, and an optional abort signal.
   * @returns The connection, once the handshake has completed.
   * @throws {PulsingRuntimeError} With a one-line reason (`TLS handshake with h:p failed: ...`).
   */
  connect(options: ConnectOptions): Promise<Conn> {
    const m = this.#material;
    const peer = addrOf(options.hostname, options.port);
    const serverName = this.#serverName;
    return new Promise<Conn>((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new PulsingRuntimeError(`connect to ${peer} aborted`));
        return;
      }
      let settled = false;
      const hook = new ReadHook(CLIENT_READ_BUFFER);
      const sock = tls.connect({
        host: options.hostname,
        port: options.port,
        ca: [m.caPem],
        cert: m.certPem,
        key: m.keyPem,
        servername: serverName,
        rejectUnauthorized: true,
        checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
          tls.checkServerIdentity(serverName, cert),
        noDelay: true,
        onread: { buffer: hook.buffer, callback: hook.callback },
      } as tls.ConnectionOptions);
      sock.setNoDelay(true);
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        sock.destroy();
        reject(err);
      };
      const onError = (e: Error) => {
        const f = classifyTlsError(e, "client");
        fail(new PulsingRuntimeError(tlsFailureMessage(peer, f), { cause: e }));
      };
      const onClose = () =>
        onError(Object.assign(new Error("socket closed"), { code: "ECONNRESET" }));
      const onAbort = () => fail(new PulsingRuntimeError(`connect to ${peer} aborted`));
      const timer = setTimeout(
        () =>
          onError(
            Object.assign(new Error(`TLS handshake timeout after ${this.#timeoutMs} ms`), {
              code: "ERR_TLS_HANDSHAKE_TIMEOUT",
            }),
          ),
        this.#timeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        sock.off("error", onError);
        sock.off("close", onClose);
        options.signal?.removeEventListener("abort", onAbort);
      };
      sock.on("error", onError);
      sock.on("close", onClose);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      sock.once("secureConnect", () => {
        if (settled) return;
        if (!sock.authorized) {
          onError(sock.authorizationError ?? new Error("server certificate not authorized"));
          return;
        }
        settled = true;
        cleanup();
        resolve(new NodeTlsConn(sock, "client", hook));
      });
    });
  }
}
