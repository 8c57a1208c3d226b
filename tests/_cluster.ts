/**
 * Test helper: start real `deno` node processes on 127.0.0.1 (tests/fixtures/node.ts), run
 * code in them, and stop exactly the processes started here.
 */

const NODE = new URL("./fixtures/node.ts", import.meta.url).pathname;

/** A running node process. */
export interface NodeProc {
  addr: string;
  nodeId: string;
  /** Everything the ready line said (a Node peer adds `runtime`, say). */
  info: Record<string, unknown>;
  pid: number;
  /** Run a snippet (the body of an async function with `pul`, `system`, classes in scope). */
  run<T = unknown>(code: string, timeoutMs?: number): Promise<T>;
  /** Send a signal to this process (e.g. "SIGKILL", "SIGSTOP", "SIGCONT"). */
  kill(signal: Deno.Signal): void;
  /** Graceful stop (stdin closed → pul.shutdown), then kill if still alive. */
  stop(): Promise<void>;
  /** Resolves when the process has exited. */
  exited: Promise<Deno.CommandStatus>;
  /** Everything it printed on stderr so far. */
  stderr(): string;
}

/** Options of {@linkcode startNode}. */
export interface StartOptions {
  seeds?: string[];
  passphrase?: string;
  addr?: string;
  env?: Record<string, string>;
  /** Worker of the head at this address. */
  headAddr?: string;
  /** Run as a head node. */
  isHead?: boolean;
  /** SWIM settings (`pul.init({ tuning: { swim } })`). */
  swim?: Record<string, number>;
}

/** Start one node process and wait until it listens. */
export function startNode(o: StartOptions = {}): Promise<NodeProc> {
  const args = ["run", "-A", "--quiet", NODE, "--addr", o.addr ?? "127.0.0.1:0"];
  if (o.seeds?.length) args.push("--seeds", o.seeds.join(","));
  if (o.passphrase) args.push("--passphrase", o.passphrase);
  if (o.headAddr) args.push("--head-addr", o.headAddr);
  if (o.isHead) args.push("--is-head", "1");
  if (o.swim) args.push("--swim", JSON.stringify(o.swim));
  return startProcess(Deno.execPath(), args, o.env);
}

/**
 * Start any process that speaks the fixture's line protocol (prints `{ ready, addr, nodeId }`,
 * then answers `{ id, code }` lines on stdin with `{ id, ok, value | error }`) — a Deno node or
 * a Node peer — and wait until it is ready.
 */
export async function startProcess(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<NodeProc> {
  const child = new Deno.Command(command, {
    args,
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const writer = child.stdin.getWriter();
  const enc = new TextEncoder();
  let errText = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const c of child.stderr) errText += dec.decode(c, { stream: true });
  })().catch(() => {});
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  type Ready = { addr: string; nodeId: string } & Record<string, unknown>;
  let ready!: (v: Ready) => void;
  let fail!: (e: Error) => void;
  const readyP = new Promise<Ready>((r, j) => {
    ready = r;
    fail = j;
  });
  (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const c of child.stdout) {
      buf += dec.decode(c, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.ready) ready(msg as Ready);
        else if (typeof msg.id === "number") {
          const p = pending.get(msg.id);
          pending.delete(msg.id);
          if (!p) continue;
          if (msg.ok) p.resolve(msg.value);
          else {
            const e = msg.error as { name: string; message: string; code?: number };
            const err = new Error(e.message) as Error & { code?: number };
            err.name = e.name;
            err.code = e.code;
            p.reject(err);
          }
        }
      }
    }
    const e = new Error(`node process ${child.pid} exited; stderr:\n${errText}`);
    fail(e);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  })().catch(() => {});
  const t = setTimeout(
    () => fail(new Error(`node did not start in 20 s; stderr:\n${errText}`)),
    20_000,
  );
  let info: Ready;
  try {
    info = await readyP;
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    throw e;
  } finally {
    clearTimeout(t);
  }
  let stopped = false;
  const node: NodeProc = {
    addr: info.addr,
    nodeId: info.nodeId,
    info,
    pid: child.pid,
    exited: child.status,
    stderr: () => errText,
    run<T>(code: string, timeoutMs = 15_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`snippet timed out after ${timeoutMs} ms: ${code}`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        writer.write(enc.encode(JSON.stringify({ id, code }) + "\n")).catch((e) => {
          clearTimeout(timer);
          pending.delete(id);
          reject(e);
        });
      });
    },
    kill(signal: Deno.Signal) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        child.kill("SIGCONT");
      } catch { /* gone */ }
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5_000);
      await child.status;
      clearTimeout(timer);
    },
  };
  return node;
}

/** Start `n` nodes, the first being the seed of the others. */
export async function startCluster(n: number, o: StartOptions = {}): Promise<NodeProc[]> {
  const first = await startNode(o);
  const rest = await Promise.all(
    Array.from({ length: n - 1 }, () => startNode({ ...o, seeds: [first.addr] })),
  );
  return [first, ...rest];
}

/** A free TCP port on 127.0.0.1 (for a node that must start later at a known address). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Stop every node given (ignoring those already stopped). */
export async function stopAll(nodes: NodeProc[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
}

/**
 * Start `n` nodes (the first the seed of the others), wait until each sees all `n` alive, run
 * `fn` with them, and stop them all — the ones in the array when `fn` ends, so a test that
 * replaces a node in it gets the replacement stopped — whatever `fn` did.
 */
export async function withCluster<T>(
  n: number,
  fn: (nodes: NodeProc[]) => Promise<T>,
  o: StartOptions = {},
): Promise<T> {
  const nodes = await startCluster(n, o);
  try {
    await waitMembers(nodes, n);
    return await fn(nodes);
  } finally {
    await stopAll(nodes);
  }
}

/** Wait until every node sees at least `n` alive members (20 s at most). */
export async function waitMembers(nodes: NodeProc[], n: number): Promise<void> {
  for (const node of nodes) {
    await node.run(
      `for (let i = 0; i < 200; i++) {
        const m = (await system.members()).filter((x) => x.status === "alive");
        if (m.length >= ${n}) return m.length;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("cluster did not converge");`,
      20_000,
    );
  }
}
