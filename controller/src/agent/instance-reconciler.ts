/**
 * The agent's reconciler for the Instances bound to its node. Level-based: every pass
 * re-reads the Instance from the informer cache and the container from Docker, compares,
 * does at most one step of work (pull+create+start, recreate, remove) and writes the status
 * it observed, only when it changed.
 */
import type { HealthCheck, Instance, InstanceStatus, RunTemplate } from "../api/types.js";
import { CONDITIONS, FIRST_UNPRIVILEGED_PORT, INSTANCE_FINALIZER } from "../api/vocabulary.js";
import type { ContainerInfo, ContainerSummary } from "../docker/types.js";
import { hostPortFor } from "../docker/types.js";
import type { KubeClient } from "../kube/client.js";
import { isNotFound } from "../kube/errors.js";
import { INSTANCES } from "../kube/resources.js";
import type { Clock } from "../runtime/clock.js";
import type { ReconcileContext, Reconciler, Request, Result } from "../runtime/controller.js";
import { TerminalError } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../runtime/finalizers.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { StatusWriter, getCondition } from "../runtime/conditions.js";
import {
  describeExit,
  inspectOrUndefined,
  ranMsOf,
  rankContainers,
  restartsLabelOf,
  urlHost,
} from "./container-facts.js";
import type { NodeAddressing } from "./container-request.js";
import {
  ContainerConfigError,
  checkResources,
  buildContainerSpec,
  healthPortOf,
  healthPortPublished,
  instanceSelector,
  servicePortOf,
  templateOf,
} from "./container-request.js";
import { bindsEveryInterface } from "./bind-address.js";
import { CommandFailedError } from "./command-failure.js";
import type { CrashLoopOptions, CrashRecord } from "./crashloop.js";
import { CrashRecords } from "./crash-records.js";
import { recordExit } from "./crashloop.js";
import type { AgentDocker } from "./docker-port.js";
import type { DockerEngine } from "../docker/engine.js";
import type { Observed } from "./instance-status.js";
import { REASONS, composeStatus, eventsForChange, lastProbeTimeToWrite } from "./instance-status.js";
import type { BuildSourceImage, ImageStep } from "./images.js";
import type { DeliveredEnvironments } from "./environment.js";
import { ENVIRONMENT_NOT_DELIVERED, instanceEnvironment } from "./environment.js";
import {
  ENGINE_DOWN_REASONS,
  TERMINAL_REASONS,
  ENVIRONMENT_DELIVERY_GRACE_MS,
  WAITING_RECHECK_MS,
  WAITING_REASONS,
  describeWait,
  isDeploymentFailure,
} from "./failure-policy.js";
import { InstanceImages, failureMessage } from "./images.js";
import {
  LIVENESS_CHECK_FAILED,
  LivenessKills,
  livenessFailureMessage,
  livenessProbeKey,
} from "./liveness.js";
import { ImagePreparations, imageIdentityOf } from "./image-preparation.js";
import { ownershipOf } from "./installation.js";
import type { PrivateImages } from "./private-images.js";
import type { Prober, ResumedVerdict } from "./prober.js";
import { probeTargetFor } from "./probe-checks.js";
import type { FailureStep, RetryBackoffOptions } from "./retry-backoff.js";
import { StartCheck } from "./start-check.js";
import { DEFAULT_RETRY_BACKOFF, RetryBackoff } from "./retry-backoff.js";
import type { StartTrace } from "./start-trace.js";

/** Where the reconciler reads Instances: the informer of this node's Instances. */
export interface InstanceSource {
  get(namespace: string | undefined, name: string): Instance | undefined;
}

