/**
 * The out-of-cluster client: call actors through one or more HTTP gateways with the same typed
 * proxies as inside the cluster. It uses `fetch` only, so it runs on Deno, Deno Deploy, Node
 * and in browsers.
 *
 * Failover: a call goes to the gateway that answered last; when it cannot be reached (the
 * connection is refused or the host is unknown — nothing was sent) the next URL is tried. A
 * call that may have reached a gateway is never sent twice. Read-only requests (resolve,
 * members, actors) are retried on any network error.
 *
 * @module
 */

import { ActorRef, type CallOptions } from "../core/actor_ref.ts";
import { ActorStream } from "../core/actor_stream.ts";
import { PulsingRuntimeError, PulsingTimeoutError } from "../core/errors.ts";
import { ActorId, NodeId } from "../core/ids.ts";
import { type ActorClass, type ActorProxy, type AnyProxy, asAny } from "../core/remote.ts";
import type { MemberInfo, NamedActorInfo } from "../core/system.ts";
import { errorFromBody, type HttpErrorBody } from "./error_status.ts";

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Bound of each call, in ms, until its answer (a stream: until its first item). Default 30 000. */
  timeout?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

/** Options of {@linkcode GatewayClient.resolve}. */
export interface ClientResolveOptions {
  /** Wait up to this many ms for the name to appear. */
  timeout?: number;
  /** The instance on this node. */
  nodeId?: string;
}

/** Options of a typed {@linkcode GatewayClient.resolve}. */
export interface TypedClientResolveOptions<T extends object, A extends unknown[]>
  extends ClientResolveOptions {
  /** The actor class: gives a typed proxy whose generator methods return streams. */
  cls: ActorClass<T, A>;
}

/**
 * A connection to a cluster through its HTTP gateways.
 *
 * @example
 * ```ts ignore
 * import * as pul from "@pulsing/pulsing";
 * import { connect } from "@pulsing/pulsing/http";
 * const Counter = pul.remote(class Counter { n = 0; incr() { return ++this.n; } });
 * const client = connect(["http://10.0.0.1:8080", "http://10.0.0.2:8080"], { token: "t" });
 * const counter = await client.resolve("counter", { cls: Counter });
 * console.log(await counter.incr());
 * ```
 */
export interface GatewayClient {
  /** The gateway URLs, in failover order. */
  readonly urls: readonly string[];
  /** A typed proxy to a named actor (same typing as `ActorClass.resolve`). */
  resolve<T extends object, A extends unknown[]>(
    name: string,
    options: TypedClientResolveOptions<T, A>,
  ): Promise<ActorProxy<T>>;
  /** An untyped proxy to a named actor: any method name works. */
  resolve(name: string, options?: ClientResolveOptions): Promise<AnyProxy>;
  /** The cluster's members. */
  members(): Promise<MemberInfo[]>;
  /** The cluster's named actors (`all` includes system ones). */
  actors(options?: { all?: boolean }): Promise<NamedActorInfo[]>;
  /** The health of the current gateway. */
  health(): Promise<{ status: string; nodeId: string; addr: string; actorCount: number }>;
}

const CONNECT_FAILURE =
  /ECONNREFUSED|Connection refused|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|tcp connect error|dns error|failed to lookup address|\(Connect\)|ConnectionRefused/i;

function isConnectFailure(e: unknown): boolean {
  for (let x = e, depth = 0; x != null && depth < 5; depth++) {
    const o = x as { message?: unknown; code?: unknown; cause?: unknown };
    if (typeof o.code === "string" && CONNECT_FAILURE.test(o.code)) return true;
    if (typeof o.message === "string" && CONNECT_FAILURE.test(o.message)) return true;
    x = o.cause;
  }
  return false;
}

