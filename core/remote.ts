/**
 * `pul.remote(Class)`: turn a class into an actor class whose instances are spawned as actors
 * and called through typed proxies.
 *
 * Semantics (as the reference): sync methods run one at a time in arrival order and are
 * atomic with respect to each other; async methods start in arrival order and interleave at
 * their awaits (the actor takes its next message while they wait); generator methods stream
 * their items to the caller, lazily. A method's error reaches the caller (as
 * `PulsingActorError`, or as the same class when it is a Pulsing error) and the actor keeps its
 * state. Local calls pass arguments by reference; remote calls encode them.
 *
 * @module
 */

import {
  type Actor,
  type ActorContext,
  CALL_METHOD,
  Detached,
  type MethodDispatcher,
} from "./actor.ts";
import { CALL_DIRECT, type DirectDispatcher } from "./actor_cell.ts";
import type { ActorRef, CallOptions } from "./actor_ref.ts";
import { ActorStream } from "./actor_stream.ts";
import { PulsingRuntimeError } from "./errors.ts";
import { getSystem } from "./global.ts";
import type { ActorId } from "./ids.ts";
import type { SupervisionOptions } from "./supervision.ts";
import type { ActorSystem, LoadBalancingPolicy, SpawnOptions } from "./system.ts";

/**
 * Any function (the shape of a callable method).
 *
 * @example
 * ```ts
 * import type { AnyFunction } from "@pulsing/pulsing/core";
 * const f: AnyFunction = (a: number) => a;
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnyFunction = (...args: any[]) => any;
/**
 * Any class (what `pul.remote` accepts).
 *
 * @example
 * ```ts
 * import type { AnyClass } from "@pulsing/pulsing/core";
 * const C: AnyClass = class {};
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnyClass = new (...args: any[]) => any;

/** The callable (public, function-valued) keys of `T`. */
export type MethodKeys<T> = {
  [K in keyof T]: K extends string
    ? K extends `_${string}` | "constructor" | "onStart" | "onStop" | "then" ? never
    : T[K] extends AnyFunction ? K
    : never
    : never;
}[keyof T];

/** What calling method `F` through a proxy returns. */
export type ProxyMethod<F> = F extends (...args: infer A) => infer R
  // A method typed `never` (it always throws) is an ordinary call, not a stream.
  ? [R] extends [never] ? (...args: A) => Promise<never>
  : R extends AsyncGenerator<infer Y, unknown, unknown> ? (...args: A) => ActorStream<Y>
  : R extends Generator<infer Y, unknown, unknown> ? (...args: A) => ActorStream<Y>
  : (...args: A) => Promise<Awaited<R>>
  : never;

/**
 * A typed proxy of an actor of class `T`: each public method returns a `Promise` of its
 * result, each generator method an {@linkcode ActorStream} of its items.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * class Greeter { hello(name: string): string { return `hello ${name}`; } }
 * await pul.init();
 * const g: pul.ActorProxy<Greeter> = await pul.remote(Greeter).spawn();
 * console.log(await g.hello("ada")); // "hello ada"
 * await pul.shutdown();
 * ```
 */
export type ActorProxy<T> = { readonly [K in MethodKeys<T>]: ProxyMethod<T[K]> };

/**
 * A call made through an untyped proxy: await it for the result, or iterate it for the items
 * of a streaming method. Nothing is sent until it is awaited or iterated.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * class Svc { *count(n: number) { for (let i = 0; i < n; i++) yield i; } twice(x: number) { return 2 * x; } }
 * await pul.init();
 * await pul.remote(Svc).spawn({ name: "svc" });
 * const any = await pul.resolve("svc");
 * console.log(await any.twice(4)); // 8
 * for await (const i of any.count(2)) console.log(i); // 0, 1
 * await pul.shutdown();
 * ```
 */