export interface InstanceReconcilerOptions {
  node: NodeAddressing;
  /**
   * Host the prober connects to for published ports: by default the bind address, or the
   * node address when ports are bound to every interface.
   */
  probeHost?: string;
  /** Whether this node's spec.allowPrivilegedPorts is true right now (asked only for a hostPort below 1024). */
  privilegedPortsAllowed: () => Promise<boolean>;
  /** The engine, and the output of exited containers (to tell a command that never ran). */
  docker: AgentDocker & Pick<DockerEngine, "containerLogs">;
  client: KubeClient;
  instances: InstanceSource;
  /** The environments the controller delivered to this Node (its berth-node-<node> namespace). */
  environments: DeliveredEnvironments;
  prober: Prober;
  events: EventRecorder;
  clock: Clock;
  logger: Logger;
  crashLoop: CrashLoopOptions;
  /** Grace period for stopping a container on Instance deletion. */
  stopGraceSeconds: number;
  /** A running Instance is looked at again this often, as a safety net for missed events. */
  resyncMs: number;
  /** lastProbeTime is rewritten at most this often while readiness holds. */
  probeStatusRefreshMs: number;
  /** Builds the image of a repository template (the source module's ensureSourceImage). */
  buildSourceImage: BuildSourceImage;
  /** Waits between tries of a failed deployment step (pull, build, create, start, engine call). */
  retryBackoff?: RetryBackoffOptions;
  /** Crash-loop state per Instance (kept in the state directory); in memory when absent. */
  crashRecords?: CrashRecords;
  /** Images this node pulled with credentials (kept in the state directory); in memory when absent. */
  privateImages?: PrivateImages;
  /**
   * Where pulls and builds run, off the reconcile workers, with the node's limit; the agent
   * passes one that wakes the Instance when its image is ready. One that wakes nobody when absent.
   */
  preparations?: ImagePreparations;
  /** The agent's part of the apply-to-ready trace; none when absent. */
  trace?: StartTrace;
}

/** A pass that left its image being pulled or built looks again this soon if nothing wakes it earlier. */
export const PREPARING_RECHECK_MS = 30_000;

/** How soon to look again at a container someone else is removing. */
const REMOVAL_RECHECK_MS = 500;

export class InstanceReconciler implements Reconciler {
  private readonly statusWriter: StatusWriter;
  private readonly crashes: CrashRecords;
  /** Containers whose health check has passed at least once, by Instance key. */
  private readonly everReady = new Map<string, string>();
  /**
   * The Instance as this agent's last status write left it, with the resourceVersion it was
   * written over: until the cache shows the write, a pass starts from it, not from the cache
   * (from the cache it would write the same change again, refused as a conflict).
   */
  private readonly written = new Map<string, { over: string; instance: Instance }>();
  /** When each Instance was first found without its delivered environment (unsaid yet). */
  private readonly environmentAwaitedSince = new Map<string, number>();
  /**
   * Instances whose status carries a probe time from this process's own checks. Until then
   * (an adopted Instance after a restart) the first check's time is written once, so the
   * status says this agent has looked even when readiness did not change.
   */
  private readonly probedByThisProcess = new Set<string>();
  private readonly images: InstanceImages;
  private readonly retries: RetryBackoff;
  private readonly startCheck: StartCheck;
  private readonly livenessKills = new LivenessKills();
  private readonly preparations: ImagePreparations;

  constructor(private readonly options: InstanceReconcilerOptions) {
    this.preparations =
      options.preparations ?? new ImagePreparations({ limit: 2, onSettled: () => undefined });
    this.statusWriter = new StatusWriter(options.client);
    this.crashes = options.crashRecords ?? new CrashRecords(undefined, options.clock.now());
    this.images = new InstanceImages({
      docker: options.docker,
      events: options.events,
      nodeName: options.node.nodeName,
      buildSourceImage: options.buildSourceImage,
      ...(options.privateImages ? { privateImages: options.privateImages } : {}),
    });
    this.retries = new RetryBackoff(options.retryBackoff ?? DEFAULT_RETRY_BACKOFF);
    this.startCheck = new StartCheck({
      docker: options.docker,
      events: options.events,
      clock: options.clock,
      nodeName: options.node.nodeName,
    });
  }

  async reconcile(request: Request, context: ReconcileContext): Promise<Result | void> {
    const namespace = request.namespace ?? "";
    const key = request.key;
    const { node, docker } = this.options;
    const cached = this.latest(key, this.options.instances.get(namespace, request.name));
    // Its own containers and unclaimed ones from before the installation label (adopted);
    // never another installation's, which may run an Instance of the same name here.
    const listContainers = async () =>
      (
        await docker.listContainers(instanceSelector(namespace, request.name, node.nodeName), {
          signal: context.signal,
        })
      ).filter((container) => ownershipOf(container.labels, node.installation) !== "foreign");
    if (!cached || cached.spec.nodeName !== node.nodeName) {
      await this.removeContainers(await listContainers(), context);
      this.forget(key);
      return;
    }
    this.options.trace?.pickedUp(key);
    let instance = cached;
    if (instance.metadata.deletionTimestamp) {
      await this.finalizeInstance(instance, await listContainers(), context);
      return;
    }
    if (!hasFinalizer(instance, INSTANCE_FINALIZER)) {
      instance = await addFinalizer(this.options.client, INSTANCES, instance, INSTANCE_FINALIZER);
    }
    // One retry policy for every failed step: whatever wakes the Instance early waits it out.
    const waitMs = this.retries.remainingMs(key, this.options.clock.now(), instance.metadata.generation);
    if (waitMs === Number.POSITIVE_INFINITY) return;
    if (waitMs > 0) return { requeueAfterMs: waitMs };
    try {
      return await this.sync(key, instance, await listContainers(), context);
    } catch (err) {
      return await this.reportFailure(key, instance, err, context);
    }
  }