function encodeName(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

class Transport {
  readonly urls: readonly string[];
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  readonly timeout: number;
  #active = 0;

  constructor(urls: string[], options: ConnectOptions) {
    this.urls = urls;
    this.#headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeout = options.timeout ?? 30_000;
  }

  /** Send to the active gateway, failing over as the module doc says. */
  async send(
    path: string,
    init: { method: string; body?: string; headers?: Record<string, string> },
    idempotent: boolean,
    options: CallOptions | undefined,
    what: string,
  ): Promise<{ res: Response; done: () => void; ac: AbortController }> {
    const timeout = options?.timeout ?? this.timeout;
    const ac = new AbortController();
    const user = options?.signal;
    const onAbort = () => ac.abort(user!.reason);
    if (user?.aborted) throw user.reason ?? new PulsingRuntimeError(`${what}: aborted`);
    user?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer = timeout > 0 && timeout !== Infinity
      ? setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, timeout)
      : undefined;
    const done = () => {
      clearTimeout(timer);
      user?.removeEventListener("abort", onAbort);
    };
    const headers: Record<string, string> = { ...this.#headers, ...init.headers };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    if (timeout > 0 && timeout !== Infinity) headers["x-pulsing-timeout"] = String(timeout);
    const n = this.urls.length;
    let last: unknown;
    for (let k = 0; k < n; k++) {
      const i = (this.#active + k) % n;
      try {
        const res = await this.#fetch(this.urls[i] + path, {
          method: init.method,
          headers,
          body: init.body,
          signal: ac.signal,
        });
        this.#active = i;
        return { res, done, ac };
      } catch (e) {
        if (ac.signal.aborted) {
          done();
          if (timedOut) throw new PulsingTimeoutError(what, timeout);
          throw user?.reason ?? e;
        }
        last = e;
        if (!idempotent && !isConnectFailure(e)) {
          done();
          throw new PulsingRuntimeError(
            `${what}: connection to ${this.urls[i]} failed after sending (not retried): ${
              (e as Error)?.message ?? e
            }`,
            { cause: e },
          );
        }
      }
    }
    done();
    throw new PulsingRuntimeError(
      `${what}: no gateway reachable (${this.urls.join(", ")}): ${
        (last as Error)?.message ?? last
      }`,
      { cause: last },
    );
  }

  /** A JSON request whose answer is a JSON document. */
  async json<T>(path: string, what: string, options?: CallOptions): Promise<T> {
    const { res, done } = await this.send(path, { method: "GET" }, true, options, what);
    try {
      return await readJson<T>(res);
    } finally {
      done();
    }
  }
}

async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new PulsingRuntimeError(
      `Gateway answered ${res.status} with a non-JSON body: ${text.slice(0, 200)}`,
    );
  }
  if (!res.ok) {
    const err = (body as { error?: HttpErrorBody }).error;
    if (err && typeof err === "object" && typeof err.class === "string") throw errorFromBody(err);
    throw new PulsingRuntimeError(`Gateway answered ${res.status}: ${text.slice(0, 200)}`);
  }
  return body as T;
}

async function* ndjsonItems(
  res: Response,
  ac: AbortController,
): AsyncGenerator<unknown, void, undefined> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let finished = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === "") continue;
        const m = JSON.parse(line) as { item?: unknown; error?: HttpErrorBody; done?: boolean };
        if (m.error !== undefined) {
          finished = true;
          throw errorFromBody(m.error);
        }
        if (m.done) {
          finished = true;
          return;
        }
        yield m.item;
      }
    }
    throw new PulsingRuntimeError("Stream interrupted: the gateway closed the connection");
  } finally {
    if (!finished) {
      ac.abort();
      await reader.cancel().catch(() => {});
    }
  }
}

/** An {@linkcode ActorRef} reached through a gateway. */
class GatewayActorRef extends ActorRef {
  readonly #t: Transport;
  readonly #path: string;
  readonly #actorId: ActorId;
  readonly #nodeId: NodeId;
  readonly #query: string;

  constructor(t: Transport, path: string, actorId: ActorId, nodeId: NodeId) {
    super();
    this.#t = t;
    this.#path = path;
    this.#actorId = actorId;
    this.#nodeId = nodeId;
    this.#query = `?node=${encodeURIComponent(nodeId.value)}`;
  }
  get actorId(): ActorId {
    return this.#actorId;
  }
  get nodeId(): NodeId {
    return this.#nodeId;
  }
  get name(): string {
    return this.#path;
  }
  isLocal(): boolean {
    return false;
  }
  async #post(route: string, body: unknown, what: string, options?: CallOptions): Promise<unknown> {
    let text: string;
    try {
      text = JSON.stringify(body);
    } catch (e) {
      throw new TypeError(`${what}: arguments must be JSON-serializable: ${(e as Error).message}`);
    }
    const { res, done, ac } = await this.#t.send(
      route + this.#query,
      { method: "POST", body: text, headers: { accept: "application/x-ndjson, application/json" } },
      false,
      options,
      what,
    );
    if (res.ok && (res.headers.get("content-type") ?? "").startsWith("application/x-ndjson")) {
      done(); // the timeout bounds the wait for the first item; the stream may then run long
      return ActorStream.fromIterable(ndjsonItems(res, ac));
    }
    try {
      return (await readJson<{ result?: unknown }>(res)).result;
    } finally {
      done();
    }
  }
  ask<R = unknown>(msg: unknown, options?: CallOptions): Promise<R> {
    return this.#post(
      `/ask/${encodeName(this.#path)}`,
      { msg },
      `ask ${this.#path}`,
      options,
    ) as Promise<R>;
  }
  async tell(msg: unknown): Promise<void> {
    await this.#post(`/tell/${encodeName(this.#path)}`, { msg }, `tell ${this.#path}`);
  }
  call(method: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    return this.#post(
      `/actors/${encodeName(this.#path)}/${encodeURIComponent(method)}`,
      { args },
      `call ${this.#path}.${method}`,
      options,
    );
  }
}

