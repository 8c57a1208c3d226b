import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { PulsingRuntimeError } from "../../core/errors.ts";
import { type ClusterTlsMaterial, clusterTlsMaterial } from "../tls/mod.ts";
import { sniffTls } from "../tls/classify.ts";
import { NodeTlsTransport, type TlsRefusal } from "./node_tls.ts";
import type { Conn, Listener } from "./types.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const enc = new TextEncoder();
const dec = new TextDecoder();

let cache: Promise<[ClusterTlsMaterial, ClusterTlsMaterial, ClusterTlsMaterial]> | undefined;
function materials(): Promise<[ClusterTlsMaterial, ClusterTlsMaterial, ClusterTlsMaterial]> {
  cache ??= Promise.all([
    clusterTlsMaterial("passphrase one", { hosts: ["127.0.0.1"] }),
    clusterTlsMaterial("passphrase one", { hosts: ["127.0.0.1"] }),
    clusterTlsMaterial("passphrase two", { hosts: ["127.0.0.1"] }),
  ]);
  return cache;
}

/** A transport whose refusals land in an array, with a way to wait for the next one. */
function recording(m: ClusterTlsMaterial, handshakeTimeoutMs?: number) {
  const refusals: TlsRefusal[] = [];
  let wake: (() => void) | undefined;
  const transport = new NodeTlsTransport(m, {
    handshakeTimeoutMs,
    onRefused: (r) => {
      refusals.push(r);
      wake?.();
    },
  });
  const nextRefusal = async (): Promise<TlsRefusal> => {
    const deadline = Date.now() + 5000;
    while (refusals.length === 0 && Date.now() < deadline) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
    assert.ok(refusals.length > 0, "expected a refusal on the listener");
    return refusals.shift()!;
  };
  return { transport, refusals, nextRefusal };
}

/** Start a conn and gather what it receives; `closed` resolves with the close error. */
function reader(conn: Conn) {
  let text = "";
  let waiter: (() => void) | undefined;
  let closeErr: Error | undefined;
  let isClosed = false;
  const closed = new Promise<Error | undefined>((resolve) => {
    conn.start(
      (chunk) => {
        text += dec.decode(chunk);
        waiter?.();
      },
      (err) => {
        closeErr = err;
        isClosed = true;
        waiter?.();
        resolve(err);
      },
    );
  });
  const until = async (want: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!text.includes(want) && !isClosed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, 50);
      });
    }
    assert.ok(
      text.includes(want),
      `expected ${JSON.stringify(want)}, got ${JSON.stringify(text)} (${closeErr?.message})`,
    );
  };
  return {
    until,
    closed,
    get text() {
      return text;
    },
  };
}

function echoServer(listener: Listener): Promise<void>[] {
  const closes: Promise<void>[] = [];
  listener.onConnection((conn) => {
    closes.push(
      new Promise((resolve) =>
        conn.start((chunk) => void conn.write([chunk.slice()]).catch(() => {}), () => resolve())
      ),
    );
    void conn.write([enc.encode("hello from server")]);
  });
  return closes;
}

function netServer(
  onSocket: (s: net.Socket) => void,
): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onSocket(s);
  });
  return new Promise((resolve) =>
    server.listen(
      0,
      "127.0.0.1",
      () => resolve({ server, port: (server.address() as net.AddressInfo).port, sockets }),
    )
  );
}

function closeNetServer(s: { server: net.Server; sockets: Set<net.Socket> }): Promise<void> {
  for (const sock of s.sockets) sock.destroy();
  return new Promise((r) => s.server.close(() => r()));
}