  /** Brings the container in line with the Instance; returns when to look again. */
  private async sync(
    key: string,
    instance: Instance,
    containers: ContainerSummary[],
    context: ReconcileContext,
  ): Promise<Result | void> {
    const { docker } = this.options;
    const [keep, ...extras] = rankContainers(containers);
    // Two containers for one Instance can only come from an interrupted create: keep one.
    await this.removeContainers(extras, context);
    const current = keep ? await inspectOrUndefined(docker, keep.id, context.signal) : undefined;
    if (current?.state.running) return await this.observeRunning(key, instance, current, context);

    const previousRestarts = Math.max(instance.status?.restarts ?? 0, restartsLabelOf(current));
    let restarts = previousRestarts;
    if (current?.state.status === "removing") {
      // Someone else (docker rm -f) is removing it; its destroy event brings the Instance back.
      // Its replacement is a restart, counted once however often this is seen.
      const counted = instance.status?.containerId !== current.id;
      const restartsAfter = counted ? previousRestarts : previousRestarts + 1;
      await this.reportRemovedOutside(key, instance, current.id, restartsAfter, context);
      return { requeueAfterMs: REMOVAL_RECHECK_MS };
    }
    if (current) {
      const exit = this.livenessKills.exitOf(key, current.id) ?? describeExit(current);
      if (current.state.startedAt) {
        await this.startCheck.exited(key, instance, current, context.signal, context.log);
        const crash = this.recordCrash(key, current);
        const now = this.options.clock.now();
        if (crash.restartAt > now) {
          const waitMs = crash.restartAt - now;
          await this.writeStatus(instance, {
            phase: "Failed",
            containerReady: {
              status: "False",
              reason: crash.crashes > 1 ? REASONS.crashLoopBackOff : REASONS.containerExited,
              message: `${exit}; restarting in ${Math.ceil(waitMs / 1000)} s (back-off after ${crash.crashes} exits in a row)`,
            },
            ready: {
              status: "False",
              reason: REASONS.containerNotReady,
              message: "the container is not running",
            },
            containerId: current.id,
            restarts: previousRestarts,
            message: `${exit}; restarting in ${Math.ceil(waitMs / 1000)} s`,
          });
          return { requeueAfterMs: waitMs };
        }
        restarts = previousRestarts + 1;
      }
      context.log.info("removing exited container", { containerId: current.id, exit });
      this.stopProbes(key);
      await docker.removeContainer(current.id, { force: true, signal: context.signal });
    } else if (instance.status?.containerId) {
      // The container was removed outside Berth: its replacement is a restart.
      restarts = previousRestarts + 1;
      instance = await this.reportRemovedOutside(
        key,
        instance,
        instance.status.containerId,
        restarts,
        context,
      );
    }
    return await this.createAndStart(key, instance, restarts, context);
  }

  /** Says (once, as an Event with the condition's reason) that the container went without Berth. */
  private async reportRemovedOutside(
    key: string,
    instance: Instance,
    containerId: string,
    restarts: number,
    context: ReconcileContext,
  ): Promise<Instance> {
    this.stopProbes(key);
    this.startCheck.forget(key);
    context.log.info("container removed outside Berth, recreating", { containerId });
    const message = `container ${containerId.slice(0, 12)} was removed outside Berth (docker rm?); creating a new one`;
    return await this.writeStatus(instance, {
      phase: "Starting",
      containerReady: { status: "False", reason: REASONS.containerRemovedExternally, message },
      ready: { status: "False", reason: REASONS.containerNotReady, message: "the container is not running" },
      restarts,
      message,
    });
  }

