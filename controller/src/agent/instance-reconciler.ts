/**
 * The agent's reconciler for the Instances bound to its node. Level-based: every pass
 * re-reads the Instance from the informer cache and the container from Docker, compares,
 * does at most one step of work (pull+create+start, recreate, remove) and writes the status
 * it observed, only when it changed. The steps live beside it: container-launch.ts (image,
 * create, start), running-instance.ts (address, probes, readiness, liveness),
 * instance-finalizer.ts (deletion), failure-report.ts (a failed step), and the statuses
 * they write are built in instance-observations.ts.
 */
import type { Instance } from "../api/types.js";
import { INSTANCE_FINALIZER } from "../api/vocabulary.js";
import type { DockerEngine } from "../docker/engine.js";
import type { ContainerInfo, ContainerSummary } from "../docker/types.js";
import type { KubeClient } from "../kube/client.js";
import { INSTANCES } from "../kube/resources.js";
import type { Clock } from "../runtime/clock.js";
import type { ReconcileContext, Reconciler, Request, Result } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import { addFinalizer, hasFinalizer } from "../runtime/finalizers.js";
import type { Logger } from "../runtime/log.js";
import type { Slots } from "../runtime/slots.js";
import {
  describeExit,
  inspectOrUndefined,
  ranMsOf,
  rankContainers,
  restartsLabelOf,
} from "./container-facts.js";
import { ContainerLauncher } from "./container-launch.js";
import type { NodeAddressing } from "./container-request.js";
import type { CrashLoopOptions, CrashRecord } from "./crashloop.js";
import { recordExit } from "./crashloop.js";
import type { BuildFailures } from "./build-failures.js";
import { CrashRecords } from "./crash-records.js";
import type { AgentDocker } from "./docker-port.js";
import type { DeliveredEnvironments } from "./environment.js";
import { FailureReporter } from "./failure-report.js";
import { ENGINE_DOWN_REASONS } from "./failure-policy.js";
import { ImagePreparations } from "./image-preparation.js";
import type { BuildSourceImage } from "./images.js";
import type { ImagePresence } from "./image-presence.js";
import { InstanceImages } from "./images.js";
import { InstanceFinalizer, instanceContainers, removeContainers } from "./instance-finalizer.js";
import { crashBackOff, removedOutside } from "./instance-observations.js";
import { InstanceStatusWriter } from "./instance-status-writer.js";
import { LivenessKills, stopProbeLoops } from "./liveness.js";
import type { PrivateImages } from "./private-images.js";
import type { Prober } from "./prober.js";
import type { RetryBackoffOptions } from "./retry-backoff.js";
import { DEFAULT_RETRY_BACKOFF, RetryBackoff } from "./retry-backoff.js";
import type { StartTrace } from "./start-trace.js";
import { OwnStarts } from "./own-starts.js";
import { RunningInstances } from "./running-instance.js";
import { StartCheck } from "./start-check.js";

export { PREPARING_RECHECK_MS } from "./container-launch.js";

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
  /** Builds that failed for good (kept in the state directory); in memory when absent. */
  buildFailures?: BuildFailures;
  /** Which images the engine has, kept by the image event stream; the engine is asked each time when absent. */
  imagePresence?: ImagePresence;
  /**
   * Where pulls and builds run, off the reconcile workers, with the node's limit; the agent
   * passes one that wakes the Instance when its image is ready. One that wakes nobody when absent.
   */
  preparations?: ImagePreparations;
  /** Creates and starts in flight at once on the engine (container-launch.ts); no bound when absent. */
  startSlots?: Slots;
  /** The agent's part of the apply-to-ready trace; none when absent. */
  trace?: StartTrace;
  /** How long the pass that started a container waits for its first health check; 0 when absent. */
  firstCheckWaitMs?: number;
}

/** How soon to look again at a container someone else is removing. */
const REMOVAL_RECHECK_MS = 500;

