import type { KubeClient } from "../kube/client.js";
import { isAlreadyExists, isConflict, isNotFound } from "../kube/errors.js";
import type { Lease } from "../kube/resources.js";
import { LEASES } from "../kube/resources.js";
import type { Clock } from "./clock.js";
import { realClock } from "./clock.js";
import type { Logger } from "./log.js";
import { errorFields, nullLogger } from "./log.js";
import { leaderElectionMasterStatus } from "./metrics.js";

export type StoppedLeadingReason = "lost" | "shutdown";

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  /** The Lease's name, also the leader_election_master_status label. */
  name: string;
  /** This process's identity, unique among the candidates (host name + random suffix). */
  identity: string;
  /** How long a lease is valid after its last renewal, as seen by the others. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up when it could not renew for this long. Default 10 s. */
  renewDeadlineMs?: number;
  /** How often candidates try to acquire and the leader renews. Default 2 s. */
  retryPeriodMs?: number;
  /** Hand the lease back on graceful shutdown so a successor need not wait it out. Default true. */
  releaseOnCancel?: boolean;
  clock?: Clock;
  logger?: Logger;
  /** Called on becoming leader; `leading` aborts when leadership ends. */
  onStartedLeading(leading: AbortSignal): void;
  /** Awaited when leadership ends: on "shutdown" the lease is kept renewed until this resolves. */
  onStoppedLeading(reason: StoppedLeadingReason): Promise<void> | void;
  onNewLeader?(identity: string): void;
}

/** Kubernetes MicroTime. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go does it: expiry is
 * judged by when this process last saw the lease record change (its own clock), never by
 * comparing clocks across machines; every write carries the resourceVersion it read.
 */
