import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import {
  workqueueAdds,
  workqueueDepth,
  workqueueQueueDuration,
  workqueueRetries,
  workqueueWorkDuration,
} from "./metrics.js";
import {
  BucketRateLimiter,
  ExponentialRateLimiter,
  MaxOfRateLimiter,
  WorkQueue,
  defaultRateLimiter,
} from "./workqueue.js";

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

/** A metric's value for one queue (the name label), from the process registry. */
async function metricFor(
  metric: { get(): Promise<{ values: Array<{ value: number; labels: object; metricName?: string }> }> },
  queue: string,
  metricName?: string,
): Promise<number | undefined> {
  const { values } = await metric.get();
  return values.find(
    (v) =>
      (v.labels as { name?: string }).name === queue &&
      (metricName === undefined || v.metricName === metricName),
  )?.value;
}

test("addAfter with no delay adds at once; a later shorter delay replaces the pending one", () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("after-now", { clock });
  queue.addAfter("now", 0);
  queue.addAfter("past", -5);
  assert.equal(queue.len(), 2);
  queue.addAfter("k", 1000);
  queue.addAfter("k", 1000);
  queue.addAfter("k", 200);
  clock.advance(200);
  assert.equal(queue.len(), 3, "the 200 ms delay fired");
  clock.advance(800);
  assert.equal(queue.len(), 3, "the replaced 1000 ms timer was cancelled");
});

test("an equal second delay keeps the first timer", () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("after-equal", { clock });
  queue.addAfter("k", 100);
  clock.advance(50);
  queue.addAfter("k", 50);
  clock.advance(50);
  assert.equal(queue.len(), 1);
  clock.advance(1000);
  assert.equal(queue.len(), 1);
});

test("addRateLimited waits the limiter's delay and counts requeues until forget", () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("rate-limited", {
    clock,
    rateLimiter: new ExponentialRateLimiter(100, 10_000),
  });
  queue.addRateLimited("k");
  assert.equal(queue.numRequeues("k"), 1);
  clock.advance(99);
  assert.equal(queue.len(), 0);
  clock.advance(1);
  assert.equal(queue.len(), 1);
  queue.addRateLimited("k");
  assert.equal(queue.numRequeues("k"), 2);
  queue.forget("k");
  assert.equal(queue.numRequeues("k"), 0);
});

test("the default limiter is per-key backoff bounded by the overall bucket", () => {
  const clock = new FakeClock();
  const limiter = defaultRateLimiter(clock);
  assert.deepEqual(
    Array.from({ length: 3 }, () => limiter.when("k")),
    [5, 10, 20],
  );
  assert.equal(limiter.retries("k"), 3);
  for (let i = 0; i < 97; i++) limiter.when(`other-${i}`);
  assert.equal(limiter.when("fresh"), 100, "the bucket of 100 is spent: 10 per second");
  limiter.forget("k");
  assert.equal(limiter.retries("k"), 0);
});

test("MaxOfRateLimiter takes the longest delay and the most retries", () => {
  const limiter = new MaxOfRateLimiter(
    new ExponentialRateLimiter(5, 1000),
    new ExponentialRateLimiter(50, 1000),
  );
  assert.equal(limiter.when("k"), 50);
  assert.equal(limiter.when("k"), 100);
  assert.equal(limiter.retries("k"), 2);
  assert.equal(new MaxOfRateLimiter().when("k"), 0, "no limiter: no delay");
  assert.equal(new MaxOfRateLimiter().retries("k"), 0);
});

test("the per-key backoff stays at its cap however many failures, and counts them", () => {
  const limiter = new ExponentialRateLimiter(1, 60_000);
  let last = 0;
  for (let i = 0; i < 100; i++) last = limiter.when("k");
  assert.equal(last, 60_000);
  assert.equal(limiter.retries("k"), 100);
  assert.equal(limiter.retries("never"), 0);
  const huge = new ExponentialRateLimiter(1, Number.MAX_VALUE);
  for (let i = 0; i < 60; i++) last = huge.when("k");
  assert.equal(last, 2 ** 52, "the exponent is capped so the delay stays finite");
});

test("the bucket refills at qps up to its burst, and never retries by key", () => {
  const clock = new FakeClock();
  const bucket = new BucketRateLimiter(4, 2, clock);
  assert.equal(bucket.when("a"), 0);
  assert.equal(bucket.when("a"), 0);
  assert.equal(bucket.when("a"), 250, "one token short at 4 per second");
  assert.equal(bucket.when("a"), 500);
  clock.advance(60_000);
  assert.equal(bucket.when("a"), 0);
  assert.equal(bucket.when("a"), 0);
  assert.equal(bucket.when("a"), 250, "a long pause refills only up to the burst");
  bucket.forget("a");
  assert.equal(bucket.retries("a"), 0);
});

test("done() on a key not being processed changes nothing", async () => {
  const queue = new WorkQueue("done-unknown", { clock: new FakeClock() });
  queue.add("k");
  queue.done("k");
  assert.equal(queue.len(), 1);
  assert.equal(await queue.get(), "k");
  assert.equal(queue.isProcessing("k"), true);
  queue.done("other");
  assert.equal(queue.isProcessing("k"), true);
  queue.done("k");
  assert.equal(queue.isProcessing("k"), false);
  assert.equal(queue.len(), 0);
});

test("a getter waiting before an add receives the key and marks it processing", async () => {
  const queue = new WorkQueue("waiting-getter", { clock: new FakeClock() });
  const first = queue.get();
  const second = queue.get();
  queue.add("a");
  queue.add("b");
  assert.equal(await first, "a");
  assert.equal(await second, "b");
  assert.equal(queue.len(), 0);
  assert.equal(queue.isProcessing("a"), true);
  queue.add("a");
  assert.equal(queue.len(), 0, "a is still being processed");
});