  private recordCrash(key: string, container: ContainerInfo): CrashRecord {
    // The run is timed on the engine's clock, the back-off on the agent's (crashloop.ts).
    const now = this.options.clock.now();
    const record = recordExit(
      this.crashes.get(key),
      { containerId: container.id, ranMs: ranMsOf(container, now), seenAt: now },
      this.options.crashLoop,
    );
    this.crashes.set(key, record);
    return record;
  }

  private async createAndStart(
    key: string,
    instance: Instance,
    restarts: number,
    context: ReconcileContext,
  ): Promise<Result | void> {
    const { docker, node } = this.options;
    // Limits the engine could never apply fail now, for good, not after a pull or build.
    checkResources(templateOf(instance));
    const environment = instanceEnvironment(instance, this.options.environments);
    const showStep = (step: ImageStep): Promise<Instance> =>
      this.writeStatus(instance, {
        phase: step.phase,
        containerReady: { status: "False", reason: step.reason, message: step.message },
        ready: {
          status: "False",
          reason: REASONS.containerNotReady,
          message: "the container is not running",
        },
        restarts,
        message: step.message,
      });
    // The pull or build goes on without this worker; its end wakes the Instance.
    const prepared = await this.preparations.prepare(key, imageIdentityOf(instance), (work) =>
      this.images.ensure(instance, work.report, work.signal, environment.pullAuth, work.slot),
    );
    if ("preparing" in prepared) {
      await showStep(prepared.preparing);
      return { requeueAfterMs: PREPARING_RECHECK_MS };
    }
    const image = prepared.done;
    this.options.trace?.reached(key, "image_ready");
    const privileged =
      instance.spec.hostPort !== undefined && instance.spec.hostPort < FIRST_UNPRIVILEGED_PORT;
    const spec = buildContainerSpec({
      instance,
      image,
      node,
      env: environment.env,
      restarts,
      privilegedPortsAllowed: privileged && (await this.options.privilegedPortsAllowed()),
      stopTimeoutSeconds: this.options.stopGraceSeconds,
    });
    const id = await docker.createContainer(spec, { signal: context.signal });
    this.options.trace?.reached(key, "container_created");
    try {
      await docker.startContainer(id, { signal: context.signal });
      this.options.trace?.reached(key, "container_started");
    } catch (err) {
      // A container that never started is not worth keeping (a taken port fails here).
      await docker.removeContainer(id, { force: true }).catch((cleanupErr: unknown) => {
        context.log.warn("could not remove a container that failed to start", {
          containerId: id,
          ...errorFields(cleanupErr),
        });
      });
      throw err;
    }
    this.retries.reset(key);
    this.startCheck.started(key, id);
    context.log.info("started container", { containerId: id, image: image.name, restarts });
    const started = await inspectOrUndefined(docker, id, context.signal);
    if (!started?.state.running) {
      // It exited at once; the die event (or this requeue) takes it from here.
      return { requeueAfterMs: 1 };
    }
    return await this.observeRunning(key, instance, started, context, restarts);
  }

  /**
   * Where http/tcp checks connect: the published service port (or the health port when it
   * asks to be published) where ports are bound, else the health port at the container's
   * own address, which is never published unless asked.
   */
  private healthEndpoint(
    template: RunTemplate,
    servicePort: number,
    serviceHostPort: number | undefined,
    container: ContainerInfo,
    check: HealthCheck | undefined = template.healthCheck,
  ): { host: string; port: number } | { waitingFor: string } {
    const { node } = this.options;
    const publishedHost =
      this.options.probeHost ?? (bindsEveryInterface(node.bindAddress) ? node.address : node.bindAddress);
    const healthPort = healthPortOf(template, servicePort, check);
    const published = check?.type === "exec" || healthPort === servicePort;
    if (published || healthPortPublished(template, servicePort, check)) {
      const port = published ? serviceHostPort : hostPortFor(container.ports, healthPort);
      return port === undefined
        ? { waitingFor: `health port ${healthPort} is not published yet` }
        : { host: publishedHost, port };
    }
    return container.ipAddress
      ? { host: container.ipAddress, port: healthPort }
      : {
          waitingFor:
            `the container has no IP address to check health port ${healthPort} at ` +
            "(set healthCheck.publishPort to check it where it is published)",
        };
  }

