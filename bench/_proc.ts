/**
 * Child-process bookkeeping for the benchmark orchestrator: every process started through a
 * {@link ProcGroup} is tracked by pid and stopped by pid (SIGTERM, then SIGKILL), even when the
 * run fails. Children get a piped stdin; servers that watch it exit when the orchestrator dies.
 *
 * @module
 */

/** Options for {@link ProcGroup.spawn}. */
export interface SpawnOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** A running child process whose stdout is split into lines. */
export class Proc {
  /** OS process id. */
  readonly pid: number;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number>;
  #lines: string[] = [];
  #waiters: (() => void)[] = [];
  #stderr = "";
  #done = false;

  /**
   * Wraps a spawned child (use {@link ProcGroup.spawn} rather than calling this directly).
   *
   * @param name label used in error messages
   * @param child the spawned process, with piped stdout and stderr
   */
  constructor(readonly name: string, readonly child: Deno.ChildProcess) {
    this.pid = child.pid;
    const out = this.#pump(child.stdout, (l) => this.#pushLine(l));
    const err = this.#pump(child.stderr, (l) => {
      this.#stderr = (this.#stderr + l + "\n").slice(-4000);
    });
    this.exited = child.status.then(async (s) => {
      await Promise.allSettled([out, err]);
      this.#done = true;
      this.#wake();
      return s.code;
    });
  }

  async #pump(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void): Promise<void> {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) onLine(buf);
  }

  #pushLine(l: string): void {
    this.#lines.push(l);
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** The last ~4 KB of stderr (for error messages). */
  get stderrTail(): string {
    return this.#stderr;
  }

  /**
   * Waits for the next stdout line that parses as a JSON object.
   *
   * @param timeoutMs give up after this long
   * @returns the parsed object
   * @throws when the process exits first or the timeout passes
   */
  async nextJson<T = Record<string, unknown>>(timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      while (this.#lines.length > 0) {
        const l = this.#lines.shift()!.trim();
        if (!l.startsWith("{")) continue;
        try {
          return JSON.parse(l) as T;
        } catch { /* not JSON: skip */ }
      }
      if (this.#done) {
        throw new Error(`${this.name} (pid ${this.pid}) exited: ${this.#stderr.slice(-800)}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`${this.name} (pid ${this.pid}): no output in ${timeoutMs} ms`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((res) => {
        this.#waiters.push(res);
        timer = setTimeout(res, left);
      });
      clearTimeout(timer);
    }
  }
}

/** Tracks every child process of a run so that all of them can be stopped by pid. */
export class ProcGroup {
  #procs = new Map<number, Proc>();

  /**
   * Starts a process with piped stdin/stdout/stderr.
   *
   * @param name label for messages
   * @param cmd executable (`Deno.execPath()`, `node`, ...)
   * @param args arguments
   * @param opts environment and working directory
   * @returns the tracked process
   */
  spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
    const child = new Deno.Command(cmd, {
      args,
      env: opts.env,
      cwd: opts.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const p = new Proc(name, child);
    this.#procs.set(p.pid, p);
    p.exited.finally(() => this.#procs.delete(p.pid));
    return p;
  }

  /**
   * Stops one process by pid: closes its stdin, sends SIGTERM, and SIGKILL after `graceMs`.
   *
   * @param p the process (must belong to this group)
   * @param graceMs time allowed between SIGTERM and SIGKILL
   */
  async stop(p: Proc, graceMs = 1000): Promise<void> {
    if (!this.#procs.has(p.pid)) return;
    try {
      await p.child.stdin.close();
    } catch { /* already closed */ }
    try {
      p.child.kill("SIGTERM");
    } catch { /* already gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = await Promise.race([
      p.exited.then(() => false),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (killed) {
      try {
        p.child.kill("SIGKILL");
      } catch { /* gone */ }
      await p.exited;
    }
  }

  /** Stops every process still running (by pid). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#procs.values()].map((p) => this.stop(p)));
  }

  /** Pids of the processes still running. */
  get pids(): number[] {
    return [...this.#procs.keys()];
  }
}

/**
 * Picks a free TCP port on 127.0.0.1 (bind to port 0, read it, close). There is a small race
 * with other programs; servers that can listen on port 0 themselves should do that instead.
 *
 * @returns a port number
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
