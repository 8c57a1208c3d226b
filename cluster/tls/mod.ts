/**
 * Cluster TLS material from a passphrase: the deterministic cluster CA (see `derive.ts` for the
 * versioned scheme) and a fresh leaf certificate for this node, signed by that CA.
 *
 * ```ts
 * import { clusterTlsMaterial } from "./mod.ts";
 * const tls = await clusterTlsMaterial("correct horse battery staple", { hosts: ["10.0.0.5"] });
 * // tls.caPem → trust anchor, tls.certPem + tls.keyPem → this node's identity
 * ```
 *
 * @module
 */

import { type ClusterKeyAlgorithm, deriveCaKey, type DerivedCaKey } from "./derive.ts";
import { buildCertificate, type CertName, keyIdentifier, parseIp, toPem } from "./x509.ts";

export { CLUSTER_CA_SCHEME, type ClusterKeyAlgorithm } from "./derive.ts";

/** The DNS name every leaf carries and every client verifies (peers are dialled by IP). */
export const CLUSTER_SERVER_NAME = "pulsing.local";

/** Fixed start of validity of every cluster certificate: 2020-01-01T00:00:00Z (no clock-skew trouble). */
export const CLUSTER_NOT_BEFORE: Date = new Date(Date.UTC(2020, 0, 1));
/** Fixed end of validity of the CA: 9999-12-31T23:59:59Z (RFC 5280 "no well-defined expiration"). */
export const CLUSTER_CA_NOT_AFTER: Date = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));
/** Validity of a leaf from the moment it is issued: 10 years. */
export const LEAF_VALIDITY_MS: number = 10 * 365 * 24 * 3600 * 1000;

/** The derived cluster CA. */
export interface ClusterCa {
  /** The CA key pair (the private key is not extractable). */
  key: DerivedCaKey;
  /** The CA subject (`CN=Pulsing Cluster CA <key id>, O=Pulsing`). */
  name: CertName;
  /** The self-signed CA certificate, DER. */
  certDer: Uint8Array;
  /** The same, PEM. */
  caPem: string;
  /** Hex SHA-256 of the CA certificate DER (log the first 16 characters to compare nodes). */
  fingerprint: string;
}

/** Options of {@linkcode deriveClusterCa} and {@linkcode clusterTlsMaterial}. */
export interface ClusterCaOptions {
  /** Key algorithm (default `"Ed25519"`); every node of a cluster must use the same. */
  algorithm?: ClusterKeyAlgorithm;
}

/** Options of {@linkcode issueLeaf}. */
export interface IssueLeafOptions {
  /**
   * Extra names for the leaf's subjectAltName: IP literals become IP SANs, anything else a DNS
   * SAN. Unspecified addresses (`0.0.0.0`, `::`) are skipped. Always present: DNS `localhost`
   * and `pulsing.local`, IP `127.0.0.1` and `::1`.
   */
  hosts?: string[];
  /** Override the leaf's common name (default `Pulsing Node <8 random hex digits>`). */
  commonName?: string;
}

/** Options of {@linkcode clusterTlsMaterial}. */
export interface ClusterTlsOptions extends ClusterCaOptions, IssueLeafOptions {}

/** A node's leaf certificate and private key. */
export interface LeafMaterial {
  /** The leaf certificate, PEM. */
  certPem: string;
  /** Its private key, PKCS#8 PEM. */
  keyPem: string;
}

/** Everything a node needs for mutual TLS. */
export interface ClusterTlsMaterial extends LeafMaterial {
  /** The cluster CA certificate, PEM (the only trust anchor). */
  caPem: string;
  /** Hex SHA-256 of the CA certificate (same on every node with the same passphrase). */
  fingerprint: string;
  /** The key algorithm used. */
  algorithm: ClusterKeyAlgorithm;
  /** How long the steps took, in milliseconds (for the startup log). */
  timings: { caMs: number; leafMs: number };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function positiveSerial(b: Uint8Array): Uint8Array {
  const s = b.slice(0, 16);
  s[0] = (s[0] & 0x7f) | 0x40; // positive, and minimal (no leading zero byte)
  return s;
}

/**
 * Derive the cluster CA from the passphrase: key (scheme `pulsing/cluster-ca/v1`) and its
 * self-signed certificate. Deterministic: same passphrase and algorithm → same key and, with
 * Ed25519 (the default), byte-identical certificate.
 *
 * @param passphrase The cluster passphrase (non-empty).
 * @param options The key algorithm.
 * @returns The CA.
 * @throws {PulsingRuntimeError} When the passphrase is empty.
 *
 * @example
 * ```ts
 * import { deriveClusterCa } from "./mod.ts";
 * const ca = await deriveClusterCa("correct horse battery staple");
 * console.log(ca.fingerprint.slice(0, 16));
 * ```
 */
export async function deriveClusterCa(
  passphrase: string,
  options: ClusterCaOptions = {},
): Promise<ClusterCa> {
  const key = await deriveCaKey(passphrase, options);
  const kid = await keyIdentifier(key.publicKey);
  // The key id in the name makes a wrong passphrase an "unknown issuer" rather than a "bad
  // signature" failure. It reveals nothing: the public key is in the certificate anyway.
  const name: CertName = { cn: `Pulsing Cluster CA ${hex(kid.subarray(0, 4))}`, o: "Pulsing" };
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key.publicKey));
  const serial = positiveSerial(new Uint8Array(await crypto.subtle.digest("SHA-256", spki)));
  const certDer = await buildCertificate({
    serial,
    subject: name,
    issuer: name,
    notBefore: CLUSTER_NOT_BEFORE,
    notAfter: CLUSTER_CA_NOT_AFTER,
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    issuerPublicKey: key.publicKey,
    isCa: true,
  });
  const fingerprint = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", certDer)));
  return { key, name, certDer, caPem: toPem("CERTIFICATE", certDer), fingerprint };
}