// deno-lint-ignore no-explicit-any
export class PendingCall<T = any> implements PromiseLike<T>, AsyncIterable<T> {
  readonly #ref: ActorRef;
  readonly #method: string;
  readonly #args: unknown[];
  readonly #options: CallOptions | undefined;
  #p: Promise<unknown> | undefined;
  /** Prepare a call (use an untyped proxy rather than this constructor). */
  constructor(ref: ActorRef, method: string, args: unknown[], options?: CallOptions) {
    this.#ref = ref;
    this.#method = method;
    this.#args = args;
    this.#options = options;
  }
  #start(): Promise<unknown> {
    return this.#p ??= this.#ref.call(this.#method, this.#args, this.#options);
  }
  /** Send the call and wait for its result (a streaming method resolves to its stream). */
  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return (this.#start() as Promise<T>).then(onfulfilled, onrejected);
  }
  /** Like `Promise.catch`. */
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return (this.#start() as Promise<T>).catch(onrejected);
  }
  /** Iterate the items of a streaming method. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const s = ActorStream.lazy<T>(() => this.#start());
    const signal = this.#options?.signal;
    return (signal ? s.abortOn(signal) : s)[Symbol.asyncIterator]();
  }
}

/**
 * An untyped proxy: any method name works; each call is a {@linkcode PendingCall}.
 *
 * @example
 * ```ts
 * import type { AnyProxy } from "@pulsing/pulsing";
 * async function poke(p: AnyProxy) { return await p.ping(); }
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnyProxy = { readonly [method: string]: (...args: any[]) => PendingCall<any> };

const REF: unique symbol = Symbol("pulsing.ref");
const OPTS: unique symbol = Symbol("pulsing.callOptions");

/**
 * The {@linkcode ActorRef} behind a proxy.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * const p = await pul.remote(class A { f() { return 1; } }).spawn();
 * console.log(pul.refOf(p).isLocal()); // true
 * await pul.shutdown();
 * ```
 */
export function refOf(proxy: object): ActorRef {
  const r = (proxy as { [REF]?: ActorRef })[REF];
  if (r === undefined) throw new TypeError("Not a Pulsing proxy");
  return r;
}

/**
 * An untyped proxy over a reference or another proxy (same actor, any method name).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * const p = await pul.remote(class A { f() { return 1; } }).spawn();
 * console.log(await pul.asAny(p).f()); // 1
 * await pul.shutdown();
 * ```
 */
export function asAny(target: ActorRef | object, options?: CallOptions): AnyProxy {
  const ref = isRef(target) ? target : refOf(target);
  return new Proxy(Object.create(null) as AnyProxy, {
    get(_t, prop) {
      if (prop === REF) return ref;
      if (typeof prop !== "string") return undefined;
      // Not methods: `then` (so that a proxy is not a thenable) and `toJSON`. Every other
      // name, `constructor` included, is a call that the actor accepts or refuses clearly.
      if (prop === "then" || prop === "toJSON") return undefined;
      if (prop.startsWith("_") || prop.startsWith("#")) {
        throw new TypeError(`Cannot access private attribute: ${prop}`);
      }
      return (...args: unknown[]) => new PendingCall(ref, prop, args, options);
    },
    has(_t, prop) {
      return prop === REF;
    },
  });
}

function isRef(x: unknown): x is ActorRef {
  return x !== null && typeof x === "object" && typeof (x as ActorRef).call === "function" &&
    typeof (x as ActorRef).ask === "function" && "actorId" in (x as object);
}

/**
 * A callable method of an actor class and whether it streams.
 *
 * @example
 * ```ts
 * import { methodsOf } from "@pulsing/pulsing/core";
 * const [m] = methodsOf(class { *gen() {} });
 * console.log(m.name, m.stream); // "gen" true
 * ```
 */
export interface MethodInfo {
  /** The method name. */
  name: string;
  /** True for generator and async-generator methods (they answer with a stream). */
  stream: boolean;
}

/**
 * The callable methods of a class, inherited ones included (public names only: no `_`/`#`
 * prefix, not `constructor`, `onStart` or `onStop`).
 *
 * @example
 * ```ts
 * import { methodsOf } from "@pulsing/pulsing/core";
 * console.log(methodsOf(class { a() {} _b() {} }).map((m) => m.name)); // ["a"]
 * ```
 */
export function methodsOf(cls: AnyClass): MethodInfo[] {
  const out = new Map<string, MethodInfo>();
  for (let p = cls.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (out.has(name) || !isCallableName(name)) continue;
      const d = Object.getOwnPropertyDescriptor(p, name)!;
      if (typeof d.value !== "function") continue;
      const kind = d.value.constructor?.name;
      out.set(name, {
        name,
        stream: kind === "GeneratorFunction" || kind === "AsyncGeneratorFunction",
      });
    }
  }
  return [...out.values()];
}

