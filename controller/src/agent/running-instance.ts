/**
 * A running container of an Instance: where it is published, its health check's loop and
 * the readiness that loop reports, its liveness check (a failed one stops the container),
 * and the status that says all this. The probe timing itself is the prober's.
 */
import type { Instance, RunTemplate } from "../api/types.js";
import type { ContainerInfo } from "../docker/types.js";
import type { ReconcileContext, Result } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import { inspectOrUndefined, restartsLabelOf } from "./container-facts.js";
import type { NodeAddressing } from "./container-request.js";
import { templateOf } from "./container-request.js";
import type { AgentDocker } from "./docker-port.js";
import type { HealthEndpoint, ServiceEndpoints } from "./health-endpoint.js";
import { healthEndpoint, publishedHostOf, serviceEndpointsOf } from "./health-endpoint.js";
import { instanceAddress, resumedVerdict, running, runningUnchecked } from "./instance-observations.js";
import { lastProbeTimeToWrite } from "./instance-status.js";
import type { InstanceStatusWriter } from "./instance-status-writer.js";
import type { LivenessKills } from "./liveness.js";
import {
  LIVENESS_CHECK_FAILED,
  livenessFailureMessage,
  livenessProbeKey,
  stopProbeLoops,
} from "./liveness.js";
import { probeTargetFor } from "./probe-checks.js";
import type { Prober } from "./prober.js";
import type { StartCheck } from "./start-check.js";
import type { StartTrace } from "./start-trace.js";

/** How soon to look again at a running container whose ports are not published yet. */
const UNCHECKED_RECHECK_MS = 1000;

/**
 * How long the agent's pass that started a container waits for its first health check
 * before it writes the status. A server that answers at once is then written Ready in the
 * same write as Running, instead of by a second pass (an engine list, an inspect and a second
 * write) after the verdict; one that does not answer yet costs the pass this much at most.
 * A verdict the pass waited for wakes no second pass (the prober reports it as awaited).
 */
export const FIRST_CHECK_WAIT_MS = 100;

export interface RunningInstancesOptions {
  node: NodeAddressing;
  /** Host published ports are checked at (see publishedHostOf). */
  probeHost?: string;
  docker: Pick<AgentDocker, "stopContainer" | "inspectContainer">;
  prober: Prober;
  events: EventRecorder;
  status: InstanceStatusWriter;
  startCheck: StartCheck;
  livenessKills: LivenessKills;
  stopGraceSeconds: number;
  /** A running Instance is looked at again this often, as a safety net for missed events. */
  resyncMs: number;
  /** lastProbeTime is rewritten at most this often while readiness holds. */
  probeStatusRefreshMs: number;
  /** The agent's part of the apply-to-ready trace; none when absent. */
  trace?: StartTrace;
  /** How long a pass that started a container waits for its first check (FIRST_CHECK_WAIT_MS); 0 when absent. */
  firstCheckWaitMs?: number;
}

export class RunningInstances {
  /** Containers whose health check has passed at least once, by Instance key. */
  private readonly everReady = new Map<string, string>();
  /**
   * Instances whose status carries a probe time from this process's own checks. Until then
   * (an adopted Instance after a restart) the first check's time is written once, so the
   * status says this agent has looked even when readiness did not change.
   */
  private readonly probedByThisProcess = new Set<string>();
  private readonly publishedHost: string;

  constructor(private readonly options: RunningInstancesOptions) {
    this.publishedHost = publishedHostOf(options.node, options.probeHost);
  }

  /** Publishes the container's address, keeps its probe loops going, reports readiness. */
  async observe(
    key: string,
    instance: Instance,
    container: ContainerInfo,
    context: ReconcileContext,
    restartsOverride?: number,
  ): Promise<Result> {
    const template = templateOf(instance);
    const restarts = restartsOverride ?? Math.max(instance.status?.restarts ?? 0, restartsLabelOf(container));
    const endpoints = serviceEndpointsOf(this.publishedHost, template, container);
    if ("waitingFor" in endpoints) {
      await this.options.status.write(
        instance,
        runningUnchecked(container.id, endpoints.waitingFor, restarts),
      );
      return { requeueAfterMs: UNCHECKED_RECHECK_MS };
    }
    const stopped = await this.enforceLiveness(key, instance, template, endpoints, container, context);
    if (stopped) return stopped;
    const justStarted = restartsOverride !== undefined;
    return await this.reportReadiness(key, instance, container, endpoints, restarts, {
      justStarted,
      signal: context.signal,
    });
  }

  /** Stops the probe loops of an Instance and forgets what was seen of it. */
  forget(key: string): void {
    stopProbeLoops(this.options.prober, key);
    this.everReady.delete(key);
    this.probedByThisProcess.delete(key);
  }

