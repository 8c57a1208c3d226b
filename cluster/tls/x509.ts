/**
 * A small DER encoder and X.509 v3 certificate builder on WebCrypto: just enough for the
 * cluster CA and the per-node leaf certificates. No dependencies and no global state.
 *
 * Supported signing keys: Ed25519 (signature algorithm `id-Ed25519`) and ECDSA P-256
 * (`ecdsa-with-SHA256`). Certificates are accepted by rustls (Deno) and OpenSSL (Node), and
 * parsed correctly by `node:crypto`'s `X509Certificate`.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// DER

function len(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | out.length, ...out];
}

function cat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(new ArrayBuffer(n));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Encode one DER TLV.
 *
 * @param tag The identifier octet.
 * @param content The contents, or the already-encoded children to concatenate.
 * @returns The encoded element.
 *
 * @example
 * ```ts
 * import { derTlv } from "./x509.ts";
 * console.log(derTlv(0x05, new Uint8Array(0))); // Uint8Array [5, 0] (NULL)
 * ```
 */
export function derTlv(
  tag: number,
  content: Uint8Array | readonly Uint8Array[],
): Uint8Array<ArrayBuffer> {
  const body = content instanceof Uint8Array ? content : cat(content);
  return cat([new Uint8Array([tag, ...len(body.length)]), body]);
}

const seq = (...c: Uint8Array[]): Uint8Array<ArrayBuffer> => derTlv(0x30, c);
const set = (...c: Uint8Array[]): Uint8Array<ArrayBuffer> => derTlv(0x31, c);
const octets = (b: Uint8Array): Uint8Array<ArrayBuffer> => derTlv(0x04, b);
const bits = (b: Uint8Array, unused = 0): Uint8Array<ArrayBuffer> =>
  derTlv(0x03, cat([new Uint8Array([unused]), b]));
const utf8 = (s: string): Uint8Array<ArrayBuffer> => derTlv(0x0c, new TextEncoder().encode(s));
const explicit = (n: number, c: Uint8Array): Uint8Array<ArrayBuffer> => derTlv(0xa0 | n, c);
const TRUE = new Uint8Array([0x01, 0x01, 0xff]);

/** A non-negative DER INTEGER from big-endian magnitude bytes (minimal encoding). */
function uint(b: Uint8Array): Uint8Array<ArrayBuffer> {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const mag = b.subarray(i);
  return derTlv(0x02, mag[0] & 0x80 ? cat([new Uint8Array([0]), mag]) : mag);
}

/**
 * Encode a dotted OBJECT IDENTIFIER.
 *
 * @param dotted e.g. `"2.5.29.17"`.
 * @returns The DER element.
 *
 * @example
 * ```ts
 * import { derOid } from "./x509.ts";
 * console.log(derOid("1.3.101.112")); // Uint8Array [6, 3, 43, 101, 112]
 * ```
 */
export function derOid(dotted: string): Uint8Array<ArrayBuffer> {
  const arcs = dotted.split(".").map(Number);
  const out = [40 * arcs[0] + arcs[1]];
  for (const a of arcs.slice(2)) {
    const chunk = [a & 0x7f];
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift(0x80 | (v & 0x7f));
    }
    out.push(...chunk);
  }
  return derTlv(0x06, new Uint8Array(out));
}

function time(d: Date): Uint8Array<ArrayBuffer> {
  const y = d.getUTCFullYear();
  const p = (n: number) => String(n).padStart(2, "0");
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}` +
    `${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const enc = new TextEncoder();
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return y >= 1950 && y < 2050
    ? derTlv(0x17, enc.encode(`${p(y % 100)}${rest}`))
    : derTlv(0x18, enc.encode(`${String(y).padStart(4, "0")}${rest}`));
}

// ---------------------------------------------------------------------------------------------
// Addresses

