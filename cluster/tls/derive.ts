/**
 * Deterministic derivation of the cluster CA key from a passphrase.
 *
 * Every node that knows the passphrase computes the same CA private key, signs its own leaf
 * certificate with it, and trusts only certificates signed by that CA. Nothing secret ever goes
 * on the wire; the CA key never leaves the process.
 *
 * ## Scheme `pulsing/cluster-ca/v1` (frozen: changing any step is a new version)
 *
 * 1. `P = UTF-8(NFC(passphrase))`. The passphrase must not be empty.
 * 2. `M = PBKDF2-HMAC-SHA256(P, salt = UTF-8("pulsing/cluster-ca/v1/pbkdf2"), c = 600000, 32 bytes)`.
 *    600 000 iterations is the OWASP 2023 figure for PBKDF2-SHA256; it costs about 65 ms on
 *    Deno and 95 ms on Node 20 here, once per process. (WebCrypto on Deno and Node 20 has no
 *    scrypt or Argon2, and `node:crypto` scrypt would tie this module to the Node API.)
 * 3. `seed = HKDF-SHA256(IKM = M, salt = empty, info = UTF-8("pulsing/cluster-ca/v1/" + alg), L)`
 *    with `alg` = `ed25519` (L = 32) or `p256` (L = 48).
 * 4. The private key:
 *    - **Ed25519** (the default): `seed` is the RFC 8032 private key, wrapped in PKCS#8 as in
 *      RFC 8410 (`302e020100300506032b657004220420 ‖ seed`).
 *    - **P-256**: `d = (seed mod (n − 1)) + 1` (FIPS 186-5 A.2.1, 48 bytes so the bias is
 *      below 2^-128), wrapped in a SEC 1 `ECPrivateKey` inside PKCS#8 without the public key;
 *      WebCrypto computes the public point on import.
 *
 * Ed25519 signatures are deterministic, so with Ed25519 the CA certificate built on top of this
 * key is byte-identical on every node and every runtime. Both algorithms are accepted for mutual
 * TLS by rustls (Deno) and OpenSSL (Node 20, and `node:tls` in Deno).
 *
 * Anyone who sees a leaf certificate of the cluster can test passphrase guesses offline (derive,
 * then check the leaf's signature); the PBKDF2 cost is what slows that down. Use a long random
 * passphrase.
 *
 * @module
 */

import { PulsingRuntimeError } from "../../core/errors.ts";

/** The versioned name of the derivation scheme described in the module doc. */
export const CLUSTER_CA_SCHEME = "pulsing/cluster-ca/v1";
/** PBKDF2-HMAC-SHA256 iteration count of scheme v1. */
export const CLUSTER_CA_PBKDF2_ITERATIONS = 600_000;
/** The fixed PBKDF2 salt of scheme v1 (the passphrase is the only secret input). */
export const CLUSTER_CA_PBKDF2_SALT: string = `${CLUSTER_CA_SCHEME}/pbkdf2`;

/** A key algorithm for cluster certificates. `"Ed25519"` is the default. */
export type ClusterKeyAlgorithm = "Ed25519" | "P-256";

/** The derived CA key pair. */
export interface DerivedCaKey {
  /** The key algorithm. */
  algorithm: ClusterKeyAlgorithm;
  /** The CA private key (not extractable; used only to sign). */
  privateKey: CryptoKey;
  /** The CA public key (extractable, for the certificate's SubjectPublicKeyInfo). */
  publicKey: CryptoKey;
}

/** Options of {@linkcode deriveCaKey}. */
export interface DeriveCaKeyOptions {
  /** The key algorithm (default `"Ed25519"`). Every node of a cluster must use the same one. */
  algorithm?: ClusterKeyAlgorithm;
}

const enc = new TextEncoder();

/** A fresh `Uint8Array<ArrayBuffer>` copy (what WebCrypto's `BufferSource` wants under TS 6). */
function buf(bytes: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

/**
 * The 32-byte master secret of scheme v1 (step 2): PBKDF2-HMAC-SHA256 of the passphrase.
 *
 * @param passphrase The cluster passphrase (non-empty).
 * @returns 32 bytes.
 * @throws {PulsingRuntimeError} When the passphrase is empty.
 *
 * @example
 * ```ts
 * import { derivePassphraseSecret } from "./derive.ts";
 * const m = await derivePassphraseSecret("correct horse battery staple");
 * console.log(m.length); // 32
 * ```
 */
export async function derivePassphraseSecret(passphrase: string): Promise<Uint8Array<ArrayBuffer>> {
  if (typeof passphrase !== "string" || passphrase.length === 0) {
    throw new PulsingRuntimeError("TLS passphrase must be a non-empty string");
  }
  const p = buf(enc.encode(passphrase.normalize("NFC")));
  const base = await crypto.subtle.importKey("raw", p, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    {
      name: "PBKDF2",
      hash: "SHA-256",
      salt: buf(enc.encode(CLUSTER_CA_PBKDF2_SALT)),
      iterations: CLUSTER_CA_PBKDF2_ITERATIONS,
    },
    base,
    256,
  );
  return new Uint8Array(bits);
}

/**
 * HKDF-SHA256 expansion of the master secret into the seed of one key (step 3).
 *
 * @param secret The output of {@linkcode derivePassphraseSecret}.
 * @param label The HKDF info string.
 * @param length Output length in bytes.
 * @returns `length` bytes.
 *
 * @example
 * ```ts
 * import { derivePassphraseSecret, hkdfSeed } from "./derive.ts";
 * const seed = await hkdfSeed(await derivePassphraseSecret("pw"), "pulsing/cluster-ca/v1/ed25519", 32);
 * console.log(seed.length); // 32
 * ```
 */
export async function hkdfSeed(
  secret: Uint8Array,
  label: string,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const ikm = await crypto.subtle.importKey("raw", buf(secret), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: buf(enc.encode(label)) },
    ikm,
    length * 8,
  );
  return new Uint8Array(bits);
}

