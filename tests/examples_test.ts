/**
 * The examples and the README stay true: every program in `examples/` runs as a subprocess,
 * exits 0 within a minute and prints its key lines; every TypeScript block of README.md
 * type-checks against the current code, and the self-contained ones run and exit 0.
 *
 * README blocks: ```` ```ts ```` is checked and run; ```` ```ts no-run ```` is only checked
 * (it needs other processes, a launcher's environment or a network); ```` ```ts ignore ```` is
 * neither. A block whose first line is a comment naming a file (`// actors.ts: ...`) is written
 * under that name, so that other blocks can import it.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const CONFIG = new URL("deno.json", ROOT).pathname;
const TIMEOUT_MS = 60_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], cwd = ROOT.pathname): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(TIMEOUT_MS), // kills the example if it hangs
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const EXAMPLES: Record<string, (string | RegExp)[]> = {
  counter: ["get()   -> 117", "caught PulsingActorError (originally RangeError)"],
  ping_pong: ["rally over: ping won", "pong process exited with code 0"],
  streaming: [
    `"explain actors": finished after 12 tokens`,
    /"a long essay": stopped by the caller after \d+ tokens/,
    /"a stream read by hand": stopped by the caller after \d+ tokens/,
  ],
  multi_agent_chat: ["3 nodes:", "transcript: 7 lines"],
  queue_pipeline: ["collector: 1000 results, 1000 distinct documents, 6000 words in all"],
  topic_fanout: [
    "ticker  got 20 messages, in order: true",
    "archive got 20 messages, in order: true",
    "alerts  got 20 messages, in order: true",
  ],
  gateway_curl: ['{"result":5}', '"code":400', '{"done":true}', "counter.incr() -> 8"],
};

for (const [name, expected] of Object.entries(EXAMPLES)) {
  Deno.test(`example ${name} runs, exits 0 and prints its key lines`, async () => {
    const r = await run(["run", "-A", "--quiet", `examples/${name}.ts`]);
    const where = `\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
    assert.equal(r.code, 0, `exit code ${r.code}${where}`);
    for (const line of expected) {
      const ok = typeof line === "string" ? r.stdout.includes(line) : line.test(r.stdout);
      assert(ok, `missing ${line}${where}`);
    }
    assert(r.stdout.includes("example done"), `no final line${where}`);
  });
}

Deno.test("every example has a test here", async () => {
  const files: string[] = [];
  for await (const e of Deno.readDir(new URL("examples/", ROOT))) {
    if (e.isFile && e.name.endsWith(".ts") && !e.name.startsWith("_") && e.name !== "demo.ts") {
      files.push(e.name.slice(0, -3));
    }
  }
  assert.deepEqual(files.sort(), Object.keys(EXAMPLES).sort());
});

interface Block {
  line: number;
  mode: "run" | "no-run";
  code: string;
}

/** The TypeScript blocks of a markdown text (```ts, ```ts no-run; ```ts ignore left out). */
function tsBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(ts|typescript)\b(.*)$/.exec(lines[i]);
    if (!m) continue;
    const flags = m[2].trim().split(/\s+/);
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
    if (flags.includes("ignore")) continue;
    blocks.push({
      line: start + 1,
      mode: flags.includes("no-run") ? "no-run" : "run",
      code: body.join("\n") + "\n",
    });
  }
  return blocks;
}

const readme = await Deno.readTextFile(new URL("README.md", ROOT));
const blocks = tsBlocks(readme);

Deno.test("README: every TypeScript block type-checks", async () => {
  assert(blocks.length > 10, `only ${blocks.length} blocks found`);
  const dir = await Deno.makeTempDir({ prefix: "pulsing_readme_" });
  try {
    const files: string[] = [];
    for (const b of blocks) {
      const named = /^\/\/ ([\w-]+\.ts)\b/.exec(b.code)?.[1];
      const file = named && !files.includes(`${dir}/${named}`) ? named : `readme_line_${b.line}.ts`;
      const f = `${dir}/${file}`;
      // Each block is its own module (top-level await, no name clashes between blocks).
      await Deno.writeTextFile(f, `${b.code}export {};\n`);
      files.push(f);
    }
    const r = await run(["check", "--quiet", "--config", CONFIG, ...files]);
    assert.equal(r.code, 0, `deno check failed:\n${r.stderr}${r.stdout}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const b of blocks.filter((b) => b.mode === "run")) {
  Deno.test(`README: the block at line ${b.line} runs and exits 0`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulsing_readme_" });
    try {
      const f = `${dir}/readme_line_${b.line}.ts`;
      await Deno.writeTextFile(f, `${b.code}export {};\n`);
      const r = await run(["run", "-A", "--quiet", "--no-check", "--config", CONFIG, f], dir);
      assert.equal(r.code, 0, `README line ${b.line} failed:\n${r.stdout}\n${r.stderr}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
