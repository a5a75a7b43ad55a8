/**
 * The agent (Berth's kubelet): registers and heartbeats its Node, reconciles the
 * Instances bound to it into containers, probes them, and collects containers nobody
 * wants. startAgent wires the parts; the CLI runs it alone or next to the controller.
 */
import { LABELS } from "../api/vocabulary.js";
import { DockerEngine } from "../docker/engine.js";
import { readEngineTls } from "../docker/tls.js";
import type { KubeClient } from "../kube/client.js";
import { INSTANCES, NODES, SECRETS } from "../kube/resources.js";
import { ENVIRONMENT_SECRET_TYPE, instanceKeyOf, nodeNamespace } from "../environment/delivery.js";
import type { Clock } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";
import { Controller } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import { KubeEventRecorder } from "../runtime/events.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { Manager } from "../runtime/manager.js";
import type { AgentOptionsInput } from "./options.js";
import { resolveAgentOptions } from "./options.js";
import { ensureSourceImage } from "../source/builder.js";
import type { AgentDocker } from "./docker-port.js";
import { engineEvents } from "./engine-events.js";
import { garbageCollectionLoop } from "./gc.js";
import { NodeHeartbeat } from "./heartbeat.js";
import { InstanceReconciler } from "./instance-reconciler.js";
import { BuildFailures } from "./build-failures.js";
import { CrashRecords } from "./crash-records.js";
import { PrivateImages } from "./private-images.js";
import { instanceKeyOfProbe } from "./liveness.js";
import { Prober } from "./prober.js";
import { DiskGarbageCollector, imageDiskPath } from "./disk-gc.js";
import { ImagePreparations } from "./image-preparation.js";
import { runProbe } from "./probe-checks.js";
import type { NodeIdentity } from "./registration.js";
import { registerNode } from "./registration.js";
import { resolveBindAddress } from "./bind-address.js";
import { agentIdentity, lockAgentState } from "./identity.js";
import { UnclaimedContainerLog, resolveInstallation } from "./installation.js";
import { usageOf } from "./usage.js";
import { StartTrace } from "./start-trace.js";
import { ImagePresence, imagePresenceEvents } from "./image-presence.js";
import { FIRST_CHECK_WAIT_MS } from "./running-instance.js";

export interface AgentDeps {
  client: KubeClient;
  /** The engine at options.url; one is made from the URL when absent. */
  docker?: AgentDocker &
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
  logger: Logger;
  clock?: Clock;
  /** Where Instance events go; Kubernetes Events by default. */
  events?: EventRecorder;
  /** This agent's identity on its Node's Lease; by default the one kept in its state directory. */
  agentId?: string;
  /** Called when the agent stops on its own (its Node was taken over by another agent). */
  onFatal?: (err: Error) => void;
}

export interface RunningAgent {
  agentId: string;
  nodeName: string;
  /** Stops everything, marks the Node not ready and releases its Lease. Running containers stay. */
  stop(): Promise<void>;
}

const CONTROLLER_NAME = "agent-instance";
/**
 * A passing health check is not an API write: lastProbeTime is written with every readiness
 * change and otherwise refreshed this rarely, so an idle Instance costs 0.1 writes a minute.
 */
const PROBE_TIME_REFRESH_MS = 10 * 60_000;

