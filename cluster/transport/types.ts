/**
 * The byte-stream transport interface. Each runtime-specific API (Deno.*, node:net, node:tls)
 * lives in one adapter file beside this one; everything above it is runtime-neutral.
 *
 * The model is push-based on reads (the adapter reads into a buffer it reuses and hands each
 * chunk to `onData`, which must consume or copy it before returning) and batched on writes (the
 * caller hands several buffers at once; the adapter writes them with as few syscalls as it
 * can, without concatenating large buffers).
 *
 * @module
 */

/** A host and a port. */
export interface HostPort {
  /** Host name or IP literal. */
  hostname: string;
  /** TCP port (0 when listening means "pick a free one"). */
  port: number;
}

/**
 * Optional direct placement of big reads (adapters may ignore it): before each read the
 * adapter asks `target()`; when it returns a view, the adapter reads into that view and calls
 * `placed(n)` instead of `onData` (no copy out of a shared read buffer).
 */
export interface ReadSink {
  /** Where the next bytes should go, or `undefined` for the adapter's own buffer. */
  target(): Uint8Array | undefined;
  /** `n` bytes were read into the last target. */
  placed(n: number): void;
}

/** One established, bidirectional byte connection. */
export interface Conn {
  /** `host:port` of the other side. */
  readonly remoteAddr: string;
  /** `host:port` of this side. */
  readonly localAddr: string;
  /**
   * Start delivering bytes. `onData` receives a view that is only valid during the call
   * (the adapter reuses its read buffer). `onClose` is called exactly once, with an error when
   * the connection broke rather than ended.
   */
  start(
    onData: (chunk: Uint8Array) => void,
    onClose: (err?: Error) => void,
    sink?: ReadSink,
  ): void;
  /** Write the buffers in order. Resolves once they are handed to the OS; rejects when closed. */
  write(chunks: Uint8Array[]): Promise<void>;
  /** Close both directions. Idempotent. */
  close(): void;
}

/** A listening socket. */
export interface Listener {
  /** The address actually bound (the real port when 0 was asked). */
  readonly addr: HostPort;
  /** Called for every accepted connection until {@linkcode Listener.close}. */
  onConnection(cb: (conn: Conn) => void): void;
  /** Stop listening. Idempotent. Open connections stay open. */
  close(): void;
}

/** Options for {@linkcode Transport.connect}. */
export interface ConnectOptions extends HostPort {
  /** Abort the attempt (used for the connect timeout). */
  signal?: AbortSignal;
}

/** A way to listen and to dial: Deno TCP, node:net, or TLS over node:tls. */
export interface Transport {
  /** A short name for logs: `"deno-tcp"`, `"node-net"`, `"node-tls"`. */
  readonly kind: string;
  /** Bind and listen. */
  listen(addr: HostPort): Promise<Listener>;
  /** Dial. */
  connect(options: ConnectOptions): Promise<Conn>;
}
