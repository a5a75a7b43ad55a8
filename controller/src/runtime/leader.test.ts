import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeApiError } from "../kube/errors.js";
import { LEASES, type Lease } from "../kube/resources.js";
import { FakeClock, flushPromises } from "./clock.js";
import { FakeApiServer } from "./fake-apiserver.js";
import { LeaderElector, type LeaderElectionOptions, type StoppedLeadingReason } from "./leader.js";
import { leaderElectionMasterStatus } from "./metrics.js";

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
async function heldByOther(
  client: FakeApiServer,
  clock: FakeClock,
  leaseDurationSeconds = 15,
): Promise<Lease> {
  return await client.create(LEASES, {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { ...REF },
    spec: {
      holderIdentity: "other",
      leaseDurationSeconds,
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

async function masterStatus(name = REF.name): Promise<number | undefined> {
  const metric = await leaderElectionMasterStatus.get();
  return metric.values.find((v) => v.labels.name === name)?.value;
}

function options(client: FakeApiServer, clock: FakeClock, extra: Partial<LeaderElectionOptions> = {}) {
  return {
    client,
    clock,
    ...REF,
    identity: "me",
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    onStartedLeading: () => undefined,
    onStoppedLeading: () => undefined,
    ...extra,
  };
}

test("timings must leave room: leaseDuration > renewDeadline > retryPeriod", () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  for (const bad of [
    { leaseDurationMs: 10_000, renewDeadlineMs: 10_000 },
    { renewDeadlineMs: 2_000, retryPeriodMs: 2_000 },
  ]) {
    assert.throws(
      () => new LeaderElector(options(client, clock, bad)),
      /leaseDuration > renewDeadline > retryPeriod/,
    );
  }
  assert.doesNotThrow(
    () => new LeaderElector(options(client, clock, { leaseDurationMs: 10_001, retryPeriodMs: 9_999 })),
  );
});

test("the defaults are client-go's: 15 s lease, 10 s renew deadline, 2 s retry", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const stop = new AbortController();
  const elector = new LeaderElector({
    client,
    clock,
    ...REF,
    identity: "me",
    onStartedLeading: () => undefined,
    onStoppedLeading: () => undefined,
  });
  const running = elector.run(stop.signal);
  await flushPromises();
  assert.equal(client.peek(LEASES, REF)?.spec?.leaseDurationSeconds, 15);
  client.calls.length = 0;
  await clock.advanceAsync(1_999);
  assert.equal(client.calls.length, 0, "no renewal before the retry period");
  await clock.advanceAsync(1);
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["replace"],
  );
  stop.abort();
  await clock.advanceAsync(2_000);
  await running;
  assert.equal(holder(client), "", "released on shutdown by default");
});

test("on shutdown the leader keeps renewing while work drains, then hands the Lease back", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  let drained!: () => void;
  const stopped: StoppedLeadingReason[] = [];
  let leadingSignal: AbortSignal | undefined;
  const elector = new LeaderElector(
    options(client, clock, {
      releaseOnCancel: true,
      onStartedLeading: (signal) => (leadingSignal = signal),
      onStoppedLeading: (reason) => {
        stopped.push(reason);
        return new Promise<void>((resolve) => (drained = resolve));
      },
    }),
  );
  const stop = new AbortController();
  const running = elector.run(stop.signal);
  await flushPromises();
  assert.equal(await masterStatus(), 1);
  stop.abort();
  await flushPromises();
  assert.deepEqual(stopped, ["shutdown"]);
  assert.equal(leadingSignal?.aborted, false, "work may still finish");
  const renewedAt = client.peek(LEASES, REF)?.spec?.renewTime;
  await clock.advanceAsync(6_000, 2_000);
  assert.notEqual(client.peek(LEASES, REF)?.spec?.renewTime, renewedAt, "renewed while draining");
  assert.equal(holder(client), "me");
  drained();
  await flushPromises();
  await clock.advanceAsync(2_000);
  await running;
  assert.equal(leadingSignal?.aborted, true);
  const lease = client.peek(LEASES, REF);
  assert.equal(lease?.spec?.holderIdentity, "");
  assert.equal(lease?.spec?.leaseDurationSeconds, 1, "a successor need not wait the full duration");
  assert.equal(elector.isLeader(), false);
  assert.equal(await masterStatus(), 0);
});

