/**
 * Supervision: whether and when a failed actor is restarted.
 *
 * **What a failure is.** An actor *fails* when its constructor (factory) throws while it is
 * being restarted, when its `onStart` hook throws or rejects, or when it calls
 * `ctx.fail(error)` to report a crash it cannot handle. An error thrown by a method or by
 * `receive` is **not** a failure: it goes back to that caller and the actor keeps its state.
 * An explicit `stop()` and system shutdown are not failures and never restart.
 *
 * Policies: `"never"` (default: a failed actor stops and its name is removed), `"on_failure"`
 * (also spelled `"on-failure"`: restart after a failure), `"always"` (restart after a failure
 * and after the actor stopped itself). Restart `k` (1-based) is allowed while
 * `k <= maxRestarts`; before it the actor waits `minBackoff * 2^(k-1)` ms, capped at
 * `maxBackoff`, with ±20 % jitter. A restarted actor keeps its id, its name, its mailbox (no
 * queued message is lost) and every reference to it stays valid; its in-memory state is
 * rebuilt by the constructor.
 *
 * @module
 */

/** `"never"`, `"on_failure"` (or `"on-failure"`), `"always"`. */
export type RestartPolicy = "never" | "on_failure" | "on-failure" | "always";

/** Supervision settings of one actor (all durations in milliseconds). */
export interface SupervisionOptions {
  /** When to restart. Default `"never"`. */
  restartPolicy?: RestartPolicy;
  /** How many restarts are allowed over the actor's lifetime. Default 3. */
  maxRestarts?: number;
  /** Backoff before the first restart, in ms. Default 100. */
  minBackoff?: number;
  /** Cap of the backoff, in ms. Default 30 000. */
  maxBackoff?: number;
}

/**
 * A validated supervision specification, with a fluent builder as in the reference's Rust API.
 *
 * @example
 * ```ts
 * import { SupervisionSpec } from "@pulsing/pulsing/core";
 * const spec = SupervisionSpec.onFailure().withMaxRestarts(5).withBackoff(50, 1_000);
 * console.log(spec.policy, spec.maxRestarts, spec.backoffFor(1) <= 60); // "on_failure" 5 true
 * ```
 */
export class SupervisionSpec {
  /** The normalized policy. */
  readonly policy: "never" | "on_failure" | "always";
  /** Restart budget. */
  readonly maxRestarts: number;
  /** Minimum backoff (ms). */
  readonly minBackoff: number;
  /** Maximum backoff (ms). */
  readonly maxBackoff: number;

  /** Build from options (validated). */
  constructor(options: SupervisionOptions = {}) {
    this.policy = normalizePolicy(options.restartPolicy ?? "never");
    this.maxRestarts = checkNumber("maxRestarts", options.maxRestarts ?? 3, true);
    this.minBackoff = checkNumber("minBackoff", options.minBackoff ?? 100);
    this.maxBackoff = checkNumber("maxBackoff", options.maxBackoff ?? 30_000);
    if (this.maxBackoff < this.minBackoff) {
      throw new TypeError(
        `maxBackoff (${this.maxBackoff}) must be >= minBackoff (${this.minBackoff})`,
      );
    }
  }
  /** Never restart. */
  static never(): SupervisionSpec {
    return new SupervisionSpec({ restartPolicy: "never" });
  }
  /** Restart after failures. */
  static onFailure(): SupervisionSpec {
    return new SupervisionSpec({ restartPolicy: "on_failure" });
  }
  /** Restart after failures and after the actor stopped itself. */
  static always(): SupervisionSpec {
    return new SupervisionSpec({ restartPolicy: "always" });
  }
  /** A copy with another restart budget. */
  withMaxRestarts(n: number): SupervisionSpec {
    return new SupervisionSpec({ ...this.#options(), maxRestarts: n });
  }
  /** A copy with other backoff bounds (ms). */
  withBackoff(minBackoff: number, maxBackoff: number): SupervisionSpec {
    return new SupervisionSpec({ ...this.#options(), minBackoff, maxBackoff });
  }
  #options(): SupervisionOptions {
    return {
      restartPolicy: this.policy,
      maxRestarts: this.maxRestarts,
      minBackoff: this.minBackoff,
      maxBackoff: this.maxBackoff,
    };
  }
  /** Whether a stop of this kind leads to a restart (budget aside). */
  shouldRestart(failure: boolean): boolean {
    return this.policy === "always" || (this.policy === "on_failure" && failure);
  }
  /**
   * The delay before restart `k` (1-based), in ms, jitter included.
   * @param k The restart number.
   * @param random A source of uniform numbers in [0, 1) (for tests).
   */
  backoffFor(k: number, random: () => number = Math.random): number {
    const base = Math.min(this.minBackoff * 2 ** Math.max(0, k - 1), this.maxBackoff);
    return Math.max(0, base + base * 0.2 * (random() * 2 - 1));
  }
}

function normalizePolicy(p: string): "never" | "on_failure" | "always" {
  const s = String(p).toLowerCase();
  if (s === "never") return "never";
  if (s === "on_failure" || s === "on-failure") return "on_failure";
  if (s === "always") return "always";
  throw new TypeError(
    `Invalid restartPolicy ${
      JSON.stringify(p)
    }: expected "never", "on_failure" ("on-failure") or "always"`,
  );
}

function checkNumber(name: string, v: number, integer = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new TypeError(
      `${name} must be a non-negative ${integer ? "integer" : "number"}, got ${v}`,
    );
  }
  return v;
}