export class InstanceReconciler implements Reconciler {
  private readonly crashes: CrashRecords;
  private readonly retries: RetryBackoff;
  private readonly startCheck: StartCheck;
  private readonly livenessKills = new LivenessKills();
  private readonly preparations: ImagePreparations;
  private readonly status: InstanceStatusWriter;
  private readonly running: RunningInstances;
  private readonly launcher: ContainerLauncher;
  private readonly finalizer: InstanceFinalizer;
  private readonly failures: FailureReporter;
  private readonly ownStarts = new OwnStarts();

  constructor(private readonly options: InstanceReconcilerOptions) {
    const { docker, events, clock, node, prober } = options;
    const preparations =
      options.preparations ?? new ImagePreparations({ limit: 2, onSettled: () => undefined });
    const status = new InstanceStatusWriter({
      client: options.client,
      events,
      clock,
      nodeName: node.nodeName,
    });
    const retries = new RetryBackoff(options.retryBackoff ?? DEFAULT_RETRY_BACKOFF);
    const startCheck = new StartCheck({ docker, events, clock, nodeName: node.nodeName });
    const images = new InstanceImages({
      docker,
      events,
      nodeName: node.nodeName,
      buildSourceImage: options.buildSourceImage,
      ...(options.privateImages ? { privateImages: options.privateImages } : {}),
      ...(options.buildFailures ? { buildFailures: options.buildFailures } : {}),
      ...(options.imagePresence ? { presence: options.imagePresence } : {}),
    });
    this.crashes = options.crashRecords ?? new CrashRecords(undefined, clock.now());
    this.preparations = preparations;
    this.status = status;
    this.retries = retries;
    this.startCheck = startCheck;
    this.running = new RunningInstances({
      ...options,
      status,
      startCheck,
      livenessKills: this.livenessKills,
    });
    this.launcher = new ContainerLauncher({
      ...options,
      images,
      preparations,
      retries,
      startCheck,
      status,
      ownStarts: this.ownStarts,
    });
    this.finalizer = new InstanceFinalizer({ ...options, preparations, status });
    this.failures = new FailureReporter({ clock, prober, retries, status });
  }

  async reconcile(request: Request, context: ReconcileContext): Promise<Result | void> {
    const namespace = request.namespace ?? "";
    const key = request.key;
    const { node, docker, clock } = this.options;
    const cached = this.status.latest(key, this.options.instances.get(namespace, request.name));
    const listContainers = () => instanceContainers(docker, node, namespace, request.name, context.signal);
    if (!cached || cached.spec.nodeName !== node.nodeName) {
      await this.removeContainers(await listContainers(), context);
      this.forget(key);
      this.finalizer.forget(key);
      return;
    }
    this.options.trace?.pickedUp(key);
    let instance = cached;
    if (instance.metadata.deletionTimestamp) {
      await this.finalizer.finalize(instance, await listContainers(), context);
      this.forget(key);
      return;
    }
    // One retry policy for every failed step: whatever wakes the Instance early waits it out.
    const waitMs = this.retries.remainingMs(key, clock.now(), instance.metadata.generation);
    if (waitMs === Number.POSITIVE_INFINITY) return;
    if (waitMs > 0) return { requeueAfterMs: waitMs };
    // The finalizer goes on while the engine is asked: both are in before any container is made.
    const listing = listContainers();
    try {
      if (!hasFinalizer(instance, INSTANCE_FINALIZER)) {
        const before = instance;
        const finalizers = [...(before.metadata.finalizers ?? []), INSTANCE_FINALIZER];
        const withdraw = this.status.writing(before, { finalizers });
        instance = await addFinalizer(this.options.client, INSTANCES, before, INSTANCE_FINALIZER).catch(
          (err: unknown) => {
            withdraw();
            throw err;
          },
        );
        this.status.remember(before, instance);
      }
    } catch (err) {
      listing.catch(() => undefined);
      throw err;
    }
    try {
      return await this.sync(key, instance, await listing, context);
    } catch (err) {
      return await this.failures.report(key, instance, err, context);
    }
  }