class Client implements GatewayClient {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }
  get urls(): readonly string[] {
    return this.#t.urls;
  }
  resolve<T extends object, A extends unknown[]>(
    name: string,
    options: TypedClientResolveOptions<T, A>,
  ): Promise<ActorProxy<T>>;
  resolve(name: string, options?: ClientResolveOptions): Promise<AnyProxy>;
  async resolve<T extends object, A extends unknown[]>(
    name: string,
    options: ClientResolveOptions & { cls?: ActorClass<T, A> } = {},
  ): Promise<ActorProxy<T> | AnyProxy> {
    const q = new URLSearchParams();
    if (options.timeout) q.set("timeout", String(options.timeout));
    if (options.nodeId) q.set("node", options.nodeId);
    const qs = q.size > 0 ? `?${q}` : "";
    const r = await this.#t.json<{ path: string; nodeId: string; actorId: string }>(
      `/actors/${encodeName(name)}${qs}`,
      `resolve ${name}`,
      { timeout: (options.timeout ?? 0) + this.#t.timeout },
    );
    const ref = new GatewayActorRef(this.#t, r.path, new ActorId(r.actorId), new NodeId(r.nodeId));
    return options.cls ? options.cls.proxy(ref) : asAny(ref);
  }
  async members(): Promise<MemberInfo[]> {
    return (await this.#t.json<{ members: MemberInfo[] }>("/cluster/members", "members")).members;
  }
  async actors(options: { all?: boolean } = {}): Promise<NamedActorInfo[]> {
    const path = options.all ? "/actors?all=true" : "/actors";
    return (await this.#t.json<{ actors: NamedActorInfo[] }>(path, "actors")).actors;
  }
  health(): Promise<{ status: string; nodeId: string; addr: string; actorCount: number }> {
    return this.#t.json("/health", "health");
  }
}

/**
 * Connect to a cluster through HTTP gateways (no port opened, nothing joined). Nothing is sent
 * until the first request.
 *
 * Arguments and results travel as JSON: use JSON-serializable values (a `Uint8Array` or a
 * `BigInt` does not survive; inside the cluster they do).
 *
 * @param urls One gateway URL or several (failover order), e.g. `http://10.0.0.1:8080`.
 * @param options Bearer token, per-call timeout, custom fetch.
 * @returns A {@linkcode GatewayClient}.
 * @throws {TypeError} when no URL is given or one is not http(s).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * import { ActorSystem } from "@pulsing/pulsing/core";
 * import { connect, serveHttp } from "@pulsing/pulsing/http";
 *
 * const Greeter = pul.remote(class Greeter {
 *   hello(name: string): string { return `hello ${name}`; }
 *   *count(n: number) { for (let i = 0; i < n; i++) yield i; }
 * });
 * const system = new ActorSystem();
 * await Greeter.spawn({ name: "services/greeter", system });
 * const gw = await serveHttp(system, { port: 0, token: "t" });
 *
 * const client = connect(gw.url, { token: "t" });
 * const g = await client.resolve("services/greeter", { cls: Greeter });
 * console.log(await g.hello("ada")); // "hello ada"
 * for await (const i of g.count(3)) console.log(i); // 0, 1, 2
 * await gw.close();
 * await system.shutdown();
 * ```
 */
export function connect(urls: string | string[], options: ConnectOptions = {}): GatewayClient {
  const list = (Array.isArray(urls) ? urls : [urls]).map((u) => {
    const url = new URL(u.includes("://") ? u : `http://${u}`);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`Gateway URL must be http(s): ${u}`);
    }
    return url.href.replace(/\/+$/, "");
  });
  if (list.length === 0) throw new TypeError("At least one gateway URL is required");
  return new Client(new Transport(list, options));
}
