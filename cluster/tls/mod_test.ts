import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { clusterTlsMaterial, deriveClusterCa, issueLeaf } from "./mod.ts";
import { PulsingRuntimeError } from "../../core/errors.ts";

Deno.test("mod: same passphrase → byte-identical CA; another → another CA", async () => {
  const a1 = await deriveClusterCa("same passphrase");
  const a2 = await deriveClusterCa("same passphrase");
  const b = await deriveClusterCa("other passphrase");
  assert.equal(a1.caPem, a2.caPem);
  assert.equal(a1.fingerprint, a2.fingerprint);
  assert.match(a1.fingerprint, /^[0-9a-f]{64}$/);
  assert.notEqual(a1.fingerprint, b.fingerprint);
  // Different passphrases also give different CA names (clearer "unknown issuer" errors).
  assert.notEqual(a1.name.cn, b.name.cn);
  const c = new X509Certificate(a1.caPem);
  assert.equal(c.ca, true);
  assert.ok(c.verify(c.publicKey));
  assert.equal(c.validFrom, "Jan  1 00:00:00 2020 GMT");
});

Deno.test("mod: P-256 CA key is deterministic too", async () => {
  const a1 = await deriveClusterCa("p256 passphrase", { algorithm: "P-256" });
  const a2 = await deriveClusterCa("p256 passphrase", { algorithm: "P-256" });
  const pub = (pem: string) =>
    new X509Certificate(pem).publicKey.export({ format: "der", type: "spki" }).toString("hex");
  assert.equal(pub(a1.caPem), pub(a2.caPem));
  assert.equal(a1.name.cn, a2.name.cn);
});

Deno.test("mod: the leaf is signed by the CA and carries the SANs", async () => {
  const m = await clusterTlsMaterial("leaf passphrase", {
    hosts: ["10.1.2.3", "0.0.0.0", "::", "[fd00::5]", "Node-A.example"],
  });
  const ca = new X509Certificate(m.caPem);
  const leaf = new X509Certificate(m.certPem);
  const other = new X509Certificate((await deriveClusterCa("other passphrase")).caPem);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.verify(ca.publicKey));
  assert.ok(!leaf.verify(other.publicKey));
  assert.equal(leaf.ca, false);
  const san = leaf.subjectAltName ?? "";
  for (const want of ["DNS:localhost", "DNS:pulsing.local", "DNS:node-a.example"]) {
    assert.ok(san.includes(want), `${want} in ${san}`);
  }
  assert.match(san, /IP Address:127\.0\.0\.1/);
  assert.match(san, /IP Address:10\.1\.2\.3/);
  assert.match(san, /IP Address:(FD00:0:0:0:0:0:0:5|fd00::5)/i);
  assert.doesNotMatch(san, /IP Address:0\.0\.0\.0/);
  assert.match(m.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(m.algorithm, "Ed25519");
  assert.ok(m.timings.caMs > 0 && m.timings.leafMs > 0);
});

Deno.test("mod: every leaf has a fresh key", async () => {
  const ca = await deriveClusterCa("fresh leaves");
  const a = await issueLeaf(ca);
  const b = await issueLeaf(ca);
  assert.notEqual(a.keyPem, b.keyPem);
  assert.notEqual(
    new X509Certificate(a.certPem).serialNumber,
    new X509Certificate(b.certPem).serialNumber,
  );
});

Deno.test("mod: empty passphrase is a PulsingRuntimeError", async () => {
  await assert.rejects(clusterTlsMaterial(""), PulsingRuntimeError);
});
