import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeApiError } from "../kube/errors.js";
import { LEASES } from "../kube/resources.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { LeaderElector } from "./leader.js";
import { REF, elector, heldByOther, holder, options, renewAsOther } from "../testing/leader-fixtures.js";

test("the leader renews from the Lease it wrote, without a read per renewal", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const me = elector(client, clock);
  await flushPromises();
  assert.ok(me.state.leading);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["get", "create"],
    "no Lease yet: read, then created",
  );
  assert.equal(holder(client), "me");

  client.calls.length = 0;
  await clock.advanceAsync(6_000, 2_000);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["replace", "replace", "replace"],
    "three renewals, one write each",
  );

  // The renewal's write fails: the Lease is read again and, still ours, renewed from what was read.
  client.calls.length = 0;
  client.failures.push({ verb: "replace", error: new KubeApiError(409, "the object has been modified") });
  await clock.advanceAsync(2_000);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["replace", "get", "replace"],
  );
  assert.ok(me.candidate.isLeader());
  assert.equal(holder(client), "me");
  await me.stop();
});

test("a Lease another holder keeps renewing is never taken over", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  await heldByOther(client, clock);
  const me = elector(client, clock);
  for (let elapsed = 0; elapsed < 60_000; elapsed += 2_000) {
    await renewAsOther(client, clock);
    await clock.advanceAsync(2_000);
    assert.equal(me.state.leading, false, `still a candidate after ${elapsed + 2_000} ms`);
  }
  assert.equal(holder(client), "other");
  assert.equal(client.peek(LEASES, REF)?.spec?.leaseTransitions, 3);
  await me.stop();
});

test("a Lease whose holder stopped renewing is taken over once a lease duration has passed", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const start = clock.now();
  await heldByOther(client, clock);
  const me = elector(client, clock);
  await flushPromises();
  // Expiry counts from when this process first saw the record, on its own clock.
  await clock.advanceAsync(14_000, 1_000);
  assert.equal(me.state.leading, false, "not before the lease duration");
  assert.equal(holder(client), "other");
  await clock.advanceAsync(4_000, 1_000);
  assert.equal(me.state.leading, true, "taken over after the lease duration");
  const lease = client.peek(LEASES, REF);
  assert.equal(lease?.spec?.holderIdentity, "me");
  assert.equal(lease?.spec?.leaseTransitions, 4, "a takeover counts a transition");
  assert.ok(Date.parse(lease?.spec?.acquireTime ?? "") >= start + 15_000, "acquired anew at the takeover");
  await me.stop();
});

test("a released Lease (no holder) is taken at once", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const other = await heldByOther(client, clock);
  await client.replace(LEASES, { ...other, spec: { ...other.spec, holderIdentity: "" } });
  const me = elector(client, clock);
  await flushPromises();
  assert.equal(me.state.leading, true);
  assert.equal(holder(client), "me");
  await me.stop();
});

test("a leader whose Lease another took steps down at its next renewal", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const me = elector(client, clock);
  await flushPromises();
  assert.equal(me.state.leading, true);
  const lease = await client.get(LEASES, REF);
  await client.replace(LEASES, { ...lease, spec: { ...lease.spec, holderIdentity: "other" } });
  await clock.advanceAsync(2_000);
  assert.equal(me.candidate.isLeader(), false);
  assert.deepEqual(me.state.stopped, ["lost"]);
  assert.equal(holder(client), "other", "the new holder keeps it");
  await me.stop();
});

test("renewing its own Lease after a read keeps acquireTime and the transition count", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const me = elector(client, clock);
  await flushPromises();
  const first = client.peek(LEASES, REF);
  client.failures.push({ verb: "replace", error: new KubeApiError(409, "the object has been modified") });
  await clock.advanceAsync(2_000);
  await clock.advanceAsync(2_000);
  const later = client.peek(LEASES, REF);
  assert.equal(later?.spec?.holderIdentity, "me");
  assert.equal(later?.spec?.acquireTime, first?.spec?.acquireTime);
  assert.equal(later?.spec?.leaseTransitions, 0);
  assert.notEqual(later?.spec?.renewTime, first?.spec?.renewTime);
  await me.stop();
});