const ED25519_PKCS8_PREFIX = hex("302e020100300506032b657004220420");

// PKCS#8 { v0, { id-ecPublicKey, prime256v1 }, OCTET STRING { ECPrivateKey { 1, OCTET STRING d } } }
const P256_PKCS8_PREFIX = hex(
  "3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420",
);

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function bytesToBigInt(b: Uint8Array): bigint {
  let x = 0n;
  for (const v of b) x = (x << 8n) | BigInt(v);
  return x;
}

function bigIntTo32(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

function concat(a: ArrayLike<number>, b: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(a.length + b.length));
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Turn a seed into a key pair, deterministically (step 4 of the scheme).
 *
 * @param algorithm `"Ed25519"` (seed of 32 bytes) or `"P-256"` (seed of at least 32 bytes; v1 uses 48).
 * @param seed The seed bytes.
 * @returns The key pair; the private key is not extractable.
 *
 * @example
 * ```ts
 * import { keyFromSeed } from "./derive.ts";
 * const k = await keyFromSeed("Ed25519", new Uint8Array(32).fill(7));
 * console.log(k.privateKey.algorithm.name); // "Ed25519"
 * ```
 */
export async function keyFromSeed(
  algorithm: ClusterKeyAlgorithm,
  seed: Uint8Array,
): Promise<DerivedCaKey> {
  if (algorithm === "Ed25519") {
    if (seed.length !== 32) throw new PulsingRuntimeError("Ed25519 seed must be 32 bytes");
    const pkcs8 = concat(ED25519_PKCS8_PREFIX, seed);
    const alg = { name: "Ed25519" };
    const tmp = await crypto.subtle.importKey("pkcs8", pkcs8, alg, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", tmp);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, alg, false, ["sign"]);
    const publicKey = await crypto.subtle.importKey(
      "jwk",
      { kty: "OKP", crv: "Ed25519", x: jwk.x, ext: true },
      alg,
      true,
      ["verify"],
    );
    return { algorithm, privateKey, publicKey };
  }
  if (algorithm === "P-256") {
    if (seed.length < 32) throw new PulsingRuntimeError("P-256 seed must be at least 32 bytes");
    const d = (bytesToBigInt(seed) % (P256_N - 1n)) + 1n;
    const pkcs8 = concat(P256_PKCS8_PREFIX, bigIntTo32(d));
    const alg = { name: "ECDSA", namedCurve: "P-256" };
    const tmp = await crypto.subtle.importKey("pkcs8", pkcs8, alg, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", tmp);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, alg, false, ["sign"]);
    const publicKey = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
      alg,
      true,
      ["verify"],
    );
    return { algorithm, privateKey, publicKey };
  }
  throw new PulsingRuntimeError(`Unsupported cluster key algorithm: ${String(algorithm)}`);
}

/**
 * Derive the cluster CA key pair from a passphrase with scheme `pulsing/cluster-ca/v1`.
 * Same passphrase and algorithm → same key, on every node and runtime.
 *
 * @param passphrase The cluster passphrase (non-empty).
 * @param options The key algorithm.
 * @returns The CA key pair.
 * @throws {PulsingRuntimeError} When the passphrase is empty.
 *
 * @example
 * ```ts
 * import { deriveCaKey } from "./derive.ts";
 * const ca = await deriveCaKey("correct horse battery staple");
 * console.log(ca.algorithm); // "Ed25519"
 * ```
 */
export async function deriveCaKey(
  passphrase: string,
  options: DeriveCaKeyOptions = {},
): Promise<DerivedCaKey> {
  const algorithm = options.algorithm ?? "Ed25519";
  if (algorithm !== "Ed25519" && algorithm !== "P-256") {
    throw new PulsingRuntimeError(`Unsupported cluster key algorithm: ${String(algorithm)}`);
  }
  const secret = await derivePassphraseSecret(passphrase);
  const label = `${CLUSTER_CA_SCHEME}/${algorithm === "Ed25519" ? "ed25519" : "p256"}`;
  const seed = await hkdfSeed(secret, label, algorithm === "Ed25519" ? 32 : 48);
  secret.fill(0);
  try {
    return await keyFromSeed(algorithm, seed);
  } finally {
    seed.fill(0);
  }
}