/**
 * Issue a leaf certificate for this node: a fresh key pair of the CA's algorithm, signed by the
 * CA, with EKU serverAuth + clientAuth and the SANs described in {@linkcode IssueLeafOptions}.
 *
 * @param ca The cluster CA from {@linkcode deriveClusterCa}.
 * @param options Extra SAN hosts and the common name.
 * @returns The leaf certificate and its private key, PEM.
 *
 * @example
 * ```ts
 * import { deriveClusterCa, issueLeaf } from "./mod.ts";
 * const ca = await deriveClusterCa("correct horse battery staple");
 * const leaf = await issueLeaf(ca, { hosts: ["10.0.0.5", "node-a.internal"] });
 * console.log(leaf.keyPem.startsWith("-----BEGIN PRIVATE KEY-----")); // true
 * ```
 */
export async function issueLeaf(
  ca: ClusterCa,
  options: IssueLeafOptions = {},
): Promise<LeafMaterial> {
  const alg = ca.key.algorithm === "Ed25519"
    ? { name: "Ed25519" }
    : { name: "ECDSA", namedCurve: "P-256" };
  const pair = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const dns = new Set(["localhost", CLUSTER_SERVER_NAME]);
  const ips = new Set(["127.0.0.1", "::1"]);
  for (const h of options.hosts ?? []) {
    const host = h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
    const b = parseIp(host);
    if (!b) {
      if (host !== "") dns.add(host.toLowerCase());
    } else if (!b.every((x) => x === 0)) ips.add(host);
  }
  const random = crypto.getRandomValues(new Uint8Array(20));
  const certDer = await buildCertificate({
    serial: positiveSerial(random),
    subject: { cn: options.commonName ?? `Pulsing Node ${hex(random.subarray(16))}`, o: "Pulsing" },
    issuer: ca.name,
    notBefore: CLUSTER_NOT_BEFORE,
    notAfter: new Date(Date.now() + LEAF_VALIDITY_MS),
    publicKey: pair.publicKey,
    signingKey: ca.key.privateKey,
    issuerPublicKey: ca.key.publicKey,
    isCa: false,
    dnsNames: [...dns],
    ipAddresses: [...ips],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return { certPem: toPem("CERTIFICATE", certDer), keyPem: toPem("PRIVATE KEY", pkcs8) };
}

/**
 * Derive the cluster CA from the passphrase and issue this node's leaf in one call: what a
 * node does once at start (about 70–100 ms, almost all of it the PBKDF2 step).
 *
 * @param passphrase The cluster passphrase (non-empty).
 * @param options The node's hosts (bind address, advertised names) and the key algorithm.
 * @returns CA PEM, leaf certificate and key PEM, CA fingerprint and timings.
 * @throws {PulsingRuntimeError} When the passphrase is empty.
 *
 * @example
 * ```ts
 * import { clusterTlsMaterial } from "./mod.ts";
 * const m = await clusterTlsMaterial("correct horse battery staple", { hosts: ["127.0.0.1"] });
 * console.log(`cluster CA ${m.fingerprint.slice(0, 16)} (${m.timings.caMs.toFixed(0)} ms)`);
 * ```
 */
export async function clusterTlsMaterial(
  passphrase: string,
  options: ClusterTlsOptions = {},
): Promise<ClusterTlsMaterial> {
  const t0 = performance.now();
  const ca = await deriveClusterCa(passphrase, options);
  const t1 = performance.now();
  const leaf = await issueLeaf(ca, options);
  const t2 = performance.now();
  return {
    caPem: ca.caPem,
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
    fingerprint: ca.fingerprint,
    algorithm: ca.key.algorithm,
    timings: { caMs: t1 - t0, leafMs: t2 - t1 },
  };
}
