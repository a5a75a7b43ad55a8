import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeApiError } from "../kube/errors.js";
import { LEASES, type Lease } from "../kube/resources.js";
import { FakeClock, flushPromises } from "./clock.js";
import { FakeApiServer } from "./fake-apiserver.js";
import { LeaderElector, type StoppedLeadingReason } from "./leader.js";

const REF = { namespace: "berth-system", name: "berth-controller" };

function elector(client: FakeApiServer, clock: FakeClock, identity = "me") {
  const state = { leading: false, stopped: [] as StoppedLeadingReason[] };
  const candidate = new LeaderElector({
    client,
    clock,
    ...REF,
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    releaseOnCancel: false,
    onStartedLeading: () => (state.leading = true),
    onStoppedLeading: (reason) => {
      state.leading = false;
      state.stopped.push(reason);
    },
  });
  const stop = new AbortController();
  const running = candidate.run(stop.signal);
  return {
    candidate,
    state,
    async stop() {
      stop.abort();
      await clock.advanceAsync(2_000);
      await running;
    },
  };
}

/** Another process holding the Lease, renewed at `renewTime`. */
async function heldByOther(client: FakeApiServer, clock: FakeClock): Promise<Lease> {
  return await client.create(LEASES, {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { ...REF },
    spec: {
      holderIdentity: "other",
      leaseDurationSeconds: 15,
      acquireTime: new Date(clock.now()).toISOString(),
      renewTime: new Date(clock.now()).toISOString(),
      leaseTransitions: 3,
    },
  });
}

/** What the other holder does every retry period while it is alive: renew with its resourceVersion. */
async function renewAsOther(client: FakeApiServer, clock: FakeClock): Promise<void> {
  const lease = await client.get(LEASES, REF);
  await client.replace(LEASES, {
    ...lease,
    spec: { ...lease.spec, renewTime: new Date(clock.now()).toISOString() },
  });
}

const holder = (client: FakeApiServer): string | null | undefined =>
  client.peek(LEASES, REF)?.spec?.holderIdentity;

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
