import assert from "node:assert/strict";
import {
  ActorSystem,
  isInternalName,
  MAX_PATH_LENGTH,
  MAX_SEGMENT_LENGTH,
  normalizeName,
} from "./mod.ts";

function rejects(name: string, pattern: RegExp): void {
  assert.throws(() => normalizeName(name), (e: unknown) => {
    assert.ok(e instanceof TypeError, `expected TypeError for ${JSON.stringify(name)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

Deno.test("a bare name gets the actors/ prefix", () => {
  assert.equal(normalizeName("counter"), "actors/counter");
  assert.equal(normalizeName("system"), "actors/system");
});

Deno.test("paths with segments are kept; slashes at the ends are stripped", () => {
  assert.equal(normalizeName("services/llm/router"), "services/llm/router");
  assert.equal(normalizeName("/services/llm/router/"), "services/llm/router");
  assert.equal(normalizeName("a/b"), "a/b");
  assert.equal(normalizeName(" a / b "), "a/b");
});

Deno.test("allowed characters: Unicode letters, digits, _ and -", () => {
  assert.equal(normalizeName("svc/café_2-x"), "svc/café_2-x");
  assert.equal(normalizeName("计数器"), "actors/计数器");
  assert.equal(normalizeName("ns/Ärger/١٢٣"), "ns/Ärger/١٢٣");
  for (const bad of ["a b", "a.b", "ns/a@b", "ns/x:y", "ns/a*b", "ns/🙂", "a\\b"]) {
    rejects(bad, /Invalid character.*letters, digits, '_' and '-'/);
  }
});

Deno.test("empty names and empty segments are refused", () => {
  rejects("", /empty/);
  rejects("/", /empty/);
  rejects("a//b", /empty path segment/);
  rejects("a/ /b", /empty path segment/);
});

Deno.test("segment length limit is 64", () => {
  assert.equal(MAX_SEGMENT_LENGTH, 64);
  const s64 = "a".repeat(64);
  assert.equal(normalizeName(`ns/${s64}`), `ns/${s64}`);
  assert.equal(normalizeName(s64), `actors/${s64}`);
  rejects(`ns/${"a".repeat(65)}`, /segment exceeds maximum length of 64/);
});

Deno.test("path length limit is 256", () => {
  assert.equal(MAX_PATH_LENGTH, 256);
  const s64 = "a".repeat(64);
  const p256 = `${s64}/${s64}/${s64}/${"b".repeat(61)}`;
  assert.equal(p256.length, 256);
  assert.equal(normalizeName(p256), p256);
  rejects(`${p256}b`, /path exceeds maximum length of 256/);
});

Deno.test("the system/ namespace is reserved", () => {
  rejects("system/core", /'system' namespace is reserved/);
  rejects("/system/x/", /reserved/);
  assert.equal(normalizeName("system/core", { allowSystem: true }), "system/core");
});

Deno.test("non-string names are refused", () => {
  assert.throws(() => normalizeName(42 as unknown as string), TypeError);
});

Deno.test("spawn validates names and reports duplicates", async () => {
  const system = new ActorSystem();
  await assert.rejects(() => system.spawn({ receive: () => 1 }, { name: "bad name" }), TypeError);
  await assert.rejects(() => system.spawn({ receive: () => 1 }, { name: "system/x" }), TypeError);
  await system.spawn({ receive: () => 1 }, { name: "dup" });
  await assert.rejects(
    () => system.spawn({ receive: () => 1 }, { name: "actors/dup" }),
    /Actor already exists: actors\/dup/,
  );
  assert.deepEqual(system.localActorNames(), ["actors/dup"]);
  await system.shutdown();
});

Deno.test("isInternalName: the system namespace and _-prefixed last segments", () => {
  assert.equal(isInternalName("system/core"), true);
  assert.equal(isInternalName("queues/q/_hidden"), true);
  assert.equal(isInternalName("actors/counter"), false);
  assert.equal(isInternalName("actors/sys_tem"), false);
});
