/**
 * The parts of the agent role and how they are added to its Manager: the Instance
 * controller with its caches, and the runnables beside it (heartbeat, container and disk
 * garbage collection, engine events), each on the injected clock.
 */

import type { Instance, Node } from "../api/types.js";
import { LABELS } from "../api/vocabulary.js";
import type { DockerEngine } from "../docker/engine.js";
import { withoutBookkeeping } from "../kube/bookkeeping.js";
import type { KubeClient } from "../kube/client.js";
import type { Lease, Secret } from "../kube/resources.js";
import { INSTANCES, NODES, SECRETS } from "../kube/resources.js";
import { ENVIRONMENT_SECRET_TYPE, instanceKeyOf, nodeNamespace } from "../environment/delivery.js";
import type { Clock } from "../runtime/clock.js";
import { Controller } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import { KubeEventRecorder } from "../runtime/events.js";
import type { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import type { Manager } from "../runtime/manager.js";
import type { Runnable } from "../runtime/runnable.js";
import { Slots } from "../runtime/slots.js";
import { ensureSourceImage } from "../source/builder.js";
import type { AgentOptions } from "./options.js";
import type { AgentDocker } from "./docker-port.js";
import { engineEvents } from "./engine-events.js";
import { garbageCollectionLoop } from "./gc.js";
import { NodeHeartbeat } from "./heartbeat.js";
import { InstanceReconciler } from "./instance-reconciler.js";
import type { BuildFailures } from "./build-failures.js";
import type { CrashRecords } from "./crash-records.js";
import type { PrivateImages } from "./private-images.js";
import { instanceKeyOfProbe } from "./liveness.js";
import { Prober } from "./prober.js";
import { DiskGarbageCollector, imageDiskPath } from "./disk-gc.js";
import { ImagePreparations } from "./image-preparation.js";
import { runProbe } from "./probe-checks.js";
import type { NodeIdentity } from "./registration.js";
import { UnclaimedContainerLog } from "./installation.js";
import { usageOf } from "./usage.js";
import { StartTrace } from "./start-trace.js";
import { FIRST_CHECK_WAIT_MS } from "./running-instance.js";
import { ImagePresence, imagePresenceEvents } from "./image-presence.js";

/** The engine the agent drives: its Docker port plus what heartbeat, builds and GC read. */
export type AgentEngine = AgentDocker &
  Pick<
    DockerEngine,
    | "events"
    | "imageEvents"
    | "buildImage"
    | "inspectImage"
    | "containerLogs"
    | "listImages"
    | "removeImage"
    | "info"
  >;

const CONTROLLER_NAME = "agent-instance";
/**
 * A passing health check is not an API write: lastProbeTime is written with every readiness
 * change and otherwise refreshed this rarely, so an idle Instance costs 0.1 writes a minute.
 */
const PROBE_TIME_REFRESH_MS = 10 * 60_000;

/** What the agent reads or sets up before it touches the API's watches: all under its lock. */
export interface AgentState {
  lease: Lease;
  installation: string;
  bindAddress: string;
  privateImages: PrivateImages;
  crashRecords: CrashRecords;
  buildFailures: BuildFailures;
}

/** Everything the parts of one agent share. */
export interface AgentContext {
  options: AgentOptions;
  client: KubeClient;
  docker: AgentEngine;
  clock: Clock;
  logger: Logger;
  identity: NodeIdentity;
  state: AgentState;
  /**
   * With a namespace scope, containers of other namespaces' Instances belong to another
   * agent's view of this node: neither events nor garbage collection may touch them.
   */
  inScope: (namespace: string | undefined) => boolean;
}

/** The Instance controller and what runs beside it, before the Manager starts them. */
export interface InstanceParts {
  informer: Informer<Instance>;
  nodeCache: Informer<Node>;
  recorder: EventRecorder;
  reconciler: InstanceReconciler;
  preparations: ImagePreparations;
  /** Which images the engine has, asked once per image while the image event stream holds. */
  imagePresence: ImagePresence;
  prober: Prober;
  enqueue: (key: string) => void;
}

/** The caches, the Instance reconciler and its controller, added to the Manager. */
export function addInstanceController(
  context: AgentContext,
  manager: Manager,
  events: EventRecorder | undefined,
): InstanceParts {
  const { options, client, clock, logger } = context;
  // Every cache here drops managedFields and last-applied copies (../kube/bookkeeping.ts).
  const informer = manager.informer(INSTANCES, {
    ...(options.watchNamespace ? { namespace: options.watchNamespace } : {}),
    fieldSelector: `spec.nodeName=${options.nodeName}`,
    transform: withoutBookkeeping,
  });
  // The environments delivered for this Node's Instances: the only Secrets an agent can read.
  const environments = manager.informer(SECRETS, {
    namespace: nodeNamespace(options.nodeName),
    fieldSelector: `type=${ENVIRONMENT_SECRET_TYPE}`,
    transform: withoutBookkeeping,
  });
  // Only this Node is watched (its readiness, which the controller may flip to Unknown, and
  // whether an admin allows privileged host ports here): with a watch of every Node, each
  // Node's status write went to every agent, 100 watch events per write at 100 Nodes.
  const nodeCache = manager.informer(NODES, {
    fieldSelector: `metadata.name=${options.nodeName}`,
    transform: withoutBookkeeping,
  });
  const recorder =
    events ??
    new KubeEventRecorder({
      client,
      component: "berth.dev/agent",
      instance: options.nodeName,
      clock,
      logger,
    });
  const enqueue = (key: string): void => controller.enqueue(key);
  // The agent's part of the apply-to-ready trace: new Instances from arrival to Ready written.
  const trace = new StartTrace();
  trace.watch(informer);
  // Pulls and builds run apart from the reconcile workers; their end wakes the Instance.
  const preparations = new ImagePreparations({ limit: options.imageWork, onSettled: enqueue });
  const imagePresence = new ImagePresence();
  const prober = newProber(context, trace, enqueue);
  const reconciler = newReconciler(context, {
    informer,
    environments,
    nodeCache,
    recorder,
    preparations,
    imagePresence,
    prober,
    trace,
  });
  const controller = new Controller({
    name: CONTROLLER_NAME,
    reconciler,
    clock,
    logger,
    workers: options.workers,
  });
  // The event of the agent's own status or finalizer write brings nothing new to it: no pass,
  // so no container list and inspect against an engine busy with a burst of starts.
  controller.for(informer, { updatePredicate: (before, after) => !reconciler.isOwnWrite(before, after) });
  controller.watches(environments, (secret) => {
    const key = instanceKeyOf(secret);
    return key && context.inScope(key.split("/")[0]) ? [key] : [];
  });
  manager.add(controller);
  return { informer, nodeCache, recorder, reconciler, preparations, imagePresence, prober, enqueue };
}

function newProber(context: AgentContext, trace: StartTrace, enqueue: (key: string) => void): Prober {
  const { docker } = context;
  const prober: Prober = new Prober({
    clock: context.clock,
    logger: context.logger,
    probe: (target) =>
      runProbe(
        target,
        async (id, command, timeoutMs) => (await docker.exec(id, command, { timeoutMs })).exitCode,
      ),
    // A verdict wakes its Instance (liveness too), unless a pass waits to read it itself.
    onVerdictChange: (probeKey, awaited) => {
      const key = instanceKeyOfProbe(probeKey);
      if (probeKey === key && prober.state(key)?.verdict === "Passed")
        trace.reached(key, "first_probe_passed");
      if (!awaited) enqueue(key);
    },
  });
  return prober;
}

function newReconciler(
  context: AgentContext,
  parts: Pick<
    InstanceParts,
    "informer" | "nodeCache" | "recorder" | "preparations" | "imagePresence" | "prober"
  > & {
    environments: Informer<Secret>;
    trace: StartTrace;
  },
): InstanceReconciler {
  const { options, client, docker, clock, logger, state } = context;
  const privilegedPortsAllowed = async (): Promise<boolean> => {
    const own =
      parts.nodeCache.get(undefined, options.nodeName) ??
      (await client.get(NODES, { name: options.nodeName }));
    return own.spec.allowPrivilegedPorts === true;
  };
  return new InstanceReconciler({
    node: {
      nodeName: options.nodeName,
      installation: state.installation,
      address: options.address,
      bindAddress: state.bindAddress,
    },
    docker,
    client,
    instances: parts.informer,
    environments: parts.environments,
    prober: parts.prober,
    events: parts.recorder,
    clock,
    logger,
    crashLoop: options.crashLoop,
    crashRecords: state.crashRecords,
    retryBackoff: options.retryBackoff,
    stopGraceSeconds: options.stopGraceSeconds,
    resyncMs: options.resyncIntervalMs,
    probeStatusRefreshMs: PROBE_TIME_REFRESH_MS,
    privilegedPortsAllowed,
    buildSourceImage: (request) => ensureSourceImage(request, sourceBuildOptions(context)),
    privateImages: state.privateImages,
    buildFailures: state.buildFailures,
    preparations: parts.preparations,
    imagePresence: parts.imagePresence,
    trace: parts.trace,
    startSlots: new Slots(options.startWork, "container start"),
    firstCheckWaitMs: FIRST_CHECK_WAIT_MS,
  });
}

function sourceBuildOptions(context: AgentContext): Parameters<typeof ensureSourceImage>[1] {
  const { options } = context;
  return {
    docker: context.docker,
    stateDir: options.stateDir,
    logger: context.logger,
    git: {
      fileRepositories: { allowed: options.allowFileRepositories, refused: [] },
      maxRepositoryBytes: options.maxRepositoryBytes,
    },
    maxBuildLogBytes: options.maxBuildLogBytes,
    imageLabels: { [LABELS.installation]: context.state.installation },
  };
}

/**
 * Started in this order, stopped the other way round (after the Instance controller has
 * drained, before the caches stop): the Node is ours before any container is touched, and
 * it is marked not ready last.
 */
export function addRunnables(
  context: AgentContext,
  parts: InstanceParts,
  manager: Manager,
  onLost: (err: Error) => void,
): void {
  const { options, client, docker, clock, logger, identity, state } = context;
  manager.addRunnable(
    new NodeHeartbeat({
      nodes: parts.nodeCache,
      identity,
      client,
      docker,
      clock,
      logger,
      lease: state.lease,
      leaseRenewMs: options.leaseRenewIntervalMs,
      statusRefreshMs: options.statusIntervalMs,
      usage: () => usageOf(parts.informer.list()),
      onLost,
    }),
  );
  const gc = containerGc(context, parts);
  manager.addRunnable(gc);
  manager.addRunnable(
    engineEvents({
      docker,
      node: { nodeName: options.nodeName, installation: state.installation },
      enqueue: (key) => {
        if (context.inScope(key.split("/")[0])) parts.enqueue(key);
      },
      isOwnStart: (containerId) => parts.reconciler.isOwnStart(containerId),
      onResync: () => {
        // Events may have been missed while the stream was down (an engine restart): look at
        // everything, and what waited on the engine tries again now rather than at its back-off.
        parts.reconciler.engineAnswersAgain();
        for (const key of parts.informer.keys()) parts.enqueue(key);
        void gc.runNow();
      },
      clock,
      logger,
    }),
  );
  manager.addRunnable(imagePresenceEvents({ docker, presence: parts.imagePresence, clock, logger }));
  manager.addRunnable(diskGc(context, parts.informer));
  // Pulls and builds in flight are cancelled once the Instance controller has drained.
  manager.addRunnable({
    name: "image-preparations",
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(parts.preparations.cancelAll()),
  });
  // Probes end once the Instance controller has drained, before the rest stops.
  manager.addRunnable({
    name: "prober",
    start: () => Promise.resolve(),
    stop: async () => parts.prober.stopAll(),
  });
}

function containerGc(context: AgentContext, parts: InstanceParts): ReturnType<typeof garbageCollectionLoop> {
  const { options } = context;
  const { informer } = parts;
  return garbageCollectionLoop({
    nodeName: options.nodeName,
    installation: context.state.installation,
    unclaimed: new UnclaimedContainerLog(context.logger),
    docker: context.docker,
    inScope: context.inScope,
    scoped: options.watchNamespace !== "",
    instances: informer,
    hasSynced: () => informer.hasSynced(),
    waitForSync: (signal) => informer.waitForSync(signal),
    stopGraceSeconds: options.stopGraceSeconds,
    logger: context.logger,
    clock: context.clock,
    intervalMs: options.resyncIntervalMs,
    onAdopted: parts.enqueue,
  });
}

function diskGc(context: AgentContext, informer: Informer<Instance>): Runnable {
  const { options, docker } = context;
  const collector = new DiskGarbageCollector({
    docker,
    installation: context.state.installation,
    namespace: options.watchNamespace,
    stateDir: options.stateDir,
    settings: options.imageGc,
    instances: () => informer.list(),
    waitForSync: (signal) => informer.waitForSync(signal),
    diskPath: () => imageDiskPath(options.imageGc.diskPath, options.stateDir, docker),
    clock: context.clock,
    logger: context.logger,
  });
  return { name: "disk-gc", start: () => Promise.resolve(collector.start()), stop: () => collector.stop() };
}