/**
 * Parse an IPv4 or IPv6 literal into its 4 or 16 bytes; `undefined` when it is not one.
 *
 * @param s The text (IPv6 may be bracketed; zone ids are not allowed).
 * @returns The address bytes.
 *
 * @example
 * ```ts
 * import { parseIp } from "./x509.ts";
 * console.log(parseIp("127.0.0.1")); // Uint8Array [127, 0, 0, 1]
 * console.log(parseIp("pulsing.local")); // undefined
 * ```
 */
export function parseIp(s: string): Uint8Array | undefined {
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? new Uint8Array(b) : undefined;
  }
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    const parts = h.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const tail = parseIp(part);
        if (!tail || tail.length !== 4) return undefined;
        out.push((tail[0] << 8) | tail[1], (tail[2] << 8) | tail[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) out.push(parseInt(part, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Certificates

/** A distinguished name: common name and organization. */
export interface CertName {
  /** commonName (2.5.4.3). */
  cn: string;
  /** organizationName (2.5.4.10). */
  o?: string;
}

/** What {@linkcode buildCertificate} needs. */
export interface CertificateSpec {
  /** Serial number bytes (big-endian, positive; at most 20 bytes). */
  serial: Uint8Array;
  /** Subject name. */
  subject: CertName;
  /** Issuer name (equal to the subject for a self-signed certificate). */
  issuer: CertName;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** The certified public key (extractable, Ed25519 or ECDSA P-256). */
  publicKey: CryptoKey;
  /** The issuer's private key, used to sign (Ed25519 or ECDSA P-256). */
  signingKey: CryptoKey;
  /** The issuer's public key, for the AuthorityKeyIdentifier. */
  issuerPublicKey: CryptoKey;
  /** `true` for a CA certificate (basicConstraints cA, keyCertSign). */
  isCa: boolean;
  /** DNS subjectAltNames. */
  dnsNames?: string[];
  /** IP subjectAltNames (IPv4 or IPv6 literals). */
  ipAddresses?: string[];
}

const OID = {
  cn: "2.5.4.3",
  o: "2.5.4.10",
  ed25519: "1.3.101.112",
  ecdsaSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

function name(n: CertName): Uint8Array<ArrayBuffer> {
  const rdns = [];
  if (n.o !== undefined) rdns.push(set(seq(derOid(OID.o), utf8(n.o))));
  rdns.push(set(seq(derOid(OID.cn), utf8(n.cn))));
  return seq(...rdns);
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array<ArrayBuffer> {
  return critical ? seq(derOid(oid), TRUE, octets(value)) : seq(derOid(oid), octets(value));
}

function signatureAlgorithm(key: CryptoKey): Uint8Array<ArrayBuffer> {
  if (key.algorithm.name === "Ed25519") return seq(derOid(OID.ed25519));
  if (key.algorithm.name === "ECDSA") return seq(derOid(OID.ecdsaSha256));
  throw new TypeError(`x509: unsupported signing key ${key.algorithm.name}`);
}

async function sign(key: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  if (key.algorithm.name === "Ed25519") {
    return new Uint8Array(await crypto.subtle.sign("Ed25519", key, data));
  }
  // WebCrypto returns r ‖ s; X.509 wants Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
  const rs = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data),
  );
  const half = rs.length / 2;
  return seq(uint(rs.subarray(0, half)), uint(rs.subarray(half)));
}

/**
 * The key identifier of a public key: the first 20 bytes of SHA-256 over the subjectPublicKey
 * bits (RFC 7093 method 1).
 *
 * @param key An extractable public key.
 * @returns 20 bytes.
 *
 * @example
 * ```ts
 * import { keyIdentifier } from "./x509.ts";
 * const { publicKey } = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
 * console.log((await keyIdentifier(publicKey)).length); // 20
 * ```
 */
export async function keyIdentifier(key: CryptoKey): Promise<Uint8Array> {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", key));
  return new Uint8Array(await crypto.subtle.digest("SHA-256", raw)).subarray(0, 20);
}

/**
 * Build and sign an X.509 v3 certificate.
 *
 * CA certificates get basicConstraints `cA` (critical), keyUsage keyCertSign + cRLSign +
 * digitalSignature (critical). Leaf certificates get basicConstraints without `cA`, keyUsage
 * digitalSignature (critical) and extendedKeyUsage serverAuth + clientAuth. Both get the
 * subject and authority key identifiers, and subjectAltName when names are given.
 *
 * @param spec What to certify and who signs.
 * @returns The certificate in DER.
 *
 * @example
 * ```ts
 * import { buildCertificate, toPem } from "./x509.ts";
 * const k = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
 * const der = await buildCertificate({
 *   serial: new Uint8Array([1]), subject: { cn: "test" }, issuer: { cn: "test" },
 *   notBefore: new Date(0), notAfter: new Date("2100-01-01"), publicKey: k.publicKey,
 *   signingKey: k.privateKey, issuerPublicKey: k.publicKey, isCa: true,
 * });
 * console.log(toPem("CERTIFICATE", der).startsWith("-----BEGIN CERTIFICATE-----")); // true
 * ```
 */
export async function buildCertificate(spec: CertificateSpec): Promise<Uint8Array<ArrayBuffer>> {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", spec.publicKey));
  const ski = await keyIdentifier(spec.publicKey);
  const aki = await keyIdentifier(spec.issuerPublicKey);
  const exts: Uint8Array[] = [];
  if (spec.isCa) {
    exts.push(extension(OID.basicConstraints, true, seq(TRUE)));
    // digitalSignature(0), keyCertSign(5), cRLSign(6): 1000 0110, 1 unused bit.
    exts.push(extension(OID.keyUsage, true, bits(new Uint8Array([0x86]), 1)));
  } else {
    exts.push(extension(OID.basicConstraints, true, seq()));
    // digitalSignature(0): 1000 0000, 7 unused bits.
    exts.push(extension(OID.keyUsage, true, bits(new Uint8Array([0x80]), 7)));
    exts.push(
      extension(OID.extKeyUsage, false, seq(derOid(OID.serverAuth), derOid(OID.clientAuth))),
    );
  }
  exts.push(extension(OID.subjectKeyId, false, octets(ski)));
  exts.push(extension(OID.authorityKeyId, false, seq(derTlv(0x80, aki))));
  const general: Uint8Array[] = [];
  for (const d of spec.dnsNames ?? []) general.push(derTlv(0x82, new TextEncoder().encode(d)));
  for (const ip of spec.ipAddresses ?? []) {
    const b = parseIp(ip);
    if (!b) throw new TypeError(`x509: not an IP address: ${ip}`);
    general.push(derTlv(0x87, b));
  }
  if (general.length > 0) exts.push(extension(OID.subjectAltName, false, seq(...general)));

  const sigAlg = signatureAlgorithm(spec.signingKey);
  const tbs = seq(
    explicit(0, uint(new Uint8Array([2]))), // v3
    uint(spec.serial),
    sigAlg,
    name(spec.issuer),
    seq(time(spec.notBefore), time(spec.notAfter)),
    name(spec.subject),
    spki,
    explicit(3, seq(...exts)),
  );
  return seq(tbs, sigAlg, bits(await sign(spec.signingKey, tbs)));
}

/**
 * PEM-armour DER bytes.
 *
 * @param label `"CERTIFICATE"`, `"PRIVATE KEY"`, ...
 * @param der The DER bytes.
 * @returns The PEM text, ending with a newline.
 *
 * @example
 * ```ts
 * import { toPem } from "./x509.ts";
 * console.log(toPem("CERTIFICATE", new Uint8Array([1, 2, 3])));
 * // -----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n
 * ```
 */
export function toPem(label: string, der: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < der.length; i += 0x8000) {
    bin += String.fromCharCode(...der.subarray(i, i + 0x8000));
  }
  const b64 = btoa(bin).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