test("after shutDown: waiting, delayed and re-added keys are dropped, get() answers undefined", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("shutdown-drop", { clock });
  queue.add("waiting");
  queue.add("busy");
  assert.equal(await queue.get(), "waiting");
  assert.equal(await queue.get(), "busy");
  queue.add("queued");
  queue.addAfter("later", 100);
  queue.add("busy");
  assert.equal(queue.isShuttingDown(), false);
  queue.shutDown();
  assert.equal(queue.isShuttingDown(), true);
  assert.equal(queue.len(), 0);
  assert.equal(await queue.get(), undefined);
  clock.advance(1000);
  assert.equal(queue.len(), 0, "the delayed key never arrives");
  queue.addAfter("after", 0);
  queue.addAfter("after", 10);
  queue.addRateLimited("after");
  clock.advance(1000);
  queue.done("busy");
  assert.equal(queue.len(), 0, "a key re-added while processing is not queued again after shutdown");
  assert.equal(await queue.get(), undefined);
});

test("shutDownWithDrain returns at once when nothing is in flight, and waits for the last key", async () => {
  const idle = new WorkQueue("drain-idle", { clock: new FakeClock() });
  await idle.shutDownWithDrain();
  const queue = new WorkQueue("drain-two", { clock: new FakeClock() });
  queue.add("a");
  queue.add("b");
  await queue.get();
  await queue.get();
  let drained = false;
  const draining = queue.shutDownWithDrain().then(() => {
    drained = true;
  });
  queue.done("a");
  await flushPromises();
  assert.equal(drained, false, "b is still in flight");
  queue.done("b");
  await draining;
});

test("the workqueue metrics count adds and retries and time the wait and the work", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("metrics-q", {
    clock,
    controller: "metrics-c",
    rateLimiter: new ExponentialRateLimiter(10, 100),
  });
  queue.add("a");
  queue.add("a");
  queue.add("b");
  assert.equal(await metricFor(workqueueAdds, "metrics-q"), 2, "a duplicate add is not an add");
  assert.equal(await metricFor(workqueueDepth, "metrics-q"), 2);
  const { values } = await workqueueAdds.get();
  assert.deepEqual(values.find((v) => v.labels.name === "metrics-q")?.labels, {
    controller: "metrics-c",
    name: "metrics-q",
  });
  clock.advance(2000);
  assert.equal(await queue.get(), "a");
  assert.equal(await metricFor(workqueueDepth, "metrics-q"), 1);
  assert.equal(
    await metricFor(workqueueQueueDuration, "metrics-q", "workqueue_queue_duration_seconds_sum"),
    2,
  );
  clock.advance(3000);
  queue.done("a");
  assert.equal(await metricFor(workqueueWorkDuration, "metrics-q", "workqueue_work_duration_seconds_sum"), 3);
  assert.equal(
    await metricFor(workqueueWorkDuration, "metrics-q", "workqueue_work_duration_seconds_count"),
    1,
  );
  queue.done("a");
  assert.equal(
    await metricFor(workqueueWorkDuration, "metrics-q", "workqueue_work_duration_seconds_count"),
    1,
  );
  queue.addRateLimited("c");
  assert.equal(await metricFor(workqueueRetries, "metrics-q"), 1);
  queue.add("a");
  assert.equal(await metricFor(workqueueAdds, "metrics-q"), 3);
  assert.deepEqual([await queue.get(), await queue.get()], ["b", "a"]);
  const waiting = queue.get();
  queue.add("d");
  assert.equal(await waiting, "d");
  assert.equal(queue.len(), 0, "a key handed to a waiting getter is not queued as well");
  assert.equal(await metricFor(workqueueDepth, "metrics-q"), 0);
  queue.add("e");
  queue.shutDown();
  assert.equal(await metricFor(workqueueDepth, "metrics-q"), 0);
});

test("a queue without a controller name labels its metrics with its own name", async () => {
  const queue = new WorkQueue("unnamed-q", { clock: new FakeClock() });
  queue.add("k");
  const { values } = await workqueueAdds.get();
  assert.deepEqual(values.find((v) => v.labels.name === "unnamed-q")?.labels, {
    controller: "unnamed-q",
    name: "unnamed-q",
  });
});

test("a later second delay for a key leaves the earlier one in place", () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("after-later", { clock });
  queue.addAfter("k", 100);
  queue.addAfter("k", 1000);
  clock.advance(100);
  assert.equal(queue.len(), 1);
});

test("after shutDown, addAfter sets no timer", () => {
  const clock = new FakeClock();
  const queue = new WorkQueue("after-shutdown", { clock });
  queue.shutDown();
  queue.addAfter("k", 100);
  assert.equal(clock.pendingTimers(), 0);
});

test("the bucket refills by qps for a part of a second", () => {
  const clock = new FakeClock();
  const bucket = new BucketRateLimiter(4, 2, clock);
  bucket.when("a");
  bucket.when("a");
  clock.advance(250);
  assert.equal(bucket.when("a"), 0, "a quarter second at 4 per second is one token");
  assert.equal(bucket.when("a"), 250);
});

test("per-key backoff defaults: 5 ms doubling up to 5 minutes", () => {
  const limiter = new ExponentialRateLimiter();
  assert.equal(limiter.when("k"), 5);
  let last = 0;
  for (let i = 0; i < 30; i++) last = limiter.when("k");
  assert.equal(last, 5 * 60_000);
});
