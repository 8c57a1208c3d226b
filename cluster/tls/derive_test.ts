import assert from "node:assert/strict";
import { CLUSTER_CA_SCHEME, deriveCaKey, derivePassphraseSecret, keyFromSeed } from "./derive.ts";
import { PulsingRuntimeError } from "../../core/errors.ts";

async function spki(k: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", k));
}

async function signVerifies(a: CryptoKey, pub: CryptoKey): Promise<boolean> {
  const alg = a.algorithm.name === "Ed25519"
    ? { name: "Ed25519" }
    : { name: "ECDSA", hash: "SHA-256" };
  const data = new TextEncoder().encode("hello");
  const sig = await crypto.subtle.sign(alg, a, data);
  return await crypto.subtle.verify(alg, pub, sig, data);
}

Deno.test("derive: the scheme is versioned", () => {
  assert.equal(CLUSTER_CA_SCHEME, "pulsing/cluster-ca/v1");
});

for (const algorithm of ["Ed25519", "P-256"] as const) {
  Deno.test(`derive ${algorithm}: same passphrase gives the same key, another gives another`, async () => {
    const a1 = await deriveCaKey("alpha beta gamma", { algorithm });
    const a2 = await deriveCaKey("alpha beta gamma", { algorithm });
    const b = await deriveCaKey("alpha beta gammA", { algorithm });
    assert.equal(a1.algorithm, algorithm);
    assert.deepEqual(await spki(a1.publicKey), await spki(a2.publicKey));
    assert.notDeepEqual(await spki(a1.publicKey), await spki(b.publicKey));
    // The private key matches the public key, and is not extractable.
    assert.ok(await signVerifies(a1.privateKey, a2.publicKey));
    assert.ok(!(await signVerifies(b.privateKey, a1.publicKey)));
    assert.equal(a1.privateKey.extractable, false);
  });
}

Deno.test("derive: pinned test vector (changing it breaks every existing cluster)", async () => {
  const k = await deriveCaKey("correct horse battery staple");
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", k.publicKey));
  const hex = Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(hex, PINNED_ED25519_PUBLIC_KEY);
});

Deno.test("derive: NFC normalization makes composed and decomposed text equal", async () => {
  const a = await derivePassphraseSecret("caf\u00e9");
  const b = await derivePassphraseSecret("cafe\u0301");
  assert.deepEqual(a, b);
});

Deno.test("derive: an empty passphrase is refused", async () => {
  await assert.rejects(deriveCaKey(""), PulsingRuntimeError);
});

Deno.test("derive: keyFromSeed checks the seed length", async () => {
  await assert.rejects(keyFromSeed("Ed25519", new Uint8Array(31)), PulsingRuntimeError);
  await assert.rejects(keyFromSeed("P-256", new Uint8Array(16)), PulsingRuntimeError);
  const p = await keyFromSeed("P-256", new Uint8Array(48)); // all zero → d = 1, still valid
  assert.equal(p.publicKey.algorithm.name, "ECDSA");
});

// Cross-checked with Python (hashlib.pbkdf2_hmac, HMAC-based HKDF, `cryptography` Ed25519).
const PINNED_ED25519_PUBLIC_KEY =
  "d5b4058b0f48e8638f37eb375de37504d5db8cf4e12a7904427f5219d84c8916";