export class LeaderElector {
  private readonly client: KubeClient;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observedRecord = "";
  private observedAt = 0;
  private observedHolder = "";
  private leader = false;
  /** The Lease as this process last wrote it: what the leader renews from without reading. */
  private ownLease: Lease | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.client = options.client;
    this.clock = options.clock ?? realClock;
    this.log = (options.logger ?? nullLogger).child({ lease: `${options.namespace}/${options.name}` });
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error("leader election needs leaseDuration > renewDeadline > retryPeriod");
    }
    leaderElectionMasterStatus.set({ name: options.name }, 0);
  }

  isLeader(): boolean {
    return this.leader;
  }

  /** Campaigns until the signal aborts; then steps down gracefully and releases the lease. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.acquire(signal))) break;
      this.setLeader(true);
      const leading = new AbortController();
      this.options.onStartedLeading(leading.signal);
      const lost = await this.renewUntil(signal);
      if (lost) {
        this.log.error("lost leadership, stopping work", {});
        this.setLeader(false);
        leading.abort();
        await this.options.onStoppedLeading("lost");
        continue;
      }
      // Shutting down: keep the lease while work drains, then hand it back.
      const drained = new AbortController();
      const renewing = this.renewUntil(drained.signal);
      await this.options.onStoppedLeading("shutdown");
      drained.abort();
      const lostWhileDraining = await renewing;
      leading.abort();
      this.setLeader(false);
      if (!lostWhileDraining && (this.options.releaseOnCancel ?? true)) await this.release();
    }
  }

  private setLeader(value: boolean): void {
    this.leader = value;
    leaderElectionMasterStatus.set({ name: this.options.name }, value ? 1 : 0);
    if (value) this.log.info("became leader", { identity: this.options.identity });
  }

  private async acquire(signal: AbortSignal): Promise<boolean> {
    this.log.info("waiting to acquire the lease", { identity: this.options.identity });
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) return true;
      await this.clock.sleep(this.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
    return false;
  }

  /** Renews every retry period; returns true when leadership was lost, false when told to stop. */
  private async renewUntil(stop: AbortSignal): Promise<boolean> {
    let lastRenewed = this.clock.now();
    for (;;) {
      await this.clock.sleep(this.retryPeriodMs, stop);
      if (stop.aborted) return false;
      const left = this.renewDeadlineMs - (this.clock.now() - lastRenewed);
      const renewed = await this.withDeadline(this.tryAcquireOrRenew(), Math.max(0, left));
      if (renewed) {
        lastRenewed = this.clock.now();
        continue;
      }
      if (this.observedHolder !== this.options.identity && this.observedHolder !== "") return true;
      if (this.clock.now() - lastRenewed >= this.renewDeadlineMs) return true;
    }
  }

  private async withDeadline(attempt: Promise<boolean>, ms: number): Promise<boolean> {
    const timeout = new AbortController();
    const timer = this.clock.sleep(ms, timeout.signal).then(() => false);
    try {
      return await Promise.race([attempt, timer]);
    } finally {
      timeout.abort();
    }
  }

  private observe(lease: Lease | undefined): void {
    const spec = lease?.spec ?? {};
    // Equivalent fallbacks, not mutated: a Lease without a holder is free whatever was last
    // observed of it (taken at once), and the API server stores no empty renewTime.
    const record = JSON.stringify([
      // Stryker disable next-line StringLiteral: equivalent, see above
      spec.holderIdentity ?? "",
      // Stryker disable next-line StringLiteral: equivalent, see above
      spec.renewTime ?? "",
      spec.leaseDurationSeconds ?? 0,
    ]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = this.clock.now();
      const holder = spec.holderIdentity ?? "";
      if (holder !== this.observedHolder && holder !== "") this.options.onNewLeader?.(holder);
      this.observedHolder = holder;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const ref = { namespace: this.options.namespace, name: this.options.name };
    const leaseSeconds = Math.ceil(this.leaseDurationMs / 1000);
    if (this.leader && this.ownLease && (await this.renewOwn(this.ownLease, now))) return true;
    try {
      let lease: Lease;
      try {
        lease = await this.client.get(LEASES, ref);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const created = await this.client.create(LEASES, this.newLease(now, leaseSeconds));
        this.observe(created);
        this.ownLease = created;
        return true;
      }
      this.observe(lease);
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? "";
      const mine = holder === this.options.identity;
      const heldMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
      if (!mine && holder !== "" && this.observedAt + heldMs > now) return false;
      const updated = await this.client.replace(LEASES, {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.options.identity,
          leaseDurationSeconds: leaseSeconds,
          renewTime: microTime(now),
          acquireTime: mine ? (spec.acquireTime ?? microTime(now)) : microTime(now),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
        },
      });
      this.observe(updated);
      this.ownLease = updated;
      return true;
    } catch (err) {
      if (isConflict(err) || isAlreadyExists(err)) {
        this.log.debug("lease changed under us", errorFields(err));
      } else {
        this.log.warn("lease update failed", errorFields(err));
      }
      return false;
    }
  }

  /**
   * The leader renews straight from the Lease it last wrote, as client-go does: its
   * resourceVersion is the precondition, so a GET per renewal buys nothing. When someone
   * else wrote the Lease meanwhile, the write fails (false) and the usual read-then-decide
   * follows.
   */
  private async renewOwn(own: Lease, now: number): Promise<boolean> {
    try {
      const spec = { ...own.spec, renewTime: microTime(now) };
      this.ownLease = await this.client.replace(LEASES, { ...own, spec });
      this.observe(this.ownLease);
      return true;
    } catch (err) {
      this.ownLease = undefined;
      this.log.debug("renewing from the last written lease failed, reading it", errorFields(err));
      return false;
    }
  }

  private newLease(now: number, leaseSeconds: number): Lease {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { namespace: this.options.namespace, name: this.options.name },
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: leaseSeconds,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      },
    };
  }

  private async release(): Promise<void> {
    const ref = { namespace: this.options.namespace, name: this.options.name };
    try {
      const lease = await this.client.get(LEASES, ref);
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      const now = this.clock.now();
      await this.client.replace(LEASES, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(now) },
      });
      this.log.info("released the lease", {});
    } catch (err) {
      this.log.warn("lease release failed; a successor waits for it to expire", errorFields(err));
    }
  }
}
