/**
 * Shared by the leader election tests: an elector over the storing fake API server on a
 * fake clock, and another holder of the Lease to compete with.
 */
import { LEASES, type Lease } from "../kube/resources.js";
import type { FakeClock } from "./fake-clock.js";
import type { FakeApiServer } from "./fake-apiserver.js";
import { LeaderElector, type LeaderElectionOptions, type StoppedLeadingReason } from "../runtime/leader.js";
import { leaderElectionMasterStatus } from "../runtime/metrics.js";

export const REF = { namespace: "berth-system", name: "berth-controller" };

export function elector(client: FakeApiServer, clock: FakeClock, identity = "me") {
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
export async function heldByOther(
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
export async function renewAsOther(client: FakeApiServer, clock: FakeClock): Promise<void> {
  const lease = await client.get(LEASES, REF);
  await client.replace(LEASES, {
    ...lease,
    spec: { ...lease.spec, renewTime: new Date(clock.now()).toISOString() },
  });
}

export const holder = (client: FakeApiServer): string | null | undefined =>
  client.peek(LEASES, REF)?.spec?.holderIdentity;

export async function masterStatus(name = REF.name): Promise<number | undefined> {
  const metric = await leaderElectionMasterStatus.get();
  return metric.values.find((v) => v.labels.name === name)?.value;
}

export function options(client: FakeApiServer, clock: FakeClock, extra: Partial<LeaderElectionOptions> = {}) {
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