test("onNewLeader hears each new holder once", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  await heldByOther(client, clock);
  const seen: string[] = [];
  const stop = new AbortController();
  const elector = new LeaderElector(
    options(client, clock, { onNewLeader: (id) => seen.push(id), releaseOnCancel: false }),
  );
  const running = elector.run(stop.signal);
  await flushPromises();
  await renewAsOther(client, clock);
  await clock.advanceAsync(2_500);
  assert.deepEqual(seen, ["other"], "a renewal by the same holder is no new leader");
  await clock.advanceAsync(20_000, 1_000);
  assert.deepEqual(seen, ["other", "me"]);
  const lease = await client.get(LEASES, REF);
  await client.replace(LEASES, { ...lease, spec: { ...lease.spec, holderIdentity: "" } });
  await clock.advanceAsync(2_000);
  assert.ok(!seen.includes(""), "a released Lease names no leader");
  stop.abort();
  await clock.advanceAsync(2_000);
  await running;
});

test("the Lease is taken at exactly a lease duration after its record was last seen to change", async (t) => {
  t.mock.method(Math, "random", () => 0);
  const client = new FakeApiServer();
  const clock = new FakeClock();
  await heldByOther(client, clock, 16);
  const stop = new AbortController();
  let leading = false;
  // 16 s: the retries at 2 s steps meet the expiry exactly.
  const elector = new LeaderElector(
    options(client, clock, { leaseDurationMs: 16_000, onStartedLeading: () => (leading = true) }),
  );
  const running = elector.run(stop.signal);
  await flushPromises();
  await clock.advanceAsync(14_000, 2_000);
  assert.equal(leading, false);
  await clock.advanceAsync(2_000);
  assert.equal(leading, true, "taken at observedAt + leaseDuration, not a retry later");
  stop.abort();
  await clock.advanceAsync(2_000);
  await running;
});

test("candidates retry after the retry period plus up to 20% jitter", async (t) => {
  t.mock.method(Math, "random", () => 0.5);
  const client = new FakeApiServer();
  const clock = new FakeClock();
  await heldByOther(client, clock);
  const me = elector(client, clock);
  await flushPromises();
  client.calls.length = 0;
  await clock.advanceAsync(2_199);
  assert.equal(client.calls.length, 0);
  await clock.advanceAsync(1);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["get"],
  );
  await me.stop();
});

test("a failed read is no reason to create the Lease", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  client.failures.push({ verb: "get", error: new KubeApiError(500, "etcd unavailable") });
  const me = elector(client, clock);
  await flushPromises();
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["get"],
  );
  assert.equal(me.state.leading, false);
  await clock.advanceAsync(2_400);
  assert.equal(me.state.leading, true, "the next try reads again and creates it");
  await me.stop();
});

test("a leader whose Lease was released meanwhile takes it again instead of stepping down", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const me = elector(client, clock);
  await flushPromises();
  const lease = await client.get(LEASES, REF);
  await client.replace(LEASES, { ...lease, spec: { ...lease.spec, holderIdentity: "" } });
  // Both the renewal and the write after the read lose a race.
  client.failures.push({ verb: "replace", error: new KubeApiError(409, "modified") });
  client.failures.push({ verb: "replace", error: new KubeApiError(409, "modified") });
  await clock.advanceAsync(2_000);
  assert.deepEqual(me.state.stopped, [], "a released Lease is no other leader");
  await clock.advanceAsync(2_000);
  assert.equal(holder(client), "me");
  await me.stop();
});

test("a candidate stopped before it got the Lease never starts leading", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  await heldByOther(client, clock);
  const calls: string[] = [];
  const elector = new LeaderElector(
    options(client, clock, {
      onStartedLeading: () => calls.push("started"),
      onStoppedLeading: (reason) => void calls.push(`stopped ${reason}`),
    }),
  );
  const stop = new AbortController();
  const running = elector.run(stop.signal);
  await flushPromises();
  stop.abort();
  await clock.advanceAsync(30_000, 2_000);
  await running;
  assert.deepEqual(calls, []);
  assert.equal(elector.isLeader(), false);
  assert.equal(holder(client), "other");
});