const FORBIDDEN = new Set(["constructor", "__proto__", "onStart", "onStop", "prototype", "then"]);

function isCallableName(name: string): boolean {
  return name.length > 0 && name[0] !== "_" && name[0] !== "#" && !FORBIDDEN.has(name);
}

/**
 * Wraps an object so that its public methods can be called as actor messages (what
 * `pul.remote` and `pul.mount` spawn). Internal.
 */
export class ServiceActor implements Actor, MethodDispatcher, DirectDispatcher {
  /** The user object. */
  readonly instance: object;
  /**
   * The methods found so far (set on first call): the cache of the instance's prototype, shared
   * by all its actors, until an own property is called; from then on a small one of its own
   * over the same map. One field per actor (100,000 idle actors: every 8 bytes here are ~2 MB
   * of RSS).
   */
  #cache: MethodCache | undefined;
  /** Wrap an object. */
  constructor(instance: object) {
    this.instance = instance;
  }
  /** Plain messages go to the object's own `receive`, if it has one. */
  receive(msg: unknown, ctx: ActorContext): unknown {
    const r = (this.instance as Partial<Actor>).receive;
    if (typeof r === "function") return r.call(this.instance, msg, ctx);
    throw new PulsingRuntimeError(
      `Actor ${ctx.name ?? ctx.actorId} takes method calls, not messages (got ${typeof msg})`,
    );
  }
  /** Forward `onStart`. */
  onStart(actorId: ActorId, ctx: ActorContext): void | Promise<void> {
    return (this.instance as Partial<Actor>).onStart?.(actorId, ctx);
  }
  /** Forward `onStop`. */
  onStop(ctx: ActorContext): void | Promise<void> {
    return (this.instance as Partial<Actor>).onStop?.(ctx);
  }
  /** Forward `metadata`. */
  metadata(): Record<string, string> {
    return (this.instance as Partial<Actor>).metadata?.() ?? {};
  }
  /** Look up and run a method (an async one runs detached). */
  [CALL_METHOD](method: string, args: unknown[], ctx: ActorContext): unknown {
    const r = this[CALL_DIRECT](method, args, ctx);
    if (r !== null && typeof r === "object" && typeof (r as Promise<unknown>).then === "function") {
      return new Detached(r as Promise<unknown>);
    }
    return r;
  }
  /** Look up and run a method; return its result as is (the cell's fast path). */
  [CALL_DIRECT](method: string, args: unknown[], ctx: ActorContext): unknown {
    const inst = this.instance;
    const c = this.#cache ??= methodCacheOf(inst);
    let fn: AnyFunction | null | undefined = method === c.lastName ? c.lastFn : c.map.get(method);
    // A cached method is still the one to call when reading its name off the instance gives it
    // (one property load instead of `Object.hasOwn` + `Map.get`, ~7 ns less): an own property
    // added since, a deleted one or a patched prototype give another value and take the slow
    // path, which looks at descriptors only. Only names found as data properties holding
    // functions are cached, so a getter is never run, unless one is defined later under the
    // name of a method already called.
    if (fn === undefined || (inst as Record<string, unknown>)[method] !== fn) {
      fn = findMethod(inst, method);
      if (fn === null) {
        throw new PulsingRuntimeError(
          isCallableName(String(method))
            ? `No method '${method}' on actor ${ctx.name ?? ctx.actorId}`
            : `Invalid method '${method}': private, reserved or not a method`,
        );
      }
      // Only methods found are cached: names sent by callers cannot grow the cache. A
      // prototype's method goes into the map the prototype's instances share. An own property
      // (a mounted object, an arrow-function field) is remembered only as this actor's last
      // method, in a small cache of its own that shares that map (never copied: 100,000 actors
      // with an arrow field would otherwise each hold a copy) — unless the object has no
      // prototype, whose map is its own anyway.
      if (Object.hasOwn(inst, method)) {
        const own = c.own
          ? c
          : this.#cache = { map: c.map, own: true, lastName: undefined, lastFn: undefined };
        if (Object.getPrototypeOf(inst) === null) own.map.set(method, fn);
        own.lastName = method;
        own.lastFn = fn;
      } else {
        c.map.set(method, fn);
        c.lastName = method;
        c.lastFn = fn;
      }
    }
    // A call with its arguments spelled out is cheaper than `apply` with the array (~5 ns).
    switch (args.length) {
      case 0:
        return fn.call(inst);
      case 1:
        return fn.call(inst, args[0]);
      case 2:
        return fn.call(inst, args[0], args[1]);
      case 3:
        return fn.call(inst, args[0], args[1], args[2]);
      default:
        return fn.apply(inst, args);
    }
  }
}

