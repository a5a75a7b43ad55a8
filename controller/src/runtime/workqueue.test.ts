import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { BucketRateLimiter, ExponentialRateLimiter, WorkQueue } from "./workqueue.js";

test("a key waits only once however often it is added", async () => {
  const queue = new WorkQueue("dedup", { clock: new FakeClock() });
  queue.add("ns/a");
  queue.add("ns/a");
  queue.add("ns/b");
  assert.equal(queue.len(), 2);
  assert.equal(await queue.get(), "ns/a");
  assert.equal(await queue.get(), "ns/b");
});

test("a key being processed is not handed out again until done, then comes back once", async () => {
  const queue = new WorkQueue("processing", { clock: new FakeClock() });
  queue.add("k");
  const key = await queue.get();
  assert.equal(key, "k");
  queue.add("k");
  queue.add("k");
  assert.equal(queue.len(), 0, "re-added key must wait for done()");
  queue.done("k");
  assert.equal(queue.len(), 1);
  assert.equal(await queue.get(), "k");
  queue.done("k");
  assert.equal(queue.len(), 0);
});

test("addAfter adds when the delay passes, keeping the earliest of several delays", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("after", { clock });
  queue.addAfter("k", 1000);
  queue.addAfter("k", 5000);
  queue.addAfter("k", 500);
  clock.advance(499);
  assert.equal(queue.len(), 0);
  clock.advance(1);
  assert.equal(queue.len(), 1);
  clock.advance(10_000);
  assert.equal(queue.len(), 1, "the later delays were dropped");
});

test("per-key backoff doubles from milliseconds and is capped in minutes; forget resets it", () => {
  const limiter = new ExponentialRateLimiter(5, 5 * 60_000);
  const delays = Array.from({ length: 20 }, () => limiter.when("k"));
  assert.deepEqual(delays.slice(0, 4), [5, 10, 20, 40]);
  assert.equal(delays.at(-1), 5 * 60_000);
  assert.equal(limiter.when("other"), 5, "keys back off independently");
  limiter.forget("k");
  assert.equal(limiter.when("k"), 5);
});

test("the overall bucket lets a burst through, then paces at qps", () => {
  const clock = new FakeClock();
  const bucket = new BucketRateLimiter(10, 3, clock);
  assert.deepEqual([bucket.when("a"), bucket.when("b"), bucket.when("c")], [0, 0, 0]);
  assert.equal(bucket.when("d"), 100);
  clock.advance(1000);
  assert.equal(bucket.when("e"), 0);
});

test("shutDown wakes waiting getters with undefined and drops new adds", async () => {
  const queue = new WorkQueue("shutdown", { clock: new FakeClock() });
  const waiting = queue.get();
  queue.shutDown();
  assert.equal(await waiting, undefined);
  queue.add("k");
  assert.equal(queue.len(), 0);
});

test("shutDownWithDrain waits for keys in flight", async () => {
  const queue = new WorkQueue("drain", { clock: new FakeClock() });
  queue.add("k");
  const key = await queue.get();
  let drained = false;
  const draining = queue.shutDownWithDrain().then(() => {
    drained = true;
  });
  await flushPromises();
  assert.equal(drained, false);
  queue.done(key!);
  await draining;
  assert.equal(drained, true);
});
