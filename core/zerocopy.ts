/**
 * The zero-copy descriptor protocol.
 *
 * An object that has a `[zerocopy]()` method travels over the wire as the
 * {@linkcode ZeroCopyDescriptor} that method returns: its buffers go out as raw segments (never
 * copied into a bigger buffer, never base64'd) and the receiver gets a `ZeroCopyDescriptor`
 * (not the original class) with the buffers and the metadata.
 *
 * The mode comes from the environment variable `PULSING_ZEROCOPY`:
 * - `auto` (default): use the descriptor when the object provides one, else encode normally;
 * - `off`: ignore `[zerocopy]()`, encode every object normally (the receiver gets its fields);
 * - `force`: every message body must provide a descriptor, else a `TypeError`.
 *
 * `PULSING_ZEROCOPY_STREAM_THRESHOLD` (default 65536) and `PULSING_ZEROCOPY_CHUNK_BYTES`
 * (default 1 MiB, minimum 4096) are read too. In this port every payload of 64 KiB or more is
 * chunked by the frame layer (`streams/frame.ts`), descriptors included, so these two values are
 * informative: they are exposed by {@linkcode zeroCopyConfig} for layers that want them.
 *
 * The environment is read once, on first use (safely: Deno without `--allow-env` and runtimes
 * without an environment get the defaults); {@linkcode setZeroCopyConfig} overrides it.
 *
 * @module
 */

/**
 * The well-known symbol of the zero-copy method: `obj[zerocopy]()` returns a
 * {@linkcode ZeroCopyDescriptor}.
 *
 * @example
 * ```ts
 * import { zerocopy, ZeroCopyDescriptor } from "@pulsing/pulsing/core";
 * class Tensor {
 *   constructor(public data: Float32Array, public shape: number[]) {}
 *   [zerocopy](): ZeroCopyDescriptor {
 *     const bytes = new Uint8Array(this.data.buffer, this.data.byteOffset, this.data.byteLength);
 *     return new ZeroCopyDescriptor([bytes], { dtype: "float32", shape: this.shape });
 *   }
 * }
 * ```
 */
export const zerocopy: unique symbol = Symbol.for("pulsing.zerocopy") as typeof zerocopy;

/** Anything that offers a zero-copy form of itself. */
export interface ZeroCopyable {
  /** Return the descriptor that stands for this object on the wire. */
  [zerocopy](): ZeroCopyDescriptor;
}

/** Optional metadata of a {@linkcode ZeroCopyDescriptor}. */
export interface ZeroCopyDescriptorOptions {
  /** The element type, e.g. `"float32"`. */
  dtype?: string;
  /** The shape of the data, e.g. `[2, 3]`. */
  shape?: number[];
  /** The strides of the data, in elements or bytes (the producer decides). */
  strides?: number[];
  /** A free-form hint about how the buffers were produced or should be moved. */
  transport?: string;
  /** A checksum of the buffers (the producer decides the algorithm). */
  checksum?: string;
  /** The descriptor format version (default 1). */
  version?: number;
}

/** A view of bytes the descriptor accepts: `Uint8Array`, any `ArrayBufferView` or `ArrayBuffer`. */
export type ZeroCopyBuffer = Uint8Array | ArrayBufferView | ArrayBuffer;

/**
 * A set of raw buffers plus metadata that travels without copying. The receiver of an object
 * with a `[zerocopy]()` method gets one of these.
 *
 * @example
 * ```ts
 * import { ZeroCopyDescriptor } from "@pulsing/pulsing/core";
 * const d = new ZeroCopyDescriptor([new Uint8Array([1, 2, 3])], { dtype: "uint8", shape: [3] });
 * console.log(d.byteLength, d.version); // 3 1
 * ```
 */
export class ZeroCopyDescriptor {
  /** The raw buffers (never empty). */
  readonly buffers: Uint8Array[];
  /** The element type. */
  readonly dtype?: string;
  /** The shape. */
  readonly shape?: number[];
  /** The strides. */
  readonly strides?: number[];
  /** The transport hint. */
  readonly transport?: string;
  /** The checksum. */
  readonly checksum?: string;
  /** The format version. */
  readonly version: number;

  /**
   * Build a descriptor.
   *
   * @param buffers At least one buffer. `ArrayBuffer`s and other views are viewed as bytes,
   *   without copying.
   * @param options Metadata.
   * @throws {TypeError} When `buffers` is empty or holds something that is not bytes.
   */
  constructor(buffers: ZeroCopyBuffer[], options: ZeroCopyDescriptorOptions = {}) {
    if (!Array.isArray(buffers) || buffers.length === 0) {
      throw new TypeError("ZeroCopyDescriptor requires at least one buffer");
    }
    this.buffers = buffers.map(asBytes);
    if (options.dtype !== undefined) this.dtype = options.dtype;
    if (options.shape !== undefined) this.shape = options.shape;
    if (options.strides !== undefined) this.strides = options.strides;
    if (options.transport !== undefined) this.transport = options.transport;
    if (options.checksum !== undefined) this.checksum = options.checksum;
    this.version = options.version ?? 1;
  }

  /** The total number of bytes in {@linkcode ZeroCopyDescriptor.buffers}. */
  get byteLength(): number {
    let n = 0;
    for (const b of this.buffers) n += b.byteLength;
    return n;
  }
}

