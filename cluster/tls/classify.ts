/**
 * Turn the raw TLS errors of OpenSSL (Node) and rustls (Deno's `node:tls`) into one clear line
 * that says why two nodes could not talk: a passphrase mismatch, a peer without TLS, a peer
 * without a certificate, a timeout.
 *
 * What was observed on this project's machines (Deno 2.9, Node 20, TLS 1.3):
 *
 * | case | client sees | server sees |
 * |---|---|---|
 * | other passphrase | `SELF_SIGNED_CERT_IN_CHAIN` (both runtimes) | Deno: alert `UnknownCA`; Node: `ECONNRESET` "socket hang up" (Node clients reject silently) |
 * | client without a certificate | alert `CertificateRequired` *after* `secureConnect` (TLS 1.3) | `ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE` |
 * | plaintext client → TLS listener | an alert record `15 03 03 00 02 02 xx`, then EOF | `ERR_SSL_WRONG_VERSION_NUMBER` |
 * | TLS client → plaintext listener | `ERR_SSL_WRONG_VERSION_NUMBER`, `ERR_SSL_UNEXPECTED_MESSAGE`, `ECONNRESET`, or silence (→ timeout) | a ClientHello record `16 03 01 ...` |
 * | silent peer | (timeout) | `ERR_TLS_HANDSHAKE_TIMEOUT` |
 *
 * @module
 */

/** What went wrong, in categories a user can act on. */
export type TlsFailureKind =
  | "passphrase-mismatch"
  | "no-certificate"
  | "not-tls"
  | "timeout"
  | "closed"
  | "connect"
  | "other";

/** A classified TLS failure. */
export interface TlsFailure {
  /** The category. */
  kind: TlsFailureKind;
  /** The human explanation, e.g. `passphrase mismatch (peer certificate not signed by this cluster's CA)`. */
  reason: string;
  /** The raw error code, when there was one (`ERR_SSL_...`, `ECONNRESET`, ...). */
  code?: string;
  /** The raw error message, first line. */
  raw: string;
}

/** Which end of the connection observed the error. */
export type TlsSide = "client" | "server";

const CERT_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_CERTIFICATE_VERIFY_FAILED",
]);

/** The reason text for each kind (the `closed` text depends on the side). */
export const TLS_REASONS: {
  mismatch: string;
  peerRejectedUs: string;
  noCertificate: string;
  certificateRequired: string;
  notTls: string;
  closedServer: string;
  closedClient: string;
} = {
  mismatch: "passphrase mismatch (peer certificate not signed by this cluster's CA)",
  peerRejectedUs:
    "passphrase mismatch (the peer rejected our certificate: it was not signed by its cluster's CA)",
  noCertificate:
    "the peer presented no client certificate (a node without a passphrase, or not a Pulsing node)",
  certificateRequired:
    "the peer requires a client certificate and we sent none (it runs with a passphrase)",
  notTls:
    "the peer does not speak TLS (a node started without a passphrase, or not a Pulsing node)",
  closedServer:
    "the peer closed the connection during the handshake (most likely a passphrase mismatch: it rejected our certificate)",
  closedClient:
    "the peer closed the connection during the handshake (a node without a passphrase, or it refused us)",
};

function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return i < 0 ? s : s.slice(0, i);
}

/**
 * Classify a raw error from a TLS handshake (or the first read after it).
 *
 * @param err The error thrown or emitted by `node:tls` (Deno or Node).
 * @param side Which end observed it.
 * @returns The classification.
 *
 * @example
 * ```ts
 * import { classifyTlsError } from "./classify.ts";
 * const e = Object.assign(new Error("self-signed certificate in certificate chain"), {
 *   code: "SELF_SIGNED_CERT_IN_CHAIN",
 * });
 * console.log(classifyTlsError(e, "client").kind); // "passphrase-mismatch"
 * ```
 */
