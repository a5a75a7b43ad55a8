import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeApiError } from "../kube/errors.js";
import { LEASES } from "../kube/resources.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { LeaderElector, type StoppedLeadingReason } from "./leader.js";
import { REF, elector, holder, masterStatus, options } from "../testing/leader-fixtures.js";

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