/** Methods found so far, and the one found last the slow way (tried first: ~1.5 ns less). */
interface MethodCache {
  readonly map: Map<string, AnyFunction>;
  /**
   * One actor's own (it called an own property; `lastName`/`lastFn` are its own, `map` is still
   * its prototype's), not its prototype's shared one.
   */
  readonly own: boolean;
  lastName: string | undefined;
  lastFn: AnyFunction | undefined;
}

const methodCaches = new WeakMap<object, MethodCache>();

function newCache(own: boolean): MethodCache {
  return { map: new Map(), own, lastName: undefined, lastFn: undefined };
}

/** The method cache shared by every instance with the same prototype. */
function methodCacheOf(inst: object): MethodCache {
  const proto = Object.getPrototypeOf(inst);
  if (proto === null) return newCache(true);
  let m = methodCaches.get(proto);
  if (m === undefined) methodCaches.set(proto, m = newCache(false));
  return m;
}

function findMethod(inst: object, name: string): AnyFunction | null {
  if (typeof name !== "string" || !isCallableName(name)) return null;
  for (let o: object | null = inst; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d) return typeof d.value === "function" ? d.value : null;
  }
  return null;
}

/** Options of {@linkcode remote}. */
export interface RemoteOptions extends SupervisionOptions {
  /** The name the class is registered under for remote placement (default: the class name). */
  name?: string;
  /** The module URL that defines the class (`import.meta.url`), so other nodes can import it. */
  module?: string;
  /** Mailbox capacity of its actors (default 256). */
  mailboxCapacity?: number;
  /**
   * Lend its methods the big `Uint8Array` arguments (64 KiB or more) of calls from other nodes
   * instead of giving them away: each is valid until the method's result has settled, then
   * detached (`byteLength` 0) and its memory reused for the next big call — no fresh
   * allocation per call, the largest cost of big payloads (about 1.5× the MB/s on 1 MiB
   * arguments here). For classes whose methods do not keep their byte arguments, or views of
   * them, past their result: copy with `.slice()` what you keep, and await any message you
   * send them in (a message still queued when they are released fails, and its connection
   * closes, with "a byte segment was detached before it was written"). Generator methods, local
   * calls and tells are not affected. Default `false`.
   *
   * @example
   * ```ts
   * import * as pul from "@pulsing/pulsing";
   * const Checksum = pul.remote(class Checksum {
   *   // reads the bytes during the call and keeps nothing of them: fit to borrow them
   *   sum(bytes: Uint8Array): number {
   *     let s = 0;
   *     for (let i = 0; i < bytes.length; i++) s = (s + bytes[i]) % 65521;
   *     return s;
   *   }
   * }, { lendBytes: true });
   * ```
   */
  lendBytes?: boolean;
}

/** Options of {@linkcode ActorClass.spawn}. */
export interface ActorSpawnOptions<A extends unknown[]> extends SupervisionOptions {
  /** The name (default: `actors/<Class>_<16 hex>`). */
  name?: string;
  /** Constructor arguments. */
  args?: A;
  /** `"local"` (default), `"remote"` (another node), or a node id. */
  placement?: "local" | "remote" | string;
  /** Kept for API compatibility: every named actor is resolvable. */
  public?: boolean;
  /** The system to spawn on (default: the global one). */
  system?: ActorSystem;
  /** Mailbox capacity. */
  mailboxCapacity?: number;
}

/** Options of {@linkcode ActorClass.resolve} and `pul.resolve`. */
export interface ProxyResolveOptions {
  /** Wait up to this many ms for the name to appear. */
  timeout?: number;
  /** The instance on this node. */
  nodeId?: string;
  /** The system to resolve on (default: the global one). */
  system?: ActorSystem;
  /** How to choose among several instances (default round robin). */
  policy?: LoadBalancingPolicy;
  /** A routing key for key-based policies (consistent hashing). */
  key?: string;
}