export function classifyTlsError(err: unknown, side: TlsSide): TlsFailure {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const raw = firstLine(
    typeof e?.message === "string" ? e.message : String(err ?? "unknown error"),
  );
  const m = `${code ?? ""} ${raw}`.toLowerCase();
  const out = (kind: TlsFailureKind, reason: string): TlsFailure => ({ kind, reason, code, raw });

  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT" || m.includes("handshake timeout")) {
    return out("timeout", "no TLS handshake in time (the peer is silent or does not speak TLS)");
  }
  // We verified the peer's certificate and it is not from our CA.
  if (
    (code !== undefined && CERT_CODES.has(code)) || m.includes("badsignature") ||
    m.includes("unknownissuer") || m.includes("certificate verify failed") ||
    m.includes("invalid peer certificate")
  ) {
    return out("passphrase-mismatch", TLS_REASONS.mismatch);
  }
  // The peer verified ours and sent an alert.
  if (
    m.includes("unknown_ca") || m.includes("unknownca") || m.includes("unknown ca") ||
    m.includes("bad_certificate") || m.includes("badcertificate") ||
    m.includes("bad certificate") || m.includes("decrypt") || m.includes("decrypterror")
  ) {
    return out("passphrase-mismatch", TLS_REASONS.peerRejectedUs);
  }
  if (
    code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" ||
    m.includes("peer sent no certificates") || m.includes("did not return a certificate")
  ) {
    return out("no-certificate", TLS_REASONS.noCertificate);
  }
  if (m.includes("certificate_required") || m.includes("certificaterequired")) {
    return out("no-certificate", TLS_REASONS.certificateRequired);
  }
  if (
    m.includes("wrong_version_number") || m.includes("wrong version number") ||
    m.includes("invalidcontenttype") || m.includes("corrupt message") ||
    m.includes("unexpected_message") || m.includes("unexpected message") ||
    m.includes("unexpected handshake message") ||
    m.includes("http_request") || m.includes("unknown_protocol") ||
    m.includes("record_layer_failure") || m.includes("packet length too long")
  ) {
    return out("not-tls", TLS_REASONS.notTls);
  }
  if (
    code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH" ||
    code === "ENOTFOUND" || code === "EADDRNOTAVAIL" || code === "ETIMEDOUT"
  ) {
    return out("connect", `cannot connect (${code})`);
  }
  if (
    code === "ECONNRESET" || code === "EPIPE" || m.includes("socket hang up") ||
    m.includes("before secure tls connection") || m.includes("unexpectedeof") ||
    m.includes("unexpected eof") || m.includes("connection reset")
  ) {
    return out("closed", side === "server" ? TLS_REASONS.closedServer : TLS_REASONS.closedClient);
  }
  return out("other", raw);
}

/**
 * The one-line message for logs and errors:
 * `TLS handshake with 127.0.0.1:7001 failed: passphrase mismatch (...)`.
 *
 * @param peer `host:port` of the other side.
 * @param failure The classification from {@linkcode classifyTlsError}.
 * @returns One line.
 *
 * @example
 * ```ts
 * import { classifyTlsError, tlsFailureMessage } from "./classify.ts";
 * const f = classifyTlsError({ code: "ERR_SSL_WRONG_VERSION_NUMBER", message: "x" }, "server");
 * console.log(tlsFailureMessage("127.0.0.1:7001", f));
 * // TLS handshake with 127.0.0.1:7001 failed: the peer does not speak TLS (...)
 * ```
 */
export function tlsFailureMessage(peer: string, failure: TlsFailure): string {
  if (failure.kind === "connect") return `TLS connect to ${peer} failed: ${failure.reason}`;
  const raw = failure.kind === "other" ? "" : ` [${failure.code ?? failure.raw}]`;
  return `TLS handshake with ${peer} failed: ${failure.reason}${raw}`;
}

/**
 * Recognize TLS records arriving on a plaintext connection, so a node without a passphrase can
 * say why a peer makes no sense: `"client-hello"` when a TLS node dials us (`16 03 0x`), `"alert"`
 * when we dialled a TLS node and got its alert back (`15 03 0x`).
 *
 * @param firstBytes The first bytes received on the connection (at least 3 to decide).
 * @returns What the bytes look like, or `undefined` when they are not TLS.
 *
 * @example
 * ```ts
 * import { sniffTls } from "./classify.ts";
 * console.log(sniffTls(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00]))); // "client-hello"
 * ```
 */
export function sniffTls(firstBytes: Uint8Array): "client-hello" | "alert" | undefined {
  if (firstBytes.length < 3 || firstBytes[1] !== 0x03 || firstBytes[2] > 0x04) return undefined;
  if (firstBytes[0] === 0x16) return "client-hello";
  if (firstBytes[0] === 0x15) return "alert";
  return undefined;
}

/**
 * The message a plaintext node should log when {@linkcode sniffTls} recognizes TLS.
 *
 * @param peer `host:port` of the other side.
 * @param what The result of {@linkcode sniffTls}.
 * @returns One line.
 *
 * @example
 * ```ts
 * import { plaintextPeerMessage } from "./classify.ts";
 * console.log(plaintextPeerMessage("127.0.0.1:7001", "client-hello"));
 * ```
 */
export function plaintextPeerMessage(peer: string, what: "client-hello" | "alert"): string {
  return what === "client-hello"
    ? `connection from ${peer} refused: the peer speaks TLS (it runs with a passphrase, this node has none)`
    : `connection to ${peer} failed: the peer speaks TLS (it runs with a passphrase, this node has none)`;
}
