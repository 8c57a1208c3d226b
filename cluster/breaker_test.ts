import assert from "node:assert/strict";
import { CircuitBreaker, CircuitOpenError } from "./breaker.ts";
import { PulsingRuntimeError } from "../core/errors.ts";

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function failFast(b: CircuitBreaker): CircuitOpenError {
  try {
    b.acquire();
  } catch (e) {
    assert.ok(e instanceof CircuitOpenError);
    return e;
  }
  assert.fail("the call was let through");
}

Deno.test("breaker: N consecutive connection failures open it; calls fail fast with a clear message", () => {
  const c = clock();
  const b = new CircuitBreaker("127.0.0.1:7001", { now: c.now });
  for (let i = 0; i < 4; i++) {
    assert.equal(b.acquire(), false);
    b.record("failure");
  }
  assert.equal(b.state, "closed");
  b.acquire();
  b.record("failure");
  assert.equal(b.state, "open");
  c.advance(400);
  const e = failFast(b);
  assert.ok(e instanceof PulsingRuntimeError);
  assert.equal(e.name, "PulsingRuntimeError");
  assert.equal(
    e.message,
    "circuit open for node 127.0.0.1:7001 after 5 failures; retrying in 0.6 s",
  );
  assert.equal(e.retryInMs, 600);
});

Deno.test("breaker: a success resets the count; neutral outcomes (timeouts) do not count", () => {
  const c = clock();
  const b = new CircuitBreaker("n", { failureThreshold: 3, now: c.now });
  b.record("failure");
  b.record("failure");
  b.record("success");
  b.record("failure");
  b.record("neutral");
  b.record("neutral");
  b.record("failure");
  assert.equal(b.state, "closed");
  assert.equal(b.failures, 2);
  b.record("failure");
  assert.equal(b.state, "open");
});

Deno.test("breaker: failures older than the window are forgotten", () => {
  const c = clock();
  const b = new CircuitBreaker("n", { failureThreshold: 3, windowMs: 1000, now: c.now });
  b.record("failure");
  b.record("failure");
  c.advance(1001);
  b.record("failure");
  assert.equal(b.state, "closed");
  assert.equal(b.failures, 1);
  c.advance(500);
  b.record("failure");
  b.record("failure");
  assert.equal(b.state, "open");
});

Deno.test("breaker: half-open lets exactly one trial through; success closes and resets the delay", () => {
  const c = clock();
  const b = new CircuitBreaker("n", { failureThreshold: 1, now: c.now });
  b.record("failure");
  c.advance(999);
  failFast(b);
  c.advance(1);
  assert.equal(b.state, "half-open");
  const trial = b.acquire();
  assert.equal(trial, true);
  const e = failFast(b); // others wait for the trial
  assert.match(e.message, /a trial call is in progress/);
  b.record("success", trial);
  assert.equal(b.state, "closed");
  assert.equal(b.acquire(), false);
  assert.equal(b.delayMs, 1000);
});

Deno.test("breaker: each failed trial doubles the delay up to the cap", () => {
  const c = clock();
  const b = new CircuitBreaker("n", { failureThreshold: 1, maxDelayMs: 5000, now: c.now });
  b.record("failure");
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    c.advance(b.delayMs);
    const trial = b.acquire();
    assert.equal(trial, true);
    b.record(i % 2 === 0 ? "failure" : "neutral", trial); // a timed-out trial fails it too
    delays.push(b.delayMs);
    assert.equal(b.state, "open");
    assert.match(failFast(b).message, /after 1 failure; retrying in \d/);
  }
  assert.deepEqual(delays, [2000, 4000, 5000, 5000, 5000]);
  c.advance(5000);
  b.record("success", b.acquire());
  assert.equal(b.delayMs, 1000);
});

Deno.test("breaker: late failures of calls started before the opening do not extend it; a late answer closes it", () => {
  const c = clock();
  const b = new CircuitBreaker("n", { failureThreshold: 2, now: c.now });
  b.record("failure");
  b.record("failure");
  b.record("failure"); // in flight before: ignored
  c.advance(1000);
  assert.equal(b.state, "half-open");
  b.record("success"); // an in-flight call was answered: the node is reachable
  assert.equal(b.state, "closed");
});

Deno.test("breaker: membership trips it (dead) and resets it (alive again)", () => {
  const c = clock();
  const b = new CircuitBreaker("127.0.0.1:7001", { now: c.now });
  b.trip("(declared dead)");
  assert.equal(b.state, "open");
  assert.equal(
    failFast(b).message,
    "circuit open for node 127.0.0.1:7001 (declared dead); retrying in 1.0 s",
  );
  b.reset();
  assert.equal(b.state, "closed");
  assert.equal(b.acquire(), false);
  // a trial that settles after a reset is ignored
  b.trip("(declared dead)");
  c.advance(1000);
  const trial = b.acquire();
  b.reset();
  b.record("failure", trial);
  assert.equal(b.state, "closed");
});
