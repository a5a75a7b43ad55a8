import { test } from "node:test";
import assert from "node:assert/strict";
import { RetryBackoff } from "./retry-backoff.js";

test("waits double per failure up to the cap, and a success starts afresh", () => {
  const backoff = new RetryBackoff({ baseMs: 5000, maxMs: 30_000 });
  const waits = [0, 1, 2, 3, 4].map((i) => backoff.failed("ns/a", i * 100_000, "HostPortInUse", 1).waitMs);
  assert.deepEqual(waits, [5000, 10_000, 20_000, 30_000, 30_000]);
  assert.equal(backoff.remainingMs("ns/a", 400_000 + 1000, 1), 29_000);
  assert.equal(backoff.remainingMs("ns/b", 0, 1), 0, "other keys are not held");
  backoff.reset("ns/a");
  assert.equal(backoff.failed("ns/a", 0, "HostPortInUse", 1).waitMs, 5000);
});

test("a stopped key waits until its generation changes", () => {
  const backoff = new RetryBackoff({ baseMs: 5000, maxMs: 30_000 });
  backoff.stop("ns/a", "CommandNotFound", 1);
  assert.equal(backoff.remainingMs("ns/a", 10 ** 12, 1), Number.POSITIVE_INFINITY);
  assert.equal(backoff.remainingMs("ns/a", 0, 2), 0, "a changed Instance may run");
  assert.equal(backoff.failed("ns/a", 0, "HostPortInUse", 2).failures, 1, "and starts its count afresh");
});

test("waits on given reasons are released at once; others keep theirs", () => {
  const backoff = new RetryBackoff({ baseMs: 5000, maxMs: 30_000 });
  backoff.failed("ns/down", 0, "EngineUnreachable", 1);
  backoff.failed("ns/port", 0, "HostPortInUse", 1);
  assert.deepEqual(backoff.releaseReasons(new Set(["EngineUnreachable", "DockerTimeout"])), ["ns/down"]);
  assert.equal(backoff.remainingMs("ns/down", 1, 1), 0);
  assert.equal(backoff.remainingMs("ns/port", 1, 1), 4999);
});