export async function startAgent(input: AgentOptionsInput, deps: AgentDeps): Promise<RunningAgent> {
  const options = resolveAgentOptions(input);
  const clock = deps.clock ?? realClock;
  const logger = deps.logger.child({ component: "agent", node: options.nodeName });
  const { client } = deps;
  const docker =
    deps.docker ??
    new DockerEngine({
      url: options.url,
      logger,
      ...(options.dockerTls ? { tls: readEngineTls(options.dockerTls) } : {}),
    });
  const releaseLock = lockAgentState(options.stateDir);
  const agentId = deps.agentId ?? agentIdentity(options.stateDir, options.nodeName, options.url);
  const identity: NodeIdentity = {
    nodeName: options.nodeName,
    url: options.url,
    address: options.address,
    labels: options.labels,
    ...(options.capacity ? { capacity: options.capacity } : {}),
    agentId,
    leaseNamespace: options.leaseNamespace,
    leaseDurationSeconds: Math.ceil(options.leaseDurationMs / 1000),
  };
  let lease;
  let installation: string;
  let bindAddress: string;
  let privateImages: PrivateImages;
  let crashRecords: CrashRecords;
  let buildFailures: BuildFailures;
  try {
    installation = await resolveInstallation(client, options);
    bindAddress = await resolveBindAddress(options, logger);
    // Read under the lock: only this process writes the record in the state directory.
    privateImages = new PrivateImages(options.stateDir);
    crashRecords = new CrashRecords(options.stateDir, clock.now(), (message) =>
      logger.warn("the crash-loop record could not be read", { problem: message }),
    );
    buildFailures = new BuildFailures({
      stateDir: options.stateDir,
      clock,
      onUnreadable: (message) =>
        logger.warn("the record of failed builds could not be read", { problem: message }),
    });
    ({ lease } = await registerNode(identity, { client, clock, logger }));
  } catch (err) {
    releaseLock();
    throw err;
  }
  const unclaimed = new UnclaimedContainerLog(logger);

  // With a namespace scope, containers of other namespaces' Instances belong to another agent's
  // view of this node: neither events nor garbage collection may touch them.
  const inScope = (namespace: string | undefined): boolean =>
    options.watchNamespace === "" || namespace === options.watchNamespace;
  const manager = new Manager({ client, clock, logger });
  const informer = manager.informer(INSTANCES, {
    ...(options.watchNamespace ? { namespace: options.watchNamespace } : {}),
    fieldSelector: `spec.nodeName=${options.nodeName}`,
  });
  // The environments the controller delivers for this Node's Instances: the only Secrets
  // an agent can read.
  const environments = manager.informer(SECRETS, {
    namespace: nodeNamespace(options.nodeName),
    fieldSelector: `type=${ENVIRONMENT_SECRET_TYPE}`,
  });
  // Nodes are watched rather than read on every beat: this Node's readiness (which the
  // controller may flip to Unknown), the count of the others (for Misconfigured), and
  // whether an admin allows privileged host ports here.
  const nodeCache = manager.informer(NODES);
  const recorder =
    deps.events ??
    new KubeEventRecorder({
      client,
      component: "berth.dev/agent",
      instance: options.nodeName,
      clock,
      logger,
    });
  const privilegedPortsAllowed = async (): Promise<boolean> => {
    const own =
      nodeCache.get(undefined, options.nodeName) ?? (await client.get(NODES, { name: options.nodeName }));
    return own.spec.allowPrivilegedPorts === true;
  };
  const enqueue = (key: string): void => controller.enqueue(key);
  // The agent's part of the apply-to-ready trace: new Instances from arrival to Ready written.
  const trace = new StartTrace();
  trace.watch(informer);
  // Pulls and builds run apart from the reconcile workers; their end wakes the Instance.
  const preparations = new ImagePreparations({ limit: options.imageWork, onSettled: enqueue });
  // Which images the engine has, asked once per image while the image event stream holds.
  const imagePresence = new ImagePresence();
  const prober = new Prober({
    clock,
    logger,
    probe: (target) =>
      runProbe(
        target,
        async (id, command, timeoutMs) => (await docker.exec(id, command, { timeoutMs })).exitCode,
      ),
    // A liveness loop's verdict wakes its Instance, as the health check's does.
    onVerdictChange: (probeKey) => {
      const key = instanceKeyOfProbe(probeKey);
      if (probeKey === key && prober.state(key)?.verdict === "Passed")
        trace.reached(key, "first_probe_passed");
      enqueue(key);
    },
  });
  const reconciler = new InstanceReconciler({
    node: {
      nodeName: options.nodeName,
      installation,
      address: options.address,
      bindAddress,
    },
    docker,
    client,
    instances: informer,
    environments,
    prober,
    events: recorder,
    clock,
    logger,
    crashLoop: options.crashLoop,
    crashRecords,
    retryBackoff: options.retryBackoff,
    stopGraceSeconds: options.stopGraceSeconds,
    resyncMs: options.resyncIntervalMs,
    probeStatusRefreshMs: PROBE_TIME_REFRESH_MS,
    privilegedPortsAllowed,
    buildSourceImage: (request) =>
      ensureSourceImage(request, {
        docker,
        stateDir: options.stateDir,
        logger,
        git: {
          fileRepositories: { allowed: options.allowFileRepositories, refused: [] },
          maxRepositoryBytes: options.maxRepositoryBytes,
        },
        maxBuildLogBytes: options.maxBuildLogBytes,
        imageLabels: { [LABELS.installation]: installation },
      }),
    privateImages,
    buildFailures,
    preparations,
    imagePresence,
    trace,
    firstCheckWaitMs: FIRST_CHECK_WAIT_MS,
  });
  const controller = new Controller({
    name: CONTROLLER_NAME,
    reconciler,
    clock,
    logger,
    workers: options.workers,
  });
  controller.for(informer);
  controller.watches(environments, (secret) => {
    const key = instanceKeyOf(secret);
    return key && inScope(key.split("/")[0]) ? [key] : [];
  });
  manager.add(controller);

  let stop: () => Promise<void> = () => Promise.resolve();
  // Started in this order, stopped the other way round (after the Instance controller has
  // drained, before the caches stop): the Node is ours before any container is touched,
  // and it is marked not ready last.
  manager.addRunnable(
    new NodeHeartbeat({
      nodes: nodeCache,
      identity,
      client,
      docker,
      clock,
      logger,
      lease,
      leaseRenewMs: options.leaseRenewIntervalMs,
      statusRefreshMs: options.statusIntervalMs,
      usage: () => usageOf(informer.list()),
      onLost: (err) => {
        logger.error("node taken over by another agent, stopping", errorFields(err));
        void stop().then(() => deps.onFatal?.(err));
      },
    }),
  );
  const gc = garbageCollectionLoop({
    nodeName: options.nodeName,
    installation,
    unclaimed,
    docker,
    inScope,
    scoped: options.watchNamespace !== "",
    instances: informer,
    hasSynced: () => informer.hasSynced(),
    waitForSync: (signal) => informer.waitForSync(signal),
    stopGraceSeconds: options.stopGraceSeconds,
    logger,
    clock,
    intervalMs: options.resyncIntervalMs,
    onAdopted: enqueue,
  });
  manager.addRunnable(gc);
  manager.addRunnable(
    engineEvents({
      docker,
      node: { nodeName: options.nodeName, installation },
      enqueue: (key) => {
        if (inScope(key.split("/")[0])) enqueue(key);
      },
      onResync: () => {
        // Events may have been missed while the stream was down (an engine restart): look at
        // everything, and what waited on the engine tries again now rather than at its back-off.
        reconciler.engineAnswersAgain();
        for (const key of informer.keys()) enqueue(key);
        void gc.runNow();
      },
      clock,
      logger,
    }),
  );
  manager.addRunnable(imagePresenceEvents({ docker, presence: imagePresence, clock, logger }));
  const diskGc = new DiskGarbageCollector({
    docker,
    installation,
    namespace: options.watchNamespace,
    stateDir: options.stateDir,
    settings: options.imageGc,
    instances: () => informer.list(),
    waitForSync: (signal) => informer.waitForSync(signal),
    diskPath: () => imageDiskPath(options.imageGc.diskPath, options.stateDir, docker),
    clock,
    logger,
  });
  manager.addRunnable({
    name: "disk-gc",
    start: () => Promise.resolve(diskGc.start()),
    stop: () => diskGc.stop(),
  });
  // Pulls and builds in flight are cancelled once the Instance controller has drained.
  manager.addRunnable({
    name: "image-preparations",
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(preparations.cancelAll()),
  });
  // Probes end once the Instance controller has drained, before the rest stops.
  manager.addRunnable({ name: "prober", start: () => Promise.resolve(), stop: async () => prober.stopAll() });

  const abort = new AbortController();
  const done = manager.start(abort.signal);
  try {
    await manager.started;
  } catch (err) {
    await done.catch(() => undefined);
    releaseLock();
    throw err;
  }
  logger.info("agent started", {
    agentId,
    url: options.url,
    address: options.address,
    bindAddress,
    installation,
  });

  let stopping: Promise<void> | undefined;
  stop = (): Promise<void> => {
    stopping ??= (async () => {
      abort.abort();
      await done.catch((err: unknown) => logger.error("agent stopped with an error", errorFields(err)));
      if (recorder instanceof KubeEventRecorder) await recorder.flush();
      releaseLock();
      logger.info("agent stopped", { agentId });
    })();
    return stopping;
  };
  return { agentId, nodeName: options.nodeName, stop };
}
