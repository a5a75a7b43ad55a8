import { test } from "node:test";
import assert from "node:assert/strict";
import { Shutdown } from "./shutdown.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";

test("shutdown runs the steps last registered first, one failing step not stopping the rest", async () => {
  const ran: string[] = [];
  const shutdown = new Shutdown({ clock: new FakeClock() });
  shutdown.onShutdown("first", () => void ran.push("first"));
  shutdown.onShutdown("failing", () => {
    ran.push("failing");
    throw new Error("step failed");
  });
  shutdown.onShutdown("last", async () => void ran.push("last"));
  await shutdown.shutdown("test");
  assert.deepEqual(ran, ["last", "failing", "first"]);
  assert.equal(shutdown.signal.aborted, true);
});

test("a shutdown whose steps outlast deadlineMs on the clock rejects, and not before", async () => {
  const clock = new FakeClock();
  const shutdown = new Shutdown({ clock, deadlineMs: 5000 });
  shutdown.onShutdown("hangs", () => new Promise<void>(() => undefined));
  const seen: { outcome: unknown } = { outcome: "pending" };
  shutdown.shutdown("test").then(
    () => (seen.outcome = "resolved"),
    (err: unknown) => (seen.outcome = err),
  );
  clock.advance(4999);
  await flushPromises();
  assert.equal(seen.outcome, "pending");
  clock.advance(1);
  await flushPromises();
  const outcome: unknown = seen.outcome;
  assert.ok(outcome instanceof Error);
  assert.match(outcome.message, /shutdown did not finish within 5000 ms/);
});