test("a Lease another took before the release is left alone", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  let drained!: () => void;
  const elector = new LeaderElector(
    options(client, clock, {
      releaseOnCancel: true,
      onStoppedLeading: () => new Promise<void>((resolve) => (drained = resolve)),
    }),
  );
  const stop = new AbortController();
  const running = elector.run(stop.signal);
  await flushPromises();
  stop.abort();
  await flushPromises();
  const lease = await client.get(LEASES, REF);
  await client.replace(LEASES, { ...lease, spec: { ...lease.spec, holderIdentity: "other" } });
  drained();
  await clock.advanceAsync(4_000, 2_000);
  await running;
  assert.equal(holder(client), "other");
});

test("a leader that cannot reach the API server for the renew deadline stops leading", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const me = elector(client, clock);
  await flushPromises();
  assert.equal(me.state.leading, true);
  const outage = (): void => {
    for (const verb of ["replace", "get"])
      client.failures.push({ verb, error: new KubeApiError(503, "unavailable") });
  };
  outage();
  await clock.advanceAsync(2_000);
  outage();
  await clock.advanceAsync(2_000);
  outage();
  await clock.advanceAsync(2_000);
  outage();
  await clock.advanceAsync(2_000);
  assert.equal(me.state.leading, true, "8 s without a renewal: still within the 10 s deadline");
  outage();
  await clock.advanceAsync(2_000);
  assert.deepEqual(me.state.stopped, ["lost"], "10 s without a renewal: leadership is given up");
  assert.equal(me.candidate.isLeader(), false);
  // The API server answers again: it campaigns and, the Lease still being its own, leads again.
  client.failures.length = 0;
  await clock.advanceAsync(4_000, 1_000);
  assert.equal(me.candidate.isLeader(), true);
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

test("a leader keeps leading as long as its renewals succeed, and keeps the Lease when told not to release it", async () => {
  const client = new FakeApiServer();
  const clock = new FakeClock();
  const me = elector(client, clock);
  assert.equal(me.candidate.isLeader(), false, "nobody leads before campaigning");
  await flushPromises();
  await clock.advanceAsync(60_000, 2_000);
  assert.equal(me.candidate.isLeader(), true);
  assert.deepEqual(me.state.stopped, []);
  assert.equal(clock.pendingTimers(), 1, "only the next renewal's wait: no deadline timer left per renewal");
  const lease = client.peek(LEASES, REF);
  assert.equal(lease?.kind, "Lease");
  assert.equal(lease?.apiVersion, "coordination.k8s.io/v1");
  assert.match(lease?.spec?.renewTime ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "MicroTime");
  await me.stop();
  assert.equal(holder(client), "me", "releaseOnCancel: false keeps the Lease");
});

test("a candidate's metric reads 0 before it campaigns", async () => {
  const client = new FakeApiServer();
  new LeaderElector(options(client, new FakeClock(), { name: "metric-check" }));
  assert.equal(await masterStatus("metric-check"), 0);
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

test("a renewal the API server never answers counts as failed at the renew deadline", async () => {
  const server = new FakeApiServer();
  const clock = new FakeClock();
  let hang = false;
  const stuck: Array<(err: Error) => void> = [];
  // A client whose requests, once `hang` is set, get no answer until the connection drops.
  const client = new Proxy(server, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        hang
          ? new Promise((_, reject) => stuck.push(reject))
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  const me = elector(client, clock);
  await flushPromises();
  assert.equal(me.state.leading, true);
  hang = true;
  // The last renewal was at 0; the attempt at 2 s hangs and is cut at 10 s.
  await clock.advanceAsync(9_000, 1_000);
  assert.equal(me.state.leading, true, "within the renew deadline");
  await clock.advanceAsync(1_000);
  assert.deepEqual(me.state.stopped, ["lost"], "given up at the deadline");
  hang = false;
  for (const drop of stuck) drop(new KubeApiError(0, "connection reset"));
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