  /** A running container: publish its address, keep its probe loop going, report readiness. */
  private async observeRunning(
    key: string,
    instance: Instance,
    container: ContainerInfo,
    context: ReconcileContext,
    restartsOverride?: number,
  ): Promise<Result> {
    const { node, prober } = this.options;
    const template = templateOf(instance);
    const restarts = restartsOverride ?? Math.max(instance.status?.restarts ?? 0, restartsLabelOf(container));
    const servicePort = servicePortOf(template, container.labels);
    if (servicePort === undefined) {
      // Only a container Berth did not create this way lacks the label: replace it.
      throw new ContainerConfigError(
        "InvalidContainerSpec",
        `container ${container.id.slice(0, 12)} does not record its service port; delete the Instance to replace it`,
      );
    }
    const hostPort = hostPortFor(container.ports, servicePort);
    const health = this.healthEndpoint(template, servicePort, hostPort, container);
    if (hostPort === undefined || "waitingFor" in health) {
      const what = "waitingFor" in health ? health.waitingFor : `port ${servicePort} is not published yet`;
      await this.writeStatus(instance, {
        phase: "Starting",
        containerReady: {
          status: "False",
          reason: REASONS.containerCreating,
          message: `container ${container.id.slice(0, 12)} runs but ${what}`,
        },
        ready: {
          status: "False",
          reason: REASONS.containerNotReady,
          message: what,
        },
        containerId: container.id,
        restarts,
        message: `waiting: ${what}`,
      });
      return { requeueAfterMs: 1000 };
    }
    const stopped = await this.enforceLiveness(
      key,
      instance,
      { template, servicePort, hostPort, container },
      context,
    );
    if (stopped) return stopped;
    const target = probeTargetFor(template.healthCheck, { ...health, containerId: container.id });
    // A loop that is not there yet for a container the status already calls ready: this agent
    // restarted (or was replaced) and adopts it. It stays ready until its own checks fail.
    prober.ensure(key, target, prober.state(key) ? undefined : resumedVerdict(instance, container.id));
    const probe = prober.state(key);
    const verdict = probe?.verdict ?? "Pending";
    if (verdict === "Passed") this.everReady.set(key, container.id);
    const startCheckLeftMs = this.startCheck.running(key, instance, container, verdict === "Passed");
    const wasRunning =
      this.everReady.get(key) === container.id ||
      (instance.status?.phase === "Running" && instance.status.containerId === container.id);
    const readyNow = verdict === "Passed";
    const readinessChanged = (instance.status?.ready ?? false) !== readyNow;
    const ready =
      verdict === "Passed"
        ? { status: "True" as const, reason: REASONS.healthCheckPassed, message: probe?.message ?? "" }
        : verdict === "Failed"
          ? { status: "False" as const, reason: REASONS.healthCheckFailed, message: probe?.message ?? "" }
          : {
              status: "False" as const,
              reason: REASONS.healthCheckPending,
              message: probe?.lastProbeTime ? probe.message : "waiting for the first health check",
            };
    const address = {
      host: node.address,
      port: hostPort,
      url: `http://${urlHost(node.address)}:${hostPort}`,
    };
    const observed: Observed = {
      phase: wasRunning ? "Running" : "Starting",
      containerReady: {
        status: "True",
        reason: REASONS.containerRunning,
        message: `container ${container.id.slice(0, 12)} is running`,
      },
      ready,
      containerId: container.id,
      address,
      restarts,
      message: readyNow ? `ready at ${address.url}` : ready.message,
    };
    const firstOwnProbe = probe?.lastProbeTime !== undefined && !this.probedByThisProcess.has(key);
    const lastProbeTime = lastProbeTimeToWrite(
      instance.status?.lastProbeTime,
      probe?.lastProbeTime,
      readinessChanged || firstOwnProbe,
      this.options.probeStatusRefreshMs,
    );
    if (lastProbeTime) observed.lastProbeTime = lastProbeTime;
    await this.writeStatus(instance, observed);
    if (readyNow) this.options.trace?.readyWritten(key);
    if (firstOwnProbe) this.probedByThisProcess.add(key);
    return {
      requeueAfterMs:
        startCheckLeftMs > 0 ? Math.min(startCheckLeftMs, this.options.resyncMs) : this.options.resyncMs,
    };
  }

