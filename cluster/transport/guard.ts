/**
 * A transport wrapper that counts bytes in and out, and turns security refusals into one clear
 * log line per peer:
 * a TLS node logs why a dial failed ("passphrase mismatch", ...), and a plaintext node
 * recognises a peer that speaks TLS (it runs with a passphrase and this node has none).
 *
 * @module
 */

import { plaintextPeerMessage, sniffTls } from "../tls/classify.ts";
import type { Conn, ConnectOptions, HostPort, Listener, ReadSink, Transport } from "./types.ts";

/** Byte counters the wrapper adds to (bytes in and out on every connection). */
export interface ByteCounters {
  /** Bytes received. */
  bytesIn: number;
  /** Bytes sent. */
  bytesOut: number;
}

/**
 * Wrap `inner` so that refusals are logged once per peer and reason.
 *
 * @param inner The transport to wrap.
 * @param log Where the lines go.
 * @param stats Counters to add every byte in and out to (for metrics).
 * @returns A transport with the same behaviour plus the log lines.
 *
 * @example
 * ```ts
 * import { guardTransport } from "./guard.ts";
 * import { defaultTransport } from "./mod.ts";
 * const t = guardTransport(defaultTransport(), (line) => console.warn(line));
 * console.log(t.kind); // "deno-tcp" on Deno
 * ```
 */
export function guardTransport(
  inner: Transport,
  log: (line: string) => void,
  stats?: ByteCounters,
): Transport {
  const seen = new Set<string>();
  const once = (key: string, line: string) => {
    if (seen.has(key)) return;
    if (seen.size > 1024) seen.clear();
    seen.add(key);
    log(line);
  };
  const tls = inner.kind.includes("tls");
  const wrap = (conn: Conn, inbound: boolean): Conn => {
    if (tls && stats === undefined) return conn;
    return {
      get remoteAddr() {
        return conn.remoteAddr;
      },
      get localAddr() {
        return conn.localAddr;
      },
      start(onData, onClose, sink?: ReadSink) {
        let first = !tls;
        const counted: ReadSink | undefined = sink && stats
          ? {
            target: () => sink.target(),
            placed: (n) => {
              stats.bytesIn += n;
              sink.placed(n);
            },
          }
          : sink;
        conn.start(
          (chunk) => {
            if (stats) stats.bytesIn += chunk.byteLength;
            if (first) {
              first = false;
              const what = sniffTls(chunk);
              if (what) {
                once(
                  `plain:${conn.remoteAddr}`,
                  plaintextPeerMessage(conn.remoteAddr, inbound ? "client-hello" : "alert"),
                );
                conn.close();
                return;
              }
            }
            onData(chunk);
          },
          onClose,
          counted,
        );
      },
      write: stats
        ? (chunks) => {
          for (let i = 0; i < chunks.length; i++) stats.bytesOut += chunks[i].byteLength;
          return conn.write(chunks);
        }
        : (chunks) => conn.write(chunks),
      close: () => conn.close(),
    };
  };
  return {
    kind: inner.kind,
    async listen(addr: HostPort): Promise<Listener> {
      const l = await inner.listen(addr);
      return {
        get addr() {
          return l.addr;
        },
        onConnection: (cb) => l.onConnection((c) => cb(wrap(c, true))),
        close: () => l.close(),
      };
    },
    async connect(options: ConnectOptions): Promise<Conn> {
      try {
        return wrap(await inner.connect(options), false);
      } catch (e) {
        const msg = (e as Error)?.message ?? String(e);
        if (/TLS|passphrase|certificate/i.test(msg)) {
          once(`tls:${options.hostname}:${options.port}:${msg}`, msg);
        }
        throw e;
      }
    },
  };
}
