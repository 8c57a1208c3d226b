/**
 * How errors travel over HTTP: the status a gateway answers with, and the JSON body
 * `{ error: { class, message, code?, details?, originalName?, ... } }` a client turns back
 * into the same Pulsing error class.
 *
 * | error                                                   | status |
 * | ------------------------------------------------------- | ------ |
 * | malformed request (JSON, args, name), invalid method    | 400    |
 * | missing or wrong bearer token                           | 401    |
 * | named actor or actor id not found                       | 404    |
 * | request body over the size limit                        | 413    |
 * | `PulsingBusinessError` with a code in 400..499          | code   |
 * | any other `PulsingBusinessError`                        | 422    |
 * | gateway shutting down                                   | 503    |
 * | `PulsingTimeoutError`                                   | 504    |
 * | anything else                                           | 500    |
 *
 * @module
 */

import {
  errorFromWire,
  errorToWire,
  PulsingBusinessError,
  type PulsingError,
  PulsingRuntimeError,
  PulsingTimeoutError,
  type WireError,
} from "../core/errors.ts";

/**
 * The JSON form of an error in a gateway response body (`{ error: HttpErrorBody }`).
 *
 * @example
 * ```ts
 * import type { HttpErrorBody } from "@pulsing/pulsing/http";
 * const e: HttpErrorBody = { class: "PulsingBusinessError", message: "taken", code: 409 };
 * ```
 */
export interface HttpErrorBody {
  /** The Pulsing error class: `PulsingBusinessError`, `PulsingRuntimeError`, ... */
  class: string;
  /** The message. */
  message: string;
  /** `PulsingBusinessError.code`. */
  code?: number;
  /** `PulsingBusinessError.details`. */
  details?: unknown;
  /** The `name` of the error originally thrown in the actor (`TypeError`, ...). */
  originalName?: string;
  /** The actor that raised it. */
  actorName?: string;
  /** `PulsingSystemError.recoverable`. */
  recoverable?: boolean;
  /** `PulsingTimeoutError.operation` / `PulsingUnsupportedError.operation`. */
  operation?: string;
  /** `PulsingTimeoutError.durationMs`. */
  durationMs?: number;
}

/** A request the gateway refuses before reaching any actor (status 400, 401, 413, 503...). */
export class HttpRequestError extends PulsingRuntimeError {
  /** The HTTP status to answer with. */
  readonly status: number;
  /** Create an error answered with `status`. */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const NOT_FOUND = /^(Named actor not found|Actor not found)\b/;
const BAD_METHOD = /^(No method '|Invalid method ')/;

/**
 * The HTTP status of an error (see the module table).
 *
 * @example
 * ```ts ignore
 * import { PulsingBusinessError } from "@pulsing/pulsing";
 * statusOf(new PulsingBusinessError(409, "taken")); // 409
 * ```
 */
export function statusOf(e: unknown): number {
  if (e instanceof HttpRequestError) return e.status;
  if (e instanceof PulsingBusinessError) {
    return Number.isInteger(e.code) && e.code >= 400 && e.code <= 499 ? e.code : 422;
  }
  if (e instanceof PulsingTimeoutError) return 504;
  if (e instanceof PulsingRuntimeError) {
    if (NOT_FOUND.test(e.message)) return 404;
    if (BAD_METHOD.test(e.message)) return 400;
  }
  if (e instanceof TypeError) return 400; // invalid names and options, raised before any actor ran
  return 500;
}

/**
 * The JSON body of an error: its wire form without the stack (stacks stay inside the cluster).
 *
 * @example
 * ```ts ignore
 * errorBody(new Error("x")); // { class: "PulsingActorError", message: "x", originalName: "Error" }
 * ```
 */
export function errorBody(e: unknown, actorName?: string): HttpErrorBody {
  if (e instanceof TypeError) {
    return { class: "PulsingRuntimeError", message: e.message, originalName: "TypeError" };
  }
  const { cls, stack: _stack, ...rest } = errorToWire(e, actorName);
  return { class: cls, ...rest };
}

/**
 * Rebuild the Pulsing error of an HTTP error body (what a client throws).
 *
 * @example
 * ```ts ignore
 * const e = errorFromBody({ class: "PulsingBusinessError", message: "taken", code: 409 });
 * ```
 */
export function errorFromBody(body: HttpErrorBody): PulsingError {
  const w: WireError = { ...body, cls: String(body.class) } as WireError & { class?: string };
  delete (w as { class?: string }).class;
  return errorFromWire(w);
}
