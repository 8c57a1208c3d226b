/**
 * The echo actor `pulsing bench` places on another node when no `--name` is given. Registered
 * with `module: import.meta.url`, so any node can load it on first placement. It stops itself
 * when told `done()`, or after a minute without calls (a bench that died mid-way).
 *
 * @module
 */

import * as pul from "../mod.ts";
import type { ActorContext } from "../core/actor.ts";
import type { ActorId } from "../core/ids.ts";

const IDLE_STOP_MS = 60_000;

/** The echo actor's implementation (spawn it through {@linkcode BenchEcho}). */
export class BenchEchoActor {
  /** Its context, set on start. */
  ctx: ActorContext | undefined;
  /** The idle check timer. */
  timer: ReturnType<typeof setInterval> | undefined;
  /** When it was last called (ms since epoch). */
  last: number = Date.now();

  /** Keep the context; stop when idle for a minute. */
  onStart(_id: ActorId, ctx: ActorContext): void {
    this.ctx = ctx;
    this.timer = setInterval(() => {
      if (Date.now() - this.last > IDLE_STOP_MS) ctx.stop();
    }, 5_000);
  }

  /** Clear the timer. */
  onStop(): void {
    clearInterval(this.timer);
  }

  /** Answer the argument. */
  echo<T>(x: T): T {
    this.last = Date.now();
    return x;
  }

  /** Stop this actor (the bench is over). */
  done(): void {
    this.ctx?.stop();
  }
}

/**
 * The bench echo class (registry key `pulsing.cli.BenchEcho`).
 *
 * @example
 * ```ts ignore
 * const echo = await BenchEcho.spawn({ name: "pulsing/_bench_1", placement: "remote" });
 * await echo.echo("x");
 * ```
 */
export const BenchEcho: pul.ActorClass<BenchEchoActor, []> = pul.remote(BenchEchoActor, {
  name: "pulsing.cli.BenchEcho",
  module: import.meta.url,
});
