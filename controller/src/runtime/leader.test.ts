import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeApiError } from "../kube/errors.js";
import { FakeClock, flushPromises } from "./clock.js";
import { LeaderElector } from "./leader.js";
import { FakeKubeClient } from "./testing.js";

test("the leader renews from the Lease it wrote, without a read per renewal", async () => {
  const client = new FakeKubeClient();
  const clock = new FakeClock();
  let leading = false;
  const elector = new LeaderElector({
    client,
    clock,
    namespace: "berth-system",
    name: "berth-controller",
    identity: "me",
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    releaseOnCancel: false,
    onStartedLeading: () => (leading = true),
    onStoppedLeading: () => undefined,
  });
  const stop = new AbortController();
  const running = elector.run(stop.signal);
  await flushPromises();
  assert.ok(leading);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["get", "create"],
    "no Lease yet: read, then created",
  );

  client.calls.length = 0;
  await clock.advanceAsync(6_000, 2_000);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["replace", "replace", "replace"],
    "three renewals, one write each",
  );

  // Someone else wrote the Lease: the optimistic write conflicts and the Lease is read again.
  client.calls.length = 0;
  client.writeErrors.push(new KubeApiError(409, "the object has been modified"));
  await clock.advanceAsync(2_000);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["replace", "get", "create"],
  );
  assert.ok(elector.isLeader());

  stop.abort();
  await clock.advanceAsync(2_000);
  await running;
});
