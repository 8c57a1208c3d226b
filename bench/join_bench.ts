/**
 * Join time: a fresh `deno` process joins a running node (one static seed) and spawns a named
 * actor; how long until that name is resolvable on the running node, and callable?
 * Compared with Moleculer's measured join-to-visible of 2.22 s at its default gossip period
 * (`/work/shared/reference/peers.md` §(d)); our target is under 100 ms on loopback once the
 * process is up.
 *
 * Three clocks per repetition (all on this process's `Date.now()`):
 * - **from spawn**: `new Deno.Command(...).spawn()`, so runtime start-up is included;
 * - **from up**: the child's first line, printed before it imports the library;
 * - **from loaded**: the child's second line, once `mod.ts` is imported (what a service
 *   framework's `start()` would be measured from).
 * End points: the name resolves here (`pul.resolve` wakes on the registry change) and the first
 * call to it returns. 5 repetitions, median and min.
 *
 * Run: deno run -A bench/join_bench.ts
 *
 * @module
 */

const MOLECULER_JOIN_MS = 2220; // peers.md: gossipPeriod 2 s + ~0.2 s, median of fresh joiners
const REPS = 5;
const SELF = new URL(import.meta.url).pathname;

if (Deno.args[0] === "--child") {
  // ---- the joining process
  const [, seed, name] = Deno.args;
  console.log(JSON.stringify({ up: Date.now() }));
  const pul = await import("../mod.ts");
  console.log(JSON.stringify({ loaded: Date.now() }));
  await pul.init({ addr: "127.0.0.1:0", seeds: [seed] });
  const Echo = pul.remote(
    class Echo {
      ping(): string {
        return "pong";
      }
    },
    { name: "JoinBenchEcho" },
  );
  await Echo.spawn({ name });
  console.log(JSON.stringify({ spawned: Date.now() }));
  // Stay until the parent closes stdin.
  for await (const _ of Deno.stdin.readable) { /* drain */ }
  await pul.shutdown();
  Deno.exit(0);
}

// ---- the running node (this process)
const pul = await import("../mod.ts");
const system = await pul.init({ addr: "127.0.0.1:0" });

interface Rep {
  spawnAt: number;
  upAt: number;
  loadedAt: number;
  spawnedAt: number;
  visibleAt: number;
  calledAt: number;
}

async function once(i: number): Promise<Rep> {
  const name = `join-bench-${i}-${Math.random().toString(36).slice(2, 8)}`;
  const spawnAt = Date.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", SELF, "--child", system.addr, name],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: Record<string, number> = {};
  const seen = (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const c of child.stdout) {
      buf += dec.decode(c, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const o = JSON.parse(line) as Record<string, number>;
          for (const [k, v] of Object.entries(o)) lines[k] ??= v;
          // the parent's receipt time of "up" and "loaded" (same clock, pipe latency included)
          if ("up" in o) lines.upRx = Date.now();
          if ("loaded" in o) lines.loadedRx = Date.now();
        } catch { /* not ours */ }
      }
    }
  })();
  try {
    const ref = await pul.resolve(name, { timeout: 20_000 });
    const visibleAt = Date.now();
    // an untyped reference: any method name is a remote method
    const pong = await (ref as unknown as { ping(): Promise<string> }).ping();
    const calledAt = Date.now();
    if (pong !== "pong") throw new Error(`unexpected answer ${pong}`);
    // wait for the child's own lines (they may arrive after we already saw the name)
    const until = Date.now() + 5000;
    while (lines.spawned === undefined && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    return {
      spawnAt,
      upAt: Math.min(lines.up, lines.upRx),
      loadedAt: Math.min(lines.loaded, lines.loadedRx),
      spawnedAt: lines.spawned,
      visibleAt,
      calledAt,
    };
  } finally {
    await child.stdin.close().catch(() => {});
    const kill = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await child.status;
    clearTimeout(kill);
    await seen.catch(() => {});
  }
}

const reps: Rep[] = [];
await once(-1); // warm-up: module cache, first connection paths
for (let i = 0; i < REPS; i++) reps.push(await once(i));
await pul.shutdown();

function stat(xs: number[]): { median: number; min: number; max: number } {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return {
    median: a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2,
    min: a[0],
    max: a[a.length - 1],
  };
}

const rows: [string, number[]][] = [
  ["spawn → up (runtime start, first line)", reps.map((r) => r.upAt - r.spawnAt)],
  ["up → library loaded (import mod.ts)", reps.map((r) => r.loadedAt - r.upAt)],
  ["loaded → actor spawned in the child", reps.map((r) => r.spawnedAt - r.loadedAt)],
  ["spawn → name visible here", reps.map((r) => r.visibleAt - r.spawnAt)],
  ["spawn → first call answered", reps.map((r) => r.calledAt - r.spawnAt)],
  ["up → name visible here", reps.map((r) => r.visibleAt - r.upAt)],
  ["up → first call answered", reps.map((r) => r.calledAt - r.upAt)],
  ["loaded → name visible here", reps.map((r) => r.visibleAt - r.loadedAt)],
  ["loaded → first call answered", reps.map((r) => r.calledAt - r.loadedAt)],
];
console.log(`\nJoin time, ${REPS} fresh deno processes joining one running node on loopback\n`);
console.log("| interval | median ms | min ms | max ms | vs Moleculer 2220 ms |");
console.log("|---|---:|---:|---:|---:|");
for (const [label, xs] of rows) {
  const st = stat(xs);
  const vs = label.includes("→ name visible") || label.includes("first call")
    ? `${(MOLECULER_JOIN_MS / st.median).toFixed(0)}× faster`
    : "";
  console.log(`| ${label} | ${st.median} | ${st.min} | ${st.max} | ${vs} |`);
}
const upVisible = stat(reps.map((r) => r.visibleAt - r.upAt)).median;
const loadedCalled = stat(reps.map((r) => r.calledAt - r.loadedAt)).median;
console.log(
  `\nTarget < 100 ms after the process is up: up → visible ${upVisible} ms ` +
    `(${upVisible < 100 ? "PASS" : "over"}, includes importing the library); ` +
    `library loaded → callable ${loadedCalled} ms (${loadedCalled < 100 ? "PASS" : "over"}).`,
);