function asBytes(b: ZeroCopyBuffer): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  throw new TypeError(
    `ZeroCopyDescriptor buffers must be bytes (Uint8Array, ArrayBufferView or ArrayBuffer), got ${
      b === null ? "null" : typeof b
    }`,
  );
}

/** How values with a `[zerocopy]()` method are sent. */
export type ZeroCopyMode = "auto" | "off" | "force";

/** The zero-copy settings in force. */
export interface ZeroCopyConfig {
  /** `PULSING_ZEROCOPY`: `auto` (default), `off` or `force`. */
  mode: ZeroCopyMode;
  /** `PULSING_ZEROCOPY_STREAM_THRESHOLD`: bytes from which a payload is chunked (65536). */
  streamThreshold: number;
  /** `PULSING_ZEROCOPY_CHUNK_BYTES`: chunk size in bytes (1 MiB, at least 4096). */
  chunkBytes: number;
}

const DEFAULTS: ZeroCopyConfig = { mode: "auto", streamThreshold: 65536, chunkBytes: 1048576 };
let current: ZeroCopyConfig | undefined;

/** Read one environment variable without ever throwing (no permission, no environment). */
function readEnv(name: string): string | undefined {
  try {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    if (g.Deno?.env?.get) return g.Deno.env.get(name) ?? undefined;
    return g.process?.env?.[name] ?? undefined;
  } catch {
    return undefined;
  }
}

function readConfig(): ZeroCopyConfig {
  const raw = readEnv("PULSING_ZEROCOPY")?.trim().toLowerCase();
  const mode: ZeroCopyMode = raw === "off" || raw === "force" ? raw : "auto";
  const threshold = Number.parseInt(readEnv("PULSING_ZEROCOPY_STREAM_THRESHOLD") ?? "", 10);
  const chunk = Number.parseInt(readEnv("PULSING_ZEROCOPY_CHUNK_BYTES") ?? "", 10);
  return {
    mode,
    streamThreshold: Number.isFinite(threshold) && threshold >= 0
      ? threshold
      : DEFAULTS.streamThreshold,
    chunkBytes: Number.isFinite(chunk) && chunk > 0 ? Math.max(4096, chunk) : DEFAULTS.chunkBytes,
  };
}

/**
 * The zero-copy settings in force (read from the environment on first use).
 *
 * @returns The current settings.
 *
 * @example
 * ```ts
 * import { zeroCopyConfig } from "@pulsing/pulsing/core";
 * console.log(zeroCopyConfig().mode); // "auto" unless PULSING_ZEROCOPY says otherwise
 * ```
 */
export function zeroCopyConfig(): ZeroCopyConfig {
  return current ??= readConfig();
}

/**
 * Override the zero-copy settings (tests, embedders). Pass `undefined` to re-read the
 * environment.
 *
 * @param config The fields to change, or `undefined` to reset to the environment.
 * @returns The settings now in force.
 *
 * @example
 * ```ts
 * import { setZeroCopyConfig } from "@pulsing/pulsing/core";
 * setZeroCopyConfig({ mode: "off" });
 * setZeroCopyConfig(undefined); // back to the environment
 * ```
 */
export function setZeroCopyConfig(config: Partial<ZeroCopyConfig> | undefined): ZeroCopyConfig {
  if (config === undefined) {
    current = readConfig();
  } else {
    const base = zeroCopyConfig();
    current = {
      mode: config.mode ?? base.mode,
      streamThreshold: config.streamThreshold ?? base.streamThreshold,
      chunkBytes: config.chunkBytes !== undefined
        ? Math.max(4096, config.chunkBytes)
        : base.chunkBytes,
    };
  }
  return current;
}

/**
 * The descriptor a value stands for on the wire, under the given mode: the value itself when it
 * is a descriptor, the result of its `[zerocopy]()` method (unless the mode is `off`), or
 * `undefined` for an ordinary value.
 *
 * @param value Any value.
 * @param mode The mode (default: {@linkcode zeroCopyConfig}`().mode`).
 * @returns The descriptor, or `undefined`.
 * @throws {TypeError} When `[zerocopy]()` does not return a `ZeroCopyDescriptor`, or when the
 *   mode is `force` and the value offers no descriptor.
 *
 * @example
 * ```ts
 * import { toZeroCopy, zerocopy, ZeroCopyDescriptor } from "@pulsing/pulsing/core";
 * const blob = { [zerocopy]: () => new ZeroCopyDescriptor([new Uint8Array(4)]) };
 * console.log(toZeroCopy(blob, "auto")?.byteLength); // 4
 * console.log(toZeroCopy(blob, "off")); // undefined
 * ```
 */
export function toZeroCopy(
  value: unknown,
  mode: ZeroCopyMode = zeroCopyConfig().mode,
): ZeroCopyDescriptor | undefined {
  if (value instanceof ZeroCopyDescriptor) return value;
  if (mode !== "off" && value !== null && typeof value === "object") {
    const fn = (value as Partial<ZeroCopyable>)[zerocopy];
    if (typeof fn === "function") {
      const d = fn.call(value);
      if (!(d instanceof ZeroCopyDescriptor)) {
        throw new TypeError("[zerocopy]() must return a ZeroCopyDescriptor");
      }
      return d;
    }
  }
  if (mode === "force") {
    throw new TypeError("PULSING_ZEROCOPY=force but object does not provide [zerocopy]()");
  }
  return undefined;
}