Deno.test("node_tls: same passphrase → mutual TLS echo both ways", async () => {
  const [a, b] = await materials();
  const server = recording(a);
  const listener = await server.transport.listen(LOOPBACK);
  const serverCloses = echoServer(listener);
  const client = new NodeTlsTransport(b); // same passphrase, its own leaf
  const conn = await client.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  assert.equal(conn.remoteAddr, `127.0.0.1:${listener.addr.port}`);
  const r = reader(conn);
  await r.until("hello from server"); // server → client
  await conn.write([enc.encode("ping-"), enc.encode("batched-"), enc.encode("pong")]);
  await r.until("ping-batched-pong"); // client → server → client
  conn.close();
  assert.equal(await r.closed, undefined);
  await Promise.all(serverCloses);
  listener.close();
  assert.deepEqual(server.refusals, []);
  await assert.rejects(conn.write([enc.encode("late")]), PulsingRuntimeError);
});

Deno.test("node_tls: different passphrase → no connection, passphrase mismatch on both sides", async () => {
  const [a, , other] = await materials();
  const server = recording(a);
  const listener = await server.transport.listen(LOOPBACK);
  const accepted: Conn[] = [];
  listener.onConnection((c) => accepted.push(c));
  const client = new NodeTlsTransport(other);
  const port = listener.addr.port;
  await assert.rejects(
    client.connect({ hostname: "127.0.0.1", port }),
    (e: Error) => {
      assert.ok(e instanceof PulsingRuntimeError);
      assert.match(
        e.message,
        new RegExp(`^TLS handshake with 127\\.0\\.0\\.1:${port} failed: passphrase mismatch`),
      );
      assert.ok(!e.message.includes("\n"));
      return true;
    },
  );
  const refusal = await server.nextRefusal();
  // Deno's rustls client sends an UnknownCA alert ("passphrase-mismatch"); a Node client hangs
  // up silently, which the server reports as "closed" (most likely a passphrase mismatch).
  assert.match(
    refusal.message,
    /^TLS handshake with 127\.0\.0\.1:\d+ failed: .*passphrase mismatch/,
  );
  assert.equal(accepted.length, 0);
  listener.close();
});

Deno.test("node_tls: a client without a certificate is refused", async () => {
  const [a] = await materials();
  const server = recording(a);
  const listener = await server.transport.listen(LOOPBACK);
  const accepted: Conn[] = [];
  listener.onConnection((c) => accepted.push(c));
  const clientErr = await new Promise<Error | undefined>((resolve) => {
    const s = tls.connect({
      host: "127.0.0.1",
      port: listener.addr.port,
      ca: [a.caPem],
      servername: "pulsing.local",
    });
    s.on("secureConnect", () => s.write("anyone there?"));
    s.on("data", () => {});
    s.on("error", (e) => resolve(e));
    s.on("close", () => resolve(undefined));
  });
  const refusal = await server.nextRefusal();
  assert.equal(refusal.failure.kind, "no-certificate");
  assert.match(refusal.message, /presented no client certificate/);
  assert.match(String(clientErr?.message), /certificate ?required/i);
  assert.equal(accepted.length, 0);
  listener.close();
});

Deno.test("node_tls: plaintext client → TLS listener is refused, and can tell why", async () => {
  const [a] = await materials();
  const server = recording(a);
  const listener = await server.transport.listen(LOOPBACK);
  const got = await new Promise<Uint8Array>((resolve) => {
    const chunks: Uint8Array[] = [];
    const s = net.connect(listener.addr.port, "127.0.0.1", () => {
      s.write(new Uint8Array([0, 0, 0, 12, ...enc.encode("plain frame!")]));
    });
    s.on("data", (d) => chunks.push(d));
    s.on("error", () => {});
    s.on("close", () => resolve(new Uint8Array(Buffer.concat(chunks))));
  });
  const refusal = await server.nextRefusal();
  assert.equal(refusal.failure.kind, "not-tls");
  assert.match(refusal.message, /does not speak TLS/);
  // What the plaintext side received is a TLS alert, which sniffTls recognizes (Node sends
  // none and just closes).
  if (got.length > 0) assert.equal(sniffTls(got), "alert");
  listener.close();
});

