import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { buildCertificate, derOid, derTlv, keyIdentifier, parseIp, toPem } from "./x509.ts";

Deno.test("x509: DER primitives", () => {
  assert.deepEqual(derOid("1.3.101.112"), new Uint8Array([6, 3, 43, 101, 112]));
  assert.deepEqual(
    derOid("1.2.840.10045.4.3.2"),
    new Uint8Array([6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2]),
  );
  assert.deepEqual(
    derTlv(0x04, new Uint8Array(200)).subarray(0, 3),
    new Uint8Array([4, 0x81, 200]),
  );
  assert.deepEqual(
    derTlv(0x04, new Uint8Array(300)).subarray(0, 4),
    new Uint8Array([4, 0x82, 1, 44]),
  );
});

Deno.test("x509: parseIp", () => {
  assert.deepEqual(parseIp("10.0.0.255"), new Uint8Array([10, 0, 0, 255]));
  assert.equal(parseIp("10.0.0.256"), undefined);
  assert.equal(parseIp("pulsing.local"), undefined);
  assert.deepEqual(parseIp("::1"), new Uint8Array([...new Array(15).fill(0), 1]));
  assert.deepEqual(parseIp("[fe80::1:2]")?.subarray(0, 2), new Uint8Array([0xfe, 0x80]));
  assert.deepEqual(
    parseIp("::ffff:1.2.3.4")?.subarray(10),
    new Uint8Array([0xff, 0xff, 1, 2, 3, 4]),
  );
  assert.equal(parseIp("1::2::3"), undefined);
  assert.equal(parseIp("1:2:3:4:5:6:7:8:9"), undefined);
  assert.equal(parseIp("1:2:3:4:5:6:7:8")?.length, 16);
});

for (const alg of ["Ed25519", "P-256"] as const) {
  Deno.test(`x509 ${alg}: CA and leaf parse and verify with node:crypto`, async () => {
    const params = alg === "Ed25519" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
    const ca = await crypto.subtle.generateKey(params, true, ["sign", "verify"]) as CryptoKeyPair;
    const leaf = await crypto.subtle.generateKey(params, true, ["sign", "verify"]) as CryptoKeyPair;
    const caName = { cn: "Test CA", o: "Pulsing" };
    const caDer = await buildCertificate({
      serial: new Uint8Array([0x80, 1]), // needs a leading zero byte in DER
      subject: caName,
      issuer: caName,
      notBefore: new Date(Date.UTC(2020, 0, 1)),
      notAfter: new Date(Date.UTC(9999, 11, 31, 23, 59, 59)),
      publicKey: ca.publicKey,
      signingKey: ca.privateKey,
      issuerPublicKey: ca.publicKey,
      isCa: true,
    });
    const leafDer = await buildCertificate({
      serial: new Uint8Array([0, 0, 7]),
      subject: { cn: "node" },
      issuer: caName,
      notBefore: new Date(Date.UTC(2020, 0, 1)),
      notAfter: new Date(Date.UTC(2049, 0, 1)),
      publicKey: leaf.publicKey,
      signingKey: ca.privateKey,
      issuerPublicKey: ca.publicKey,
      isCa: false,
      dnsNames: ["pulsing.local"],
      ipAddresses: ["127.0.0.1", "::1"],
    });
    const c = new X509Certificate(toPem("CERTIFICATE", caDer));
    const l = new X509Certificate(toPem("CERTIFICATE", leafDer));
    assert.equal(c.ca, true);
    assert.equal(l.ca, false);
    assert.ok(c.verify(c.publicKey));
    assert.ok(l.checkIssued(c));
    assert.ok(l.verify(c.publicKey));
    assert.ok(!c.verify(l.publicKey));
    // Serials are minimal DER INTEGERs: 0x80 0x01 gains a zero byte, 0 0 7 loses two.
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    assert.ok(hex(caDer).includes("a003020102020300800130"));
    assert.ok(hex(leafDer).includes("a0030201020201073"));
    assert.match(l.serialNumber, /^0?7$/);
    assert.match(l.subjectAltName ?? "", /DNS:pulsing\.local/);
    assert.match(l.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    // EKU serverAuth + clientAuth (X509Certificate.keyUsage means different things on Deno
    // and Node, so look at the DER).
    assert.ok(hex(leafDer).includes("301406082b0601050507030106082b06010505070302"));
    assert.ok(!hex(caDer).includes("06082b06010505070301"));
    assert.equal(c.validTo, "Dec 31 23:59:59 9999 GMT"); // GeneralizedTime from 2050
    assert.equal(l.validTo, "Jan  1 00:00:00 2049 GMT"); // UTCTime before 2050
    assert.equal(l.checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(l.checkHost("pulsing.local"), "pulsing.local");
    assert.equal((await keyIdentifier(ca.publicKey)).length, 20);
  });
}

Deno.test("x509: toPem wraps at 64 columns", () => {
  const pem = toPem("CERTIFICATE", new Uint8Array(100));
  const lines = pem.trim().split("\n");
  assert.equal(lines[0], "-----BEGIN CERTIFICATE-----");
  assert.equal(lines[1].length, 64);
  assert.equal(lines.at(-1), "-----END CERTIFICATE-----");
});