  /**
   * The liveness check of a running container: its loop is kept going, and once it fails the
   * container is stopped (and the failure said in an Event). The next pass finds it exited
   * and restarts it like any exit: counted, on the crash-loop back-off.
   */
  private async enforceLiveness(
    key: string,
    instance: Instance,
    running: { template: RunTemplate; servicePort: number; hostPort: number; container: ContainerInfo },
    context: ReconcileContext,
  ): Promise<Result | undefined> {
    const { prober, docker } = this.options;
    const { template, servicePort, hostPort, container } = running;
    const check = template.livenessCheck;
    const probeKey = livenessProbeKey(key);
    const endpoint = check && this.healthEndpoint(template, servicePort, hostPort, container, check);
    if (!check || !endpoint || "waitingFor" in endpoint) {
      prober.stop(probeKey);
      return undefined;
    }
    prober.ensure(probeKey, probeTargetFor(check, { ...endpoint, containerId: container.id }));
    const state = prober.state(probeKey);
    if (state?.verdict !== "Failed") return undefined;
    const message = livenessFailureMessage(state.consecutiveFailures, state.message);
    this.stopProbes(key);
    this.livenessKills.record(key, container.id, message);
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

  private stopProbes(key: string): void {
    this.options.prober.stop(key);
    this.options.prober.stop(livenessProbeKey(key));
  }

  /** Deletion: stop and remove the container, then let the Instance go. */
  private async finalizeInstance(
    instance: Instance,
    containers: ContainerSummary[],
    context: ReconcileContext,
  ): Promise<void> {
    const key = `${instance.metadata.namespace ?? ""}/${instance.metadata.name ?? ""}`;
    this.stopProbes(key);
    // A pull or build for it is cancelled at once, not left to run for an Instance that goes.
    this.preparations.cancel(key);
    if (!hasFinalizer(instance, INSTANCE_FINALIZER)) {
      // Someone else (the controller, evicting) let it go; our containers follow via GC.
      await this.removeContainers(containers, context);
      this.forget(key);
      return;
    }
    let latest = instance;
    if (instance.status?.phase !== "Terminating") {
      latest = await this.writeStatus(instance, {
        phase: "Terminating",
        containerReady: {
          status: containers.length > 0 ? "True" : "False",
          reason: REASONS.terminating,
          message: "stopping the container",
        },
        ready: { status: "False", reason: REASONS.terminating, message: "the Instance is being deleted" },
        ...(instance.status?.containerId ? { containerId: instance.status.containerId } : {}),
        restarts: instance.status?.restarts ?? 0,
        message: "stopping the container",
      });
    }
    await this.removeContainers(containers, context);
    try {
      await removeFinalizer(this.options.client, INSTANCES, latest, INSTANCE_FINALIZER);
    } catch (err) {
      // A cache a step behind shows an Instance this agent already let go: it is gone, as wanted.
      if (!isNotFound(err)) throw err;
    }
    this.forget(key);
    context.log.info("instance finalized", { containers: containers.length });
  }

  /**
   * A failed step: its status (one Event per new reason, from the status change), one log
   * line, and the next try on the retry policy's back-off, or none until the Instance changes.
   */
  private async reportFailure(
    key: string,
    instance: Instance,
    err: unknown,
    context: ReconcileContext,
  ): Promise<Result | void> {
    // API errors (a conflict on a status write, say) are the work queue's to retry.
    if (context.signal.aborted || !isDeploymentFailure(err)) throw err;
    const reason = err.reason;
    if (reason === ENVIRONMENT_NOT_DELIVERED) {
      const graceLeftMs = this.environmentGraceLeft(key, instance);
      if (graceLeftMs > 0) return { requeueAfterMs: graceLeftMs };
    } else {
      this.environmentAwaitedSince.delete(key);
    }
    const engineDown = ENGINE_DOWN_REASONS.has(reason);
    const waiting = WAITING_REASONS.has(reason);
    const terminal = TERMINAL_REASONS.has(reason);
    const generation = instance.metadata.generation;
    let step: FailureStep | undefined;
    // The same failure again after a retry (which showed Pulling or Building) is no new Event.
    const repeated = this.retries.lastReason(key) === reason;
    if (!terminal && !waiting) step = this.retries.failed(key, this.options.clock.now(), reason, generation);
    const message = step
      ? `${failureMessage(err)}; retrying in ${describeWait(step.waitMs)}`
      : failureMessage(err);
    this.stopProbes(key);
    const containerId =
      err instanceof CommandFailedError
        ? err.containerId
        : engineDown
          ? instance.status?.containerId
          : undefined;
    try {
      await this.writeStatus(
        instance,
        {
          phase: waiting ? "Scheduled" : "Failed",
          containerReady: { status: engineDown ? "Unknown" : "False", reason, message },
          ready: {
            status: "False",
            reason: REASONS.containerNotReady,
            message: "the container is not running",
          },
          ...(containerId ? { containerId } : {}),
          restarts: instance.status?.restarts ?? 0,
          message,
        },
        { quiet: repeated },
      );
    } catch (writeErr) {
      // A terminal failure is said once and never retried: unsaid, it must be found again
      // (the work queue retries; a command failure's container is still there to show it).
      if (terminal) throw writeErr;
      context.log.warn("could not write failure status", errorFields(writeErr));
    }
    if (waiting) return { requeueAfterMs: WAITING_RECHECK_MS };
    if (terminal) {
      this.retries.stop(key, reason, generation);
      throw new TerminalError(err.message, { cause: err });
    }
    context.log.warn("deployment step failed, retrying later", {
      reason,
      error: err.message,
      failures: step?.failures,
      retryInMs: step?.waitMs,
    });
    return { requeueAfterMs: step?.waitMs ?? WAITING_RECHECK_MS };
  }

  /**
   * The engine's event stream is back after a break: Instances that waited on the engine
   * (EngineUnreachable, DockerTimeout) may try again at once.
   */
  engineAnswersAgain(): string[] {
    return this.retries.releaseReasons(ENGINE_DOWN_REASONS);
  }

  /** Rebuilds the status from an observation, writes it when it changed, and records events. */
  private async writeStatus(
    instance: Instance,
    observed: Observed,
    options: { quiet?: boolean } = {},
  ): Promise<Instance> {
    const now = this.options.clock.now();
    const status: InstanceStatus = composeStatus(
      instance.status,
      observed,
      this.options.node.nodeName,
      instance.metadata.generation,
      now,
    );
    const updated = await this.statusWriter.update(INSTANCES, instance, status);
    if (updated && instance.metadata.resourceVersion) {
      this.written.set(`${instance.metadata.namespace ?? ""}/${instance.metadata.name ?? ""}`, {
        over: instance.metadata.resourceVersion,
        instance: updated,
      });
    }
    if (!updated || options.quiet) return updated ?? instance;
    for (const event of eventsForChange(instance.status, status)) {
      this.options.events.event(instance, event.type, event.reason, event.message);
    }
    return updated;
  }

  private async removeContainers(containers: ContainerSummary[], context: ReconcileContext): Promise<void> {
    for (const container of containers) {
      await this.options.docker.stopContainer(container.id, this.options.stopGraceSeconds, {
        signal: context.signal,
      });
      await this.options.docker.removeContainer(container.id, { force: true, signal: context.signal });
      context.log.info("removed container", { containerId: container.id });
    }
  }

  /**
   * How much longer a missing environment goes unsaid for this Instance: none once its
   * status says it already, or once the grace since it was first found missing has passed.
   */
  private environmentGraceLeft(key: string, instance: Instance): number {
    const said = getCondition(instance.status?.conditions, CONDITIONS.containerReady)?.reason;
    if (said === ENVIRONMENT_NOT_DELIVERED) return 0;
    const now = this.options.clock.now();
    const since = this.environmentAwaitedSince.get(key) ?? now;
    this.environmentAwaitedSince.set(key, since);
    return Math.max(0, since + ENVIRONMENT_DELIVERY_GRACE_MS - now);
  }

  /** The cached Instance, or this agent's own last write of it while the cache lags behind. */
  private latest(key: string, cached: Instance | undefined): Instance | undefined {
    const written = this.written.get(key);
    if (!written) return cached;
    if (cached?.metadata.resourceVersion === written.over) return written.instance;
    this.written.delete(key);
    return cached;
  }

  private forget(key: string): void {
    this.written.delete(key);
    this.environmentAwaitedSince.delete(key);
    this.preparations.cancel(key);
    this.stopProbes(key);
    this.retries.reset(key);
    this.crashes.delete(key);
    this.startCheck.forget(key);
    this.livenessKills.forget(key);
    this.everReady.delete(key);
    this.probedByThisProcess.delete(key);
  }
}

/** The readiness an earlier agent process wrote for this very container, if it was ready. */
function resumedVerdict(instance: Instance, containerId: string): ResumedVerdict | undefined {
  const status = instance.status;
  const ready = status?.conditions?.find((c) => c.type === "Ready");
  if (status?.ready !== true || status.containerId !== containerId || ready?.status !== "True") {
    return undefined;
  }
  return { verdict: "Passed", message: ready.message };
}