Deno.test("node_tls: TLS client → plaintext listener fails with a clear error", async () => {
  const [a] = await materials();
  const firstBytes: Uint8Array[] = [];
  // A plaintext node that drops the peer at the first bad frame.
  const plain = await netServer((s) =>
    s.once("data", (d) => {
      firstBytes.push(new Uint8Array(d));
      s.destroy();
    })
  );
  const client = new NodeTlsTransport(a, { handshakeTimeoutMs: 1000 });
  await assert.rejects(
    client.connect({ hostname: "127.0.0.1", port: plain.port }),
    (e: Error) => {
      assert.ok(e instanceof PulsingRuntimeError);
      assert.match(
        e.message,
        /^TLS handshake with 127\.0\.0\.1:\d+ failed: the peer closed the connection during the handshake \(a node without a passphrase/,
      );
      return true;
    },
  );
  assert.equal(sniffTls(firstBytes[0]), "client-hello");
  await closeNetServer(plain);

  // A plaintext node that answers with its own bytes.
  const chatty = await netServer((s) => s.write(new Uint8Array([0, 0, 0, 5, 1, 2, 3, 4, 5])));
  await assert.rejects(
    client.connect({ hostname: "127.0.0.1", port: chatty.port }),
    /failed: the peer does not speak TLS/,
  );
  await closeNetServer(chatty);

  // A plaintext node that says nothing: the handshake timeout.
  const silent = await netServer(() => {});
  const quick = new NodeTlsTransport(a, { handshakeTimeoutMs: 300 });
  const t0 = performance.now();
  await assert.rejects(
    quick.connect({ hostname: "127.0.0.1", port: silent.port }),
    /failed: no TLS handshake in time/,
  );
  assert.ok(performance.now() - t0 < 2000);
  await closeNetServer(silent);
});

Deno.test("node_tls: a silent peer is dropped after the handshake timeout", async () => {
  const [a] = await materials();
  const server = recording(a, 300);
  const listener = await server.transport.listen(LOOPBACK);
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const s = net.connect(listener.addr.port, "127.0.0.1");
    s.on("error", () => {});
    s.on("close", () => resolve());
    setTimeout(() => s.destroy(), 4000);
  });
  const elapsed = performance.now() - t0;
  assert.ok(elapsed < 3000, `dropped after ${elapsed} ms`);
  assert.equal((await server.nextRefusal()).failure.kind, "timeout");
  listener.close();
});

Deno.test("node_tls: connect errors (refused port, abort) are PulsingRuntimeErrors", async () => {
  const [a] = await materials();
  const plain = await netServer(() => {});
  const port = plain.port;
  await closeNetServer(plain); // now nothing listens there
  const client = new NodeTlsTransport(a);
  await assert.rejects(client.connect({ hostname: "127.0.0.1", port }), (e: Error) => {
    assert.ok(e instanceof PulsingRuntimeError);
    assert.match(
      e.message,
      /^TLS connect to 127\.0\.0\.1:\d+ failed: cannot connect \(ECONNREFUSED\)/,
    );
    return true;
  });
  await assert.rejects(
    client.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.abort() }),
    /aborted/,
  );
});

// ---------------------------------------------------------------------------------------------
// Cross-runtime: a Node 20 process runs our own code (bundled with `deno bundle`) against Deno.

const NODE_ENTRY = `
import { clusterTlsMaterial } from "${new URL("../tls/mod.ts", import.meta.url).href}";
import { NodeTlsTransport } from "${new URL("./node_tls.ts", import.meta.url).href}";
const [mode, passphrase, port] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const m = await clusterTlsMaterial(passphrase, { hosts: ["127.0.0.1"] });
const t = new NodeTlsTransport(m, { onRefused: (r) => out({ refused: r.message }) });
if (mode === "server") {
  const l = await t.listen({ hostname: "127.0.0.1", port: 0 });
  l.onConnection((c) => c.start((b) => void c.write([b.slice()]).catch(() => {}), () => {}));
  out({ port: l.addr.port, fingerprint: m.fingerprint, runtime: process.version });
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => { l.close(); process.exit(0); });
} else {
  try {
    const c = await t.connect({ hostname: "127.0.0.1", port: Number(port) });
    let got = "";
    c.start((b) => {
      got += new TextDecoder().decode(b);
      if (got.endsWith("ping")) { out({ ok: true, fingerprint: m.fingerprint }); c.close(); }
    }, (err) => { if (!got.endsWith("ping")) out({ error: err?.message ?? "closed" }); });
    await c.write([new TextEncoder().encode("ping")]);
  } catch (e) {
    out({ error: e.message });
  }
  setTimeout(() => process.exit(3), 10000).unref();
}
`;

