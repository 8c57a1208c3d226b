import assert from "node:assert/strict";
import { ActorRef, type CallOptions } from "../core/actor_ref.ts";
import { PulsingRuntimeError } from "../core/errors.ts";
import { ActorId, NodeId } from "../core/ids.ts";
import { type FailureKind, LazyActorRef, type LazyHost } from "./lazy_ref.ts";

/** A fake remote instance on node `node`; `fail` decides how its next call fails. */
class FakeRef extends ActorRef {
  calls = 0;
  fail: FailureKind | undefined;
  constructor(readonly node: string) {
    super();
  }
  get actorId(): ActorId {
    return new ActorId(this.node.padStart(32, "0"));
  }
  get nodeId(): NodeId {
    return new NodeId(this.node.padStart(32, "0"));
  }
  get name(): string {
    return "actors/svc";
  }
  isLocal(): boolean {
    return false;
  }
  ask<R>(msg: unknown, _o?: CallOptions): Promise<R> {
    this.calls++;
    if (this.fail) {
      const e = new PulsingRuntimeError(`${this.fail} failure at ${this.node}`);
      kinds.set(e, this.fail);
      return Promise.reject(e);
    }
    return Promise.resolve(`${this.node}:${msg}` as R);
  }
  tell(_msg: unknown): Promise<void> {
    return this.ask(null).then(() => {});
  }
  call(m: string, _a: unknown[]): Promise<unknown> {
    return this.ask(m);
  }
}

const kinds = new WeakMap<object, FailureKind>();

function setup(names: string[]) {
  const refs = new Map(names.map((n) => [n, new FakeRef(n)]));
  const live = new Set(names);
  let rr = 0;
  let resolves = 0;
  const host: LazyHost = {
    resolve(exclude) {
      resolves++;
      const cands = [...live].filter((n) => !exclude.has(refs.get(n)!.nodeId.value));
      if (cands.length === 0) {
        return Promise.reject(new PulsingRuntimeError("Named actor not found: actors/svc"));
      }
      return Promise.resolve(refs.get(cands[rr++ % cands.length])!);
    },
    isCurrent: (ref) => live.has((ref as FakeRef).node),
    classify: (e) => kinds.get(e as object) ?? "other",
  };
  return { refs, live, host, resolves: () => resolves };
}

Deno.test("lazy: resolves on first use only, then reuses the instance", async () => {
  const { host, resolves } = setup(["a", "b"]);
  const lazy = new LazyActorRef("actors/svc", host, { ttlMs: 0 });
  assert.equal(resolves(), 0);
  assert.equal(lazy.actorId.value, "0".repeat(32));
  assert.equal(await lazy.ask(1), "a:1");
  assert.equal(await lazy.ask(2), "a:2");
  assert.equal(await lazy.call("m", []), "a:m");
  assert.equal(resolves(), 1);
  assert.equal(lazy.name, "actors/svc");
  assert.equal(lazy.nodeId.value, "a".padStart(32, "0"));
});

Deno.test("lazy: concurrent first calls share one resolve", async () => {
  const { host, resolves } = setup(["a", "b"]);
  const lazy = new LazyActorRef("actors/svc", host, { ttlMs: 0 });
  const rs = await Promise.all([lazy.ask(1), lazy.ask(2), lazy.ask(3)]);
  assert.deepEqual(rs, ["a:1", "a:2", "a:3"]);
  assert.equal(resolves(), 1);
});

Deno.test("lazy: moves when its target is no longer current (node dead)", async () => {
  const { host, live } = setup(["a", "b"]);
  const lazy = new LazyActorRef("actors/svc", host, { ttlMs: 0 });
  assert.equal(await lazy.ask(1), "a:1");
  live.delete("a");
  assert.equal(await lazy.ask(2), "b:2");
});

Deno.test("lazy: an unsent failure is retried once on another instance", async () => {
  const { host, refs } = setup(["a", "b"]);
  const lazy = new LazyActorRef("actors/svc", host, { ttlMs: 0 });
  assert.equal(await lazy.ask(1), "a:1");
  refs.get("a")!.fail = "unsent";
  assert.equal(await lazy.ask(2), "b:2");
  assert.equal(refs.get("b")!.calls, 1);
  // with no other instance, the original error reaches the caller
  refs.get("b")!.fail = "unsent";
  await assert.rejects(lazy.ask(3), /unsent failure at/);
});

Deno.test("lazy: a possibly executed call is never repeated, but the next call moves", async () => {
  const { host, refs } = setup(["a", "b"]);
  const lazy = new LazyActorRef("actors/svc", host, { ttlMs: 0 });
  await lazy.ask(0);
  refs.get("a")!.fail = "connection";
  await assert.rejects(lazy.ask(1), /connection failure at a/);
  assert.equal(refs.get("a")!.calls, 2);
  assert.equal(refs.get("b")!.calls, 0, "the call ran a second time elsewhere");
  assert.equal(await lazy.ask(2), "b:2");
  // an application error neither retries nor moves
  refs.get("b")!.fail = "other";
  await assert.rejects(lazy.ask(3), /other failure at b/);
  refs.get("b")!.fail = undefined;
  assert.equal(await lazy.ask(4), "b:4");
  assert.equal(refs.get("a")!.calls, 2);
});

Deno.test("lazy: re-resolves after the TTL", async () => {
  const { host, resolves } = setup(["a", "b"]);
  let now = 0;
  const lazy = new LazyActorRef("actors/svc", host, { ttlMs: 1000, now: () => now });
  assert.equal(await lazy.ask(1), "a:1");
  now = 999;
  assert.equal(await lazy.ask(2), "a:2");
  now = 1000;
  assert.equal(await lazy.ask(3), "b:3");
  assert.equal(resolves(), 2);
  lazy.invalidate();
  assert.equal(await lazy.ask(4), "a:4");
});