/** What the cluster layer sends to create an actor of a registered class on another node. */
export interface RemoteSpawnRequest {
  /** The class's registry key. */
  classKey: string;
  /** Its module URL, if known. */
  module?: string;
  /** The actor name. */
  name: string;
  /** Constructor arguments. */
  args: unknown[];
  /** Supervision and mailbox settings. */
  options: SupervisionOptions & { mailboxCapacity?: number };
}

/**
 * An actor class: spawn actors from it and resolve typed proxies to them.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * class Counter {
 *   value = 0;
 *   incr(): number { return ++this.value; }
 * }
 * await pul.init();
 * const Remote = pul.remote(Counter);
 * const c = await Remote.spawn({ name: "counter" });
 * await c.incr();
 * const again = await Remote.resolve("counter");
 * console.log(await again.incr()); // 2
 * await pul.shutdown();
 * ```
 */
export class ActorClass<T extends object, A extends unknown[]> {
  /** The user class. */
  readonly cls: new (...args: A) => T;
  /** The registry key (class name or `options.name`). */
  readonly key: string;
  /** Options given to `pul.remote`. */
  readonly options: RemoteOptions;
  /** The callable methods. */
  readonly methods: readonly MethodInfo[];
  readonly #proto: object;
  /** Builds proxies with `#proto` (a constructor gives them one exact field: 32 B, not 56). */
  readonly #Proxy: new (ref: ActorRef) => object;

  /** Use {@linkcode remote} rather than this constructor. */
  constructor(cls: new (...args: A) => T, options: RemoteOptions = {}) {
    if (typeof cls !== "function" || !cls.prototype) {
      throw new TypeError("pul.remote expects a class");
    }
    this.cls = cls;
    this.key = options.name ?? cls.name;
    if (!this.key) throw new TypeError("pul.remote: anonymous classes need { name }");
    this.options = options;
    this.methods = methodsOf(cls);
    this.#proto = typedPrototype(this.methods);
    this.#Proxy = proxyConstructor(this.#proto);
  }

  /** A typed proxy over a reference. */
  proxy(ref: ActorRef): ActorProxy<T> {
    return new this.#Proxy(ref) as ActorProxy<T>;
  }

  /**
   * Spawn an actor of this class and return a typed proxy.
   *
   * @throws whatever the constructor throws (local placement), `PulsingRuntimeError` for a
   * taken name or an unknown class on the target node.
   */
  spawn(options: ActorSpawnOptions<A> = {}): Promise<ActorProxy<T>> {
    // Not `async`: a local spawn takes no extra turns (spawning many actors stays cheap).
    try {
      const system = options.system ?? getSystem();
      // 16 hex characters (64 random bits): no collision in practice even with millions of
      // actors (8 characters, as in the reference, collide within ~100k).
      const name = options.name ?? `actors/${this.key}_${autoSuffix()}`;
      const args = (options.args ?? []) as A;
      const placement = options.placement ?? "local";
      const o = this.options;
      const sup: SupervisionOptions = {
        restartPolicy: options.restartPolicy ?? o.restartPolicy,
        maxRestarts: options.maxRestarts ?? o.maxRestarts,
        minBackoff: options.minBackoff ?? o.minBackoff,
        maxBackoff: options.maxBackoff ?? o.maxBackoff,
      };
      const mailboxCapacity = options.mailboxCapacity ?? o.mailboxCapacity;
      if (placement !== "local" && placement !== system.nodeId.value) {
        return this.#spawnPlaced(system, name, args, placement, sup, mailboxCapacity);
      }
      return spawnService(system, this as ActorClass<T, A>, name, args, sup, mailboxCapacity)
        .then((ref) => this.proxy(ref));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async #spawnPlaced(
    system: ActorSystem,
    name: string,
    args: A,
    placement: string,
    sup: SupervisionOptions,
    mailboxCapacity: number | undefined,
  ): Promise<ActorProxy<T>> {
    const cluster = system.cluster as
      | { spawnRemote?(r: RemoteSpawnRequest, placement: string): Promise<ActorRef> }
      | undefined;
    if (cluster?.spawnRemote) {
      const ref = await cluster.spawnRemote({
        classKey: this.key,
        module: this.options.module,
        name,
        args,
        options: { ...sup, mailboxCapacity },
      }, placement);
      return this.proxy(ref);
    }
    if (placement !== "remote") {
      throw new PulsingRuntimeError(
        `Cannot place ${name} on node ${placement}: this system is not part of a cluster`,
      );
    }
    system.log("warn", `placement "remote": no cluster, spawning ${name} locally`);
    const ref = await spawnService(
      system,
      this as ActorClass<T, A>,
      name,
      args,
      sup,
      mailboxCapacity,
    );
    return this.proxy(ref);
  }

  /** Resolve a typed proxy to an existing actor by name. */
  async resolve(name: string, options: ProxyResolveOptions = {}): Promise<ActorProxy<T>> {
    const system = options.system ?? getSystem();
    const ref = await system.resolve(name, {
      timeout: options.timeout,
      nodeId: options.nodeId,
      policy: options.policy,
      key: options.key,
    });
    return this.proxy(ref);
  }
}

/** Spawn metadata, one (immutable) object per actor class. */
const classMetadata = new WeakMap<object, Record<string, string>>();

function autoSuffix(): string {
  const u = crypto.randomUUID();
  return u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18);
}