async function bundleNodeEntry(dir: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/entry.ts`, NODE_ENTRY);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform=node",
      "--format=esm",
      "--output",
      `${dir}/entry.mjs`,
      `${dir}/entry.ts`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `deno bundle failed: ${dec.decode(out.stderr)}`);
  return `${dir}/entry.mjs`;
}

/** Read JSON lines from a child's stdout. */
function jsonLines(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const next = async (): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + 15000;
    while (!buf.includes("\n")) {
      assert.ok(Date.now() < deadline, "timed out waiting for the node process");
      const { value, done } = await reader.read();
      assert.ok(!done, `node process ended early; output so far: ${buf}`);
      buf += value;
    }
    const i = buf.indexOf("\n");
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    return JSON.parse(line);
  };
  const drain = async () => {
    while (!(await reader.read()).done) { /* drain */ }
  };
  return { next, drain };
}

Deno.test({
  name: "node_tls: Deno ↔ Node 20 mutual TLS with the same passphrase (and not with another)",
  sanitizeResources: false, // child process pipes are closed below; Deno tracks them lazily
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pulsing_tls_" });
    const children: Deno.ChildProcess[] = [];
    try {
      const entry = await bundleNodeEntry(dir);
      const [a, , other] = await materials();

      // Node server, Deno client.
      const server = new Deno.Command("node", {
        args: [entry, "server", "passphrase one"],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      children.push(server);
      const lines = jsonLines(server.stdout);
      const hello = await lines.next();
      assert.match(String(hello.runtime), /^v\d+/);
      assert.equal(hello.fingerprint, a.fingerprint, "same CA derived on Node and Deno");
      const conn = await new NodeTlsTransport(a).connect({
        hostname: "127.0.0.1",
        port: Number(hello.port),
      });
      const r = reader(conn);
      await conn.write([enc.encode("cross-runtime")]);
      await r.until("cross-runtime");
      conn.close();
      await r.closed;
      // A Deno client with another passphrase is refused by the Node server, both sides say why.
      await assert.rejects(
        new NodeTlsTransport(other).connect({ hostname: "127.0.0.1", port: Number(hello.port) }),
        /failed: passphrase mismatch/,
      );
      assert.match(String((await lines.next()).refused), /failed: passphrase mismatch/);
      await server.stdin.close();
      await lines.drain();
      assert.equal((await server.status).code, 0);

      // Deno server, Node client: same passphrase works, another is refused on both sides.
      const rec = recording(a);
      const listener = await rec.transport.listen(LOOPBACK);
      echoServer(listener);
      for (
        const [pass, expectOk] of [["passphrase one", true], ["passphrase two", false]] as const
      ) {
        const client = new Deno.Command("node", {
          args: [entry, "client", pass, String(listener.addr.port)],
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        children.push(client);
        const cl = jsonLines(client.stdout);
        const result = await cl.next();
        await cl.drain();
        await client.status;
        if (expectOk) {
          assert.equal(result.error, undefined);
          assert.equal(result.fingerprint, a.fingerprint);
        } else {
          assert.match(String(result.error), /failed: passphrase mismatch/);
          assert.match((await rec.nextRefusal()).message, /passphrase mismatch/);
        }
      }
      listener.close();
    } finally {
      // On a failed assertion, stop the node processes this test started (by their handles).
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* already exited */ }
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
