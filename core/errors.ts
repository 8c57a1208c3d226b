/**
 * The error hierarchy of Pulsing.
 *
 * ```
 * PulsingError
 * ├── PulsingRuntimeError      framework: not initialized, not found, transport, cluster
 * └── PulsingActorError        an error raised by user code inside an actor
 *     ├── PulsingBusinessError (code, message, details)
 *     ├── PulsingSystemError   (error, recoverable)
 *     ├── PulsingTimeoutError  (operation, durationMs)
 *     └── PulsingUnsupportedError (operation)
 * ```
 *
 * Every error crosses process boundaries with its class, message, name, code and details
 * intact: see {@linkcode errorToWire} and {@linkcode errorFromWire}.
 *
 * @module
 */

/** Options shared by the Pulsing error constructors. */
export interface PulsingErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * Base class of every error raised by Pulsing.
 *
 * @example
 * ```ts
 * import { PulsingError, PulsingRuntimeError } from "@pulsing/pulsing";
 * const e: PulsingError = new PulsingRuntimeError("boom");
 * console.log(e instanceof PulsingError); // true
 * ```
 */
export class PulsingError extends Error {
  /** Create an error with a message. */
  constructor(message: string, options?: PulsingErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A framework-level error: the system is not initialized, a name is not found, a connection
 * failed, the cluster said no. Never raised by user code inside an actor.
 *
 * @example
 * ```ts
 * import { PulsingRuntimeError } from "@pulsing/pulsing";
 * try {
 *   throw new PulsingRuntimeError("Named actor not found: actors/x");
 * } catch (e) {
 *   console.log(e instanceof PulsingRuntimeError); // true
 * }
 * ```
 */
export class PulsingRuntimeError extends PulsingError {}

/** Options of {@linkcode PulsingActorError}. */
export interface PulsingActorErrorOptions extends PulsingErrorOptions {
  /** The actor (its name, or its id when anonymous) that raised the error. */
  actorName?: string;
  /** The `name` of the original error (`"TypeError"`, `"RangeError"`, ...). */
  originalName?: string;
  /** The stack of the original error, as seen where it was thrown (possibly another node). */
  remoteStack?: string;
}

/**
 * An error thrown by user code inside an actor. When an actor method throws a plain `Error`,
 * the caller receives a `PulsingActorError` with the same message, the original error's name in
 * {@linkcode PulsingActorError.originalName} and its stack in
 * {@linkcode PulsingActorError.remoteStack}.
 *
 * @example
 * ```ts
 * import { PulsingActorError } from "@pulsing/pulsing";
 * const e = new PulsingActorError("value must be non-negative", {
 *   actorName: "actors/counter",
 *   originalName: "RangeError",
 * });
 * console.log(e.originalName); // "RangeError"
 * ```
 */
export class PulsingActorError extends PulsingError {
  /** The actor that raised the error, when known. */
  actorName?: string;
  /** The `name` of the error originally thrown in the actor. */
  originalName?: string;
  /** The stack trace of the original error. */
  remoteStack?: string;
  /** Create an actor error. */
  constructor(message: string, options?: PulsingActorErrorOptions) {
    super(message, options);
    this.actorName = options?.actorName;
    this.originalName = options?.originalName;
    this.remoteStack = options?.remoteStack;
  }
}

/**
 * A business-logic error with a numeric code, a message and optional details. Throw it from
 * an actor method and the caller, local or remote, receives the same class with the same
 * `code`, `message` and `details`.
 *
 * @example
 * ```ts
 * import { PulsingBusinessError } from "@pulsing/pulsing";
 * const e = new PulsingBusinessError(404, "user not found", { id: "u1" });
 * console.log(e.code, e.message, String(e)); // 404 "user not found" "PulsingBusinessError: [404] user not found"
 * ```
 */
export class PulsingBusinessError extends PulsingActorError {
  /** The application-defined error code. */
  code: number;
  /** Extra structured information (any value the codec can carry). */
  details?: unknown;
  /** Create a business error. */
  constructor(code: number, message: string, details?: unknown, options?: PulsingErrorOptions) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
  /** `"PulsingBusinessError: [code] message"`. */
  override toString(): string {
    return `${this.name}: [${this.code}] ${this.message}`;
  }
}

/**
 * An internal error of an actor or service; `recoverable` tells whether a retry may succeed.
 *
 * @example
 * ```ts
 * import { PulsingSystemError } from "@pulsing/pulsing";
 * const e = new PulsingSystemError("disk full", false);
 * console.log(e.error, e.recoverable); // "disk full" false
 * ```
 */
export class PulsingSystemError extends PulsingActorError {
  /** The error text. */
  error: string;
  /** Whether retrying may succeed. */
  recoverable: boolean;
  /** Create a system error. */
  constructor(error: string, recoverable = true, options?: PulsingErrorOptions) {
    super(error, options);
    this.error = error;
    this.recoverable = recoverable;
  }
}

/**
 * An operation did not finish in time.
 *
 * @example
 * ```ts
 * import { PulsingTimeoutError } from "@pulsing/pulsing";
 * const e = new PulsingTimeoutError("ask actors/slow", 500);
 * console.log(e.message); // "Operation 'ask actors/slow' timed out after 500ms"
 * ```
 */
export class PulsingTimeoutError extends PulsingActorError {
  /** What timed out. */
  operation: string;
  /** The duration that elapsed, in milliseconds. */
  durationMs: number;
  /** Create a timeout error. */
  constructor(operation: string, durationMs = 0, options?: PulsingErrorOptions) {
    super(`Operation '${operation}' timed out after ${durationMs}ms`, options);
    this.operation = operation;
    this.durationMs = durationMs;
  }
}

/**
 * The operation is not supported (by this actor, this runtime or this configuration).
 *
 * @example
 * ```ts
 * import { PulsingUnsupportedError } from "@pulsing/pulsing";
 * const e = new PulsingUnsupportedError("tell of a stream");
 * console.log(e.message); // "Unsupported operation: tell of a stream"
 * ```
 */
export class PulsingUnsupportedError extends PulsingActorError {
  /** The operation that is not supported. */
  operation: string;
  /** Create an unsupported-operation error. */
  constructor(operation: string, options?: PulsingErrorOptions) {
    super(`Unsupported operation: ${operation}`, options);
    this.operation = operation;
  }
}

/**
 * The portable form of an error, as it travels between nodes.
 *
 * @example
 * ```ts
 * import { errorToWire } from "@pulsing/pulsing/core";
 * const w = errorToWire(new TypeError("bad"), "actors/x");
 * console.log(w.cls, w.originalName); // "PulsingActorError" "TypeError"
 * ```
 */
export interface WireError {
  /** The Pulsing class name: `PulsingRuntimeError`, `PulsingBusinessError`, ... */
  cls: string;
  /** The error message. */
  message: string;
  /** The original error's `name`. */
  originalName?: string;
  /** The original stack. */
  stack?: string;
  /** The actor that raised it. */
  actorName?: string;
  /** `PulsingBusinessError.code`. */
  code?: number;
  /** `PulsingBusinessError.details`. */
  details?: unknown;
  /** `PulsingSystemError.recoverable`. */
  recoverable?: boolean;
  /** `PulsingTimeoutError.operation` / `PulsingUnsupportedError.operation`. */
  operation?: string;
  /** `PulsingTimeoutError.durationMs`. */
  durationMs?: number;
}

/**
 * Turn anything thrown inside an actor into a Pulsing error, keeping Pulsing errors as they
 * are and wrapping every other value into a {@linkcode PulsingActorError}.
 *
 * @param e The thrown value.
 * @param actorName The actor that threw it, recorded on wrapped errors.
 * @returns A `PulsingError`.
 *
 * @example
 * ```ts
 * import { toPulsingError } from "@pulsing/pulsing/core";
 * const e = toPulsingError(new RangeError("too big"), "actors/x");
 * console.log(e.name, e.message); // "PulsingActorError" "too big"
 * ```
 */
export function toPulsingError(e: unknown, actorName?: string): PulsingError {
  if (e instanceof PulsingError) return e;
  if (e instanceof Error) {
    return new PulsingActorError(e.message || e.name, {
      actorName,
      originalName: e.name,
      remoteStack: e.stack,
      cause: e,
    });
  }
  return new PulsingActorError(describeThrown(e), { actorName, originalName: typeof e });
}

function describeThrown(e: unknown): string {
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

/**
 * Encode an error for the wire (see {@linkcode WireError}).
 *
 * @param e The error (any thrown value).
 * @param actorName The actor that raised it, if known.
 * @returns Its portable form.
 *
 * @example
 * ```ts
 * import { errorFromWire, errorToWire, PulsingBusinessError } from "@pulsing/pulsing/core";
 * const back = errorFromWire(errorToWire(new PulsingBusinessError(409, "taken")));
 * console.log(back instanceof PulsingBusinessError); // true
 * ```
 */
export function errorToWire(e: unknown, actorName?: string): WireError {
  const p = toPulsingError(e, actorName);
  const w: WireError = { cls: p.constructor.name, message: p.message };
  if (!(p.constructor.name in ERROR_CLASSES)) w.cls = classOf(p);
  if (p.stack) w.stack = p.stack;
  if (p instanceof PulsingActorError) {
    if (p.originalName) w.originalName = p.originalName;
    if (p.remoteStack) w.stack = p.remoteStack;
    if (p.actorName ?? actorName) w.actorName = p.actorName ?? actorName;
  }
  if (p instanceof PulsingBusinessError) {
    w.code = p.code;
    if (p.details !== undefined) w.details = p.details;
  } else if (p instanceof PulsingSystemError) {
    w.recoverable = p.recoverable;
  } else if (p instanceof PulsingTimeoutError) {
    w.operation = p.operation;
    w.durationMs = p.durationMs;
  } else if (p instanceof PulsingUnsupportedError) {
    w.operation = p.operation;
  }
  return w;
}

/** The nearest built-in Pulsing class of a user subclass. */
function classOf(p: PulsingError): string {
  for (const c of ERROR_ORDER) if (p instanceof c) return c.name;
  return "PulsingError";
}

const ERROR_ORDER = [
  PulsingBusinessError,
  PulsingSystemError,
  PulsingTimeoutError,
  PulsingUnsupportedError,
  PulsingActorError,
  PulsingRuntimeError,
] as const;

const ERROR_CLASSES: Record<string, true> = {
  PulsingError: true,
  PulsingRuntimeError: true,
  PulsingActorError: true,
  PulsingBusinessError: true,
  PulsingSystemError: true,
  PulsingTimeoutError: true,
  PulsingUnsupportedError: true,
};

/**
 * Rebuild an error from its portable form, as the same Pulsing class.
 *
 * @param w The portable form produced by {@linkcode errorToWire}.
 * @returns The error, ready to throw.
 *
 * @example
 * ```ts
 * import { errorFromWire } from "@pulsing/pulsing/core";
 * const e = errorFromWire({ cls: "PulsingTimeoutError", message: "", operation: "x", durationMs: 5 });
 * console.log(e.message); // "Operation 'x' timed out after 5ms"
 * ```
 */
export function errorFromWire(w: WireError): PulsingError {
  let e: PulsingError;
  const opts = { actorName: w.actorName, originalName: w.originalName, remoteStack: w.stack };
  switch (w.cls) {
    case "PulsingBusinessError":
      e = new PulsingBusinessError(w.code ?? 0, w.message, w.details);
      break;
    case "PulsingSystemError":
      e = new PulsingSystemError(w.message, w.recoverable ?? true);
      break;
    case "PulsingTimeoutError":
      e = new PulsingTimeoutError(w.operation ?? "", w.durationMs ?? 0);
      break;
    case "PulsingUnsupportedError":
      e = new PulsingUnsupportedError(w.operation ?? "");
      break;
    case "PulsingActorError":
      return new PulsingActorError(w.message, opts);
    case "PulsingRuntimeError":
      e = new PulsingRuntimeError(w.message);
      break;
    default:
      e = new PulsingError(w.message);
  }
  if (e instanceof PulsingActorError) {
    e.actorName = w.actorName;
    e.originalName = w.originalName;
    e.remoteStack = w.stack;
  }
  return e;
}