function spawnService<T extends object, A extends unknown[]>(
  system: ActorSystem,
  ac: ActorClass<T, A>,
  name: string,
  args: A,
  sup: SupervisionOptions,
  mailboxCapacity: number | undefined,
): Promise<ActorRef> {
  let metadata = classMetadata.get(ac);
  if (metadata === undefined) {
    metadata = Object.freeze({ class: ac.key, module: ac.options.module ?? "" });
    classMetadata.set(ac, metadata);
  }
  const opts: SpawnOptions = { ...sup, name, mailboxCapacity, metadata };
  if (ac.options.lendBytes) opts.lendBytes = true;
  return system.spawn(() => new ServiceActor(new ac.cls(...args)), opts);
}

type ProxyThis = { [REF]: ActorRef; [OPTS]?: CallOptions };

/** Where a typed prototype keeps the constructor of its proxies (for `withOptions`). */
const CTOR: unique symbol = Symbol("pulsing.proxyConstructor");

type ProxyCtor = new (ref: ActorRef, opts?: CallOptions) => object;

/**
 * A constructor of proxies over `proto`, each holding its reference and call options: every
 * proxy of the class has the same shape, also those `withOptions` makes.
 */
function proxyConstructor(proto: object): ProxyCtor {
  const Ctor = function (this: ProxyThis, ref: ActorRef, opts?: CallOptions) {
    this[REF] = ref;
    this[OPTS] = opts;
  } as unknown as ProxyCtor;
  Ctor.prototype = proto;
  (proto as { [CTOR]?: ProxyCtor })[CTOR] = Ctor;
  return Ctor;
}

function typedPrototype(methods: readonly MethodInfo[]): object {
  const proto: Record<string | symbol, unknown> = Object.create(null);
  for (const { name, stream } of methods) {
    proto[name] = stream
      ? function (this: ProxyThis, ...args: unknown[]) {
        const ref = this[REF];
        const opts = this[OPTS];
        const s = ActorStream.lazy(() => ref.call(name, args, opts));
        return opts?.signal ? s.abortOn(opts.signal) : s;
      }
      : function (this: ProxyThis, ...args: unknown[]) {
        return this[REF].call(name, args, this[OPTS]);
      };
  }
  return proto;
}

/**
 * The same proxy with per-call options: a timeout and/or an abort signal applied to every call
 * made through it (a stream is cut short with the signal's reason when it aborts).
 *
 * @param proxy A typed or untyped proxy.
 * @param options `timeout` (ms) and `signal`.
 * @returns A proxy of the same type.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const Slow = pul.remote(class Slow { async wait(ms: number) { await new Promise((r) => setTimeout(r, ms)); return ms; } });
 * await pul.init();
 * const s = await Slow.spawn();
 * try {
 *   await pul.withOptions(s, { timeout: 10 }).wait(100);
 * } catch (e) {
 *   console.log((e as Error).name); // "PulsingTimeoutError"
 * }
 * await pul.shutdown();
 * ```
 */
export function withOptions<P extends object>(proxy: P, options: CallOptions): P {
  const ref = refOf(proxy);
  const proto = Object.getPrototypeOf(proxy);
  if (proto === null || proto === Object.prototype) return asAny(ref, options) as P;
  const Ctor = (proto as { [CTOR]?: ProxyCtor })[CTOR];
  if (Ctor !== undefined) return new Ctor(ref, options) as P;
  const p = Object.create(proto) as ProxyThis;
  p[REF] = ref;
  p[OPTS] = options;
  return p as unknown as P;
}