  /** The health check's verdict as the Ready condition, and when to look again. */
  private async reportReadiness(
    key: string,
    instance: Instance,
    container: ContainerInfo,
    endpoints: ServiceEndpoints,
    restarts: number,
    pass: { justStarted: boolean; signal: AbortSignal },
  ): Promise<Result> {
    const { justStarted, signal } = pass;
    const { prober, startCheck, resyncMs } = this.options;
    const target = probeTargetFor(templateOf(instance).healthCheck, {
      ...endpoints.health,
      containerId: container.id,
    });
    // A loop that is not there yet for a container the status already calls ready: this agent
    // restarted (or was replaced) and adopts it. It stays ready until its own checks fail.
    prober.ensure(key, target, prober.state(key) ? undefined : resumedVerdict(instance, container.id));
    const waitMs = this.options.firstCheckWaitMs ?? 0;
    if (justStarted && waitMs > 0) await prober.firstOutcome(key, waitMs);
    const probe = prober.state(key);
    const readyNow = probe?.verdict === "Passed";
    // A check passed during the starting pass is no proof yet that the container started: a
    // TCP check of a published port is answered by the engine's port proxy even when the
    // command failed to exec, and the inspect above predates the check. So the container is
    // inspected once more, after the check: still running, the check counts (Ready, and
    // "Started"); gone or exited, nothing is written and the next pass (now) sees the exit.
    // That verdict woke no pass (firstOutcome), so this look is the one that pass would take.
    // A TCP check is not even that: the proxy may answer before the init fails to exec the
    // command a moment after the second inspect (seen in CI), so it waits out the start check.
    let checkProvesStart = readyNow && !justStarted;
    if (readyNow && justStarted) {
      const after = await inspectOrUndefined(this.options.docker, container.id, signal);
      if (!after?.state.running) return { requeueAfterMs: 1 };
      checkProvesStart = target.type !== "tcp";
    }
    if (readyNow) this.everReady.set(key, container.id);
    const startCheckLeftMs = startCheck.running(key, instance, container, checkProvesStart);
    const wasRunning =
      this.everReady.get(key) === container.id ||
      (instance.status?.phase === "Running" && instance.status.containerId === container.id);
    const observed = running({
      containerId: container.id,
      wasRunning,
      probe,
      address: instanceAddress(this.options.node.address, endpoints.hostPort),
      restarts,
    });
    const readinessChanged = (instance.status?.ready ?? false) !== readyNow;
    const firstOwnProbe = probe?.lastProbeTime !== undefined && !this.probedByThisProcess.has(key);
    const lastProbeTime = lastProbeTimeToWrite(
      instance.status?.lastProbeTime,
      probe?.lastProbeTime,
      readinessChanged || firstOwnProbe,
      this.options.probeStatusRefreshMs,
    );
    if (lastProbeTime) observed.lastProbeTime = lastProbeTime;
    await this.options.status.write(instance, observed);
    if (readyNow) this.options.trace?.readyWritten(key);
    if (firstOwnProbe) this.probedByThisProcess.add(key);
    return { requeueAfterMs: startCheckLeftMs > 0 ? Math.min(startCheckLeftMs, resyncMs) : resyncMs };
  }

  /**
   * The liveness check of a running container: its loop is kept going, and once it fails the
   * container is stopped (and the failure said in an Event). The next pass finds it exited
   * and restarts it like any exit: counted, on the crash-loop back-off.
   */
  private async enforceLiveness(
    key: string,
    instance: Instance,
    template: RunTemplate,
    endpoints: ServiceEndpoints,
    container: ContainerInfo,
    context: ReconcileContext,
  ): Promise<Result | undefined> {
    const { prober, docker } = this.options;
    const check = template.livenessCheck;
    const probeKey = livenessProbeKey(key);
    const endpoint: HealthEndpoint | { waitingFor: string } | undefined =
      check &&
      healthEndpoint(
        this.publishedHost,
        template,
        endpoints.servicePort,
        endpoints.hostPort,
        container,
        check,
      );
    if (!check || !endpoint || "waitingFor" in endpoint) {
      prober.stop(probeKey);
      return undefined;
    }
    prober.ensure(probeKey, probeTargetFor(check, { ...endpoint, containerId: container.id }));
    const state = prober.state(probeKey);
    if (state?.verdict !== "Failed") return undefined;
    const message = livenessFailureMessage(state.consecutiveFailures, state.message);
    stopProbeLoops(prober, key);
    this.options.livenessKills.record(key, container.id, message);
    context.log.info("stopping a container that failed its liveness check", {
      containerId: container.id,
      check: state.message,
    });
    this.options.events.event(
      instance,
      "Warning",
      LIVENESS_CHECK_FAILED,
      `${message}; restarting the container`,
    );
    await docker.stopContainer(container.id, this.options.stopGraceSeconds, { signal: context.signal });
    return { requeueAfterMs: 1 };
  }
}
