/**
 * Identifiers: {@linkcode ActorId} and {@linkcode NodeId}, both random 128-bit values shown as
 * 32 lowercase hex characters (no dashes).
 *
 * @module
 */

const HEX32 = /^[0-9a-f]{32}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DECIMAL = /^[0-9]{1,39}$/;

/** Random bytes drawn from the CSPRNG 4 KiB at a time (256 ids per refill). */
const pool = new Uint8Array(4096);
let poolPos = pool.length;
const HEX_CODES = new Uint8Array([...`0123456789abcdef`].map((c) => c.charCodeAt(0)));
const digits = new Uint16Array(32);

/**
 * 128 random bits as 32 lowercase hex characters, built as one flat string (spawning many
 * actors makes no intermediate strings).
 */
function random128(): string {
  if (poolPos === pool.length) {
    crypto.getRandomValues(pool);
    poolPos = 0;
  }
  const d = digits;
  for (let i = 0; i < 32; i += 2) {
    const v = pool[poolPos++];
    d[i] = HEX_CODES[v >> 4];
    d[i + 1] = HEX_CODES[v & 15];
  }
  // deno-fmt-ignore
  return String.fromCharCode(
    d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13],
    d[14], d[15], d[16], d[17], d[18], d[19], d[20], d[21], d[22], d[23], d[24], d[25], d[26],
    d[27], d[28], d[29], d[30], d[31],
  );
}

function parse128(text: string, what: string): string {
  const s = String(text).trim().toLowerCase();
  if (HEX32.test(s)) return s;
  if (UUID.test(s)) return s.replaceAll("-", "");
  if (DECIMAL.test(s)) {
    const n = BigInt(s);
    if (n < 2n ** 128n) return n.toString(16).padStart(32, "0");
  }
  throw new TypeError(
    `Invalid ${what} format: ${
      JSON.stringify(text)
    } (expected 32 hex characters, a UUID or a decimal integer)`,
  );
}

/**
 * The identity of one actor: a random 128-bit value, kept across supervised restarts.
 *
 * @example
 * ```ts
 * import { ActorId } from "@pulsing/pulsing/core";
 * const id = ActorId.random();
 * console.log(ActorId.parse(id.toString()).equals(id)); // true
 * ```
 */
export class ActorId {
  /** The 32-hex-character form. */
  readonly value: string;
  /** Wrap a 32-hex string (use {@linkcode ActorId.parse} for untrusted text). */
  constructor(value: string) {
    this.value = value;
  }
  /** A fresh random id. */
  static random(): ActorId {
    return new ActorId(random128());
  }
  /**
   * Parse 32 hex characters, a UUID, or a decimal integer.
   * @throws {TypeError} on any other text.
   */
  static parse(text: string | ActorId): ActorId {
    return text instanceof ActorId ? text : new ActorId(parse128(text, "ActorId"));
  }
  /** Same id? */
  equals(other: ActorId): boolean {
    return other.value === this.value;
  }
  /** The 32-hex form. */
  toString(): string {
    return this.value;
  }
  /** The 32-hex form. */
  toJSON(): string {
    return this.value;
  }
}

/**
 * The identity of one node (one `ActorSystem`), fresh at every start.
 *
 * @example
 * ```ts
 * import { NodeId } from "@pulsing/pulsing/core";
 * const n = NodeId.random();
 * console.log(n.toString().length); // 32
 * ```
 */
export class NodeId {
  /** The 32-hex-character form. */
  readonly value: string;
  /** Wrap a 32-hex string (use {@linkcode NodeId.parse} for untrusted text). */
  constructor(value: string) {
    this.value = value;
  }
  /** A fresh random id. */
  static random(): NodeId {
    return new NodeId(random128());
  }
  /**
   * Parse 32 hex characters, a UUID, or a decimal integer.
   * @throws {TypeError} on any other text.
   */
  static parse(text: string | NodeId): NodeId {
    return text instanceof NodeId ? text : new NodeId(parse128(text, "NodeId"));
  }
  /** Same id? */
  equals(other: NodeId): boolean {
    return other.value === this.value;
  }
  /** The 32-hex form. */
  toString(): string {
    return this.value;
  }
  /** The 32-hex form. */
  toJSON(): string {
    return this.value;
  }
}
