import assert from "node:assert/strict";
import { classifyTlsError, plaintextPeerMessage, sniffTls, tlsFailureMessage } from "./classify.ts";

const err = (code: string | undefined, message: string) =>
  Object.assign(new Error(message), { code });

Deno.test("classify: errors observed on Deno and Node map to the right kind", () => {
  const cases: [unknown, "client" | "server", string][] = [
    [
      err("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
      "client",
      "passphrase-mismatch",
    ],
    [
      err("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
      "client",
      "passphrase-mismatch",
    ],
    [err(undefined, "invalid peer certificate: BadSignature"), "client", "passphrase-mismatch"],
    [
      err("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "received fatal alert: UnknownCA"),
      "server",
      "passphrase-mismatch",
    ],
    [err(undefined, "received fatal alert: DecryptError"), "server", "passphrase-mismatch"],
    [
      err("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE", "peer sent no certificates"),
      "server",
      "no-certificate",
    ],
    [
      err("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "received fatal alert: CertificateRequired"),
      "client",
      "no-certificate",
    ],
    [
      err("ERR_SSL_WRONG_VERSION_NUMBER", "received corrupt message of type InvalidContentType"),
      "server",
      "not-tls",
    ],
    [
      err("ERR_SSL_UNEXPECTED_MESSAGE", "error:0A0000F4:SSL routines::unexpected message"),
      "client",
      "not-tls",
    ],
    [
      err(
        "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
        "received unexpected handshake message: got ClientHello when expecting ServerHello",
      ),
      "client",
      "not-tls",
    ],
    [err("ERR_TLS_HANDSHAKE_TIMEOUT", "TLS handshake timeout"), "server", "timeout"],
    [err("ECONNRESET", "socket hang up"), "server", "closed"],
    [
      err(
        "ECONNRESET",
        "Client network socket disconnected before secure TLS connection was established",
      ),
      "client",
      "closed",
    ],
    [err("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1"), "client", "connect"],
    [err(undefined, "something else\nsecond line"), "client", "other"],
    ["a string", "client", "other"],
  ];
  for (const [e, side, kind] of cases) {
    assert.equal(classifyTlsError(e, side).kind, kind, String((e as Error).message ?? e));
  }
  assert.equal(classifyTlsError(err(undefined, "a\nb"), "client").raw, "a");
});

Deno.test("classify: one clear line", () => {
  const f = classifyTlsError(
    err("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
    "client",
  );
  const line = tlsFailureMessage("127.0.0.1:7001", f);
  assert.equal(
    line,
    "TLS handshake with 127.0.0.1:7001 failed: passphrase mismatch (peer certificate not signed by this cluster's CA) [SELF_SIGNED_CERT_IN_CHAIN]",
  );
  assert.ok(!line.includes("\n"));
  assert.match(
    tlsFailureMessage("h:1", classifyTlsError(err("ECONNREFUSED", "x"), "client")),
    /^TLS connect to h:1 failed/,
  );
});

Deno.test("classify: sniffTls recognizes TLS records on a plaintext connection", () => {
  assert.equal(sniffTls(new Uint8Array([0x16, 3, 1, 0, 200])), "client-hello");
  assert.equal(sniffTls(new Uint8Array([0x15, 3, 3, 0, 2, 2, 0x46])), "alert");
  assert.equal(sniffTls(new Uint8Array([0x16, 3])), undefined);
  assert.equal(sniffTls(new Uint8Array([0, 0, 0, 16])), undefined);
  assert.match(plaintextPeerMessage("h:1", "client-hello"), /speaks TLS/);
});