const registry = new Map<string, ActorClass<object, unknown[]>>();

/**
 * Make an actor class out of an ordinary class.
 *
 * @param cls The class. Its public methods become callable through proxies.
 * @param options Supervision defaults, registry name, module URL, mailbox capacity.
 * @returns The {@linkcode ActorClass}.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * const Counter = pul.remote(class Counter {
 *   value: number;
 *   constructor(init = 0) { this.value = init; }
 *   incr(): number { return ++this.value; }
 *   async *stream(n: number) { for (let i = 0; i < n; i++) yield `chunk_${i}`; }
 * }, { restartPolicy: "on_failure", maxRestarts: 3 });
 * await pul.init();
 * const c = await Counter.spawn({ name: "counter", args: [10] });
 * console.log(await c.incr()); // 11
 * for await (const s of c.stream(2)) console.log(s); // chunk_0, chunk_1
 * await pul.shutdown();
 * ```
 */
export function remote<C extends AnyClass>(
  cls: C,
  options: RemoteOptions = {},
): ActorClass<InstanceType<C>, ConstructorParameters<C>> {
  const ac = new ActorClass<InstanceType<C>, ConstructorParameters<C>>(cls, options);
  registry.set(ac.key, ac as unknown as ActorClass<object, unknown[]>);
  return ac;
}

/**
 * The actor class registered under a key (for remote creation), if any.
 *
 * @example
 * ```ts
 * import { lookupClass, remote } from "@pulsing/pulsing/core";
 * remote(class Worker {});
 * console.log(lookupClass("Worker")?.key); // "Worker"
 * ```
 */
export function lookupClass(key: string): ActorClass<object, unknown[]> | undefined {
  return registry.get(key);
}

/**
 * Keys of every registered actor class.
 *
 * @example
 * ```ts
 * import { registeredClasses } from "@pulsing/pulsing/core";
 * console.log(Array.isArray(registeredClasses())); // true
 * ```
 */
export function registeredClasses(): string[] {
  return [...registry.keys()];
}

/**
 * Create an actor of a registered class on this node (the target side of remote placement).
 *
 * @throws {PulsingRuntimeError} when the class is not registered here.
 */
export async function spawnRegistered(
  system: ActorSystem,
  req: RemoteSpawnRequest,
): Promise<ActorRef> {
  let ac = registry.get(req.classKey);
  if (!ac && req.module) {
    await import(req.module);
    ac = registry.get(req.classKey);
  }
  if (!ac) {
    throw new PulsingRuntimeError(
      `Class '${req.classKey}' not found on node ${system.nodeId}: pass it to pul.remote() in ` +
        `that process, or give pul.remote(Class, { module: import.meta.url })`,
    );
  }
  return spawnService(system, ac, req.name, req.args, req.options, req.options.mailboxCapacity);
}

/**
 * Expose an existing object as a named actor (its public methods become callable).
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.init();
 * pul.mount({ greet: (n: string) => `hi ${n}` }, { name: "svc/greeter" });
 * console.log(await (await pul.resolve("svc/greeter")).greet("bo")); // "hi bo"
 * pul.unmount("svc/greeter");
 * await pul.shutdown();
 * ```
 */
export function mount(
  instance: object,
  options: { name: string; public?: boolean; system?: ActorSystem },
): ActorRef {
  const system = options.system ?? getSystem();
  return system.spawnInstance(new ServiceActor(instance), {
    name: options.name,
    metadata: { class: instance.constructor?.name ?? "Object", module: "" },
  });
}

/**
 * Stop a mounted object's actor. A no-op when nothing is mounted under that name or Pulsing
 * is not initialized.
 *
 * @example
 * ```ts
 * import * as pul from "@pulsing/pulsing";
 * await pul.unmount("svc/nothing"); // fine
 * ```
 */
export async function unmount(
  name: string,
  options: { system?: ActorSystem } = {},
): Promise<boolean> {
  let system = options.system;
  if (!system) {
    try {
      system = getSystem();
    } catch {
      return false;
    }
  }
  return await system.stop(name);
}