  /**
   * Whether an Instance's change is no more than one of this agent's own writes (a status, its
   * finalizer), which the pass that made it has taken into account: its watch event needs no pass.
   */
  isOwnWrite(before: Instance, after: Instance): boolean {
    return this.status.isOwnWrite(before, after);
  }

  /** Whether a container's start event is that of a start this agent made (own-starts.ts): no pass needed. */
  isOwnStart(containerId: string): boolean {
    return this.ownStarts.isOwnStart(containerId);
  }

  /**
   * The engine's event stream is back after a break: Instances that waited on the engine
   * (EngineUnreachable, DockerTimeout) may try again at once.
   */
  engineAnswersAgain(): string[] {
    return this.retries.releaseReasons(ENGINE_DOWN_REASONS);
  }

  /** Brings the container in line with the Instance; returns when to look again. */
  private async sync(
    key: string,
    instance: Instance,
    containers: ContainerSummary[],
    context: ReconcileContext,
  ): Promise<Result | void> {
    const [keep, ...extras] = rankContainers(containers);
    // Two containers for one Instance can only come from an interrupted create: keep one.
    await this.removeContainers(extras, context);
    const current = keep ? await inspectOrUndefined(this.options.docker, keep.id, context.signal) : undefined;
    if (current?.state.running) return await this.running.observe(key, instance, current, context);

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
      const exited = await this.removeExited(key, instance, current, previousRestarts, context);
      if ("wait" in exited) return exited.wait;
      restarts = exited.restarts;
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
    const launched = await this.launcher.launch(key, instance, restarts, context);
    if ("wait" in launched) return launched.wait;
    return await this.running.observe(key, instance, launched.running, context, restarts);
  }

  /**
   * An exited container: it waits out its crash-loop back-off (the status says so), or it is
   * removed and the restarts its replacement starts with are returned.
   */
  private async removeExited(
    key: string,
    instance: Instance,
    container: ContainerInfo,
    previousRestarts: number,
    context: ReconcileContext,
  ): Promise<{ wait: Result } | { restarts: number }> {
    const exit = this.livenessKills.exitOf(key, container.id) ?? describeExit(container);
    let restarts = previousRestarts;
    if (container.state.startedAt) {
      await this.startCheck.exited(key, instance, container, context.signal, context.log);
      const crash = this.recordCrash(key, container);
      const waitMs = crash.restartAt - this.options.clock.now();
      if (waitMs > 0) {
        const { crashes } = crash;
        const containerId = container.id;
        await this.status.write(instance, crashBackOff({ exit, waitMs, crashes, containerId, restarts }));
        return { wait: { requeueAfterMs: waitMs } };
      }
      restarts = previousRestarts + 1;
    }
    context.log.info("removing exited container", { containerId: container.id, exit });
    stopProbeLoops(this.options.prober, key);
    await this.options.docker.removeContainer(container.id, { force: true, signal: context.signal });
    return { restarts };
  }

  /** Says (once, as an Event with the condition's reason) that the container went without Berth. */
  private async reportRemovedOutside(
    key: string,
    instance: Instance,
    containerId: string,
    restarts: number,
    context: ReconcileContext,
  ): Promise<Instance> {
    stopProbeLoops(this.options.prober, key);
    this.startCheck.forget(key);
    context.log.info("container removed outside Berth, recreating", { containerId });
    return await this.status.write(instance, removedOutside(containerId, restarts));
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

  private async removeContainers(containers: ContainerSummary[], context: ReconcileContext): Promise<void> {
    await removeContainers(this.options.docker, containers, this.options.stopGraceSeconds, context);
  }

  private forget(key: string): void {
    this.status.forget(key);
    this.failures.forget(key);
    this.preparations.cancel(key);
    this.running.forget(key);
    this.retries.reset(key);
    this.crashes.delete(key);
    this.startCheck.forget(key);
    this.livenessKills.forget(key);
    this.ownStarts.forget(key);
  }
}
