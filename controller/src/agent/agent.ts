/**
 * The agent (Berth's kubelet): registers and heartbeats its Node, reconciles the
 * Instances bound to it into containers, probes them, and collects containers nobody
 * wants. startAgent wires the parts; the CLI runs it alone or next to the controller.
 */
import type { Instance, Node } from "../api/types.js";
import { LABELS } from "../api/types.js";
import { DockerEngine } from "../docker/engine.js";
import { readEngineTls } from "../docker/tls.js";
import type { KubeClient } from "../kube/client.js";
import type { Secret } from "../kube/resources.js";
import { INSTANCES, NODES, SECRETS } from "../kube/resources.js";
import { ENVIRONMENT_SECRET_TYPE, instanceKeyOf, nodeNamespace } from "../environment/index.js";
import type { Clock, TimerHandle } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";
import { Controller } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import { KubeEventRecorder } from "../runtime/events.js";
import { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import type { AgentOptionsInput } from "./config.js";
import { resolveAgentOptions } from "./config.js";
import { ensureSourceImage } from "../source/index.js";
import { ContainerConfigError, parseCpuQuantity, parseMemoryQuantity, runSourceOf } from "./containerspec.js";
import type { AgentDocker } from "./docker-port.js";
import { collectContainers } from "./gc.js";
import { DiskGarbageCollector, imageDiskPath } from "./disk-gc.js";
import { ImagePreparations } from "./image-preparation.js";
import type { NodeUsage } from "./heartbeat.js";
import { NodeHeartbeat } from "./heartbeat.js";
import { InstanceReconciler } from "./instance-reconciler.js";
import { PrivateImages } from "./private-images.js";
import { Prober, runProbe } from "./prober.js";
import type { NodeIdentity } from "./registration.js";
import { registerNode } from "./registration.js";
import { resolveBindAddress } from "./bind-address.js";
import { agentIdentity, lockAgentState } from "./identity.js";
import { UnclaimedContainerLog, ownershipOf, resolveInstallation } from "./installation.js";

export interface AgentDeps {
  client: KubeClient;
  /** The engine at options.url; one is made from the URL when absent. */
  docker?: AgentDocker &
    Pick<
      DockerEngine,
      "events" | "buildImage" | "inspectImage" | "containerLogs" | "listImages" | "removeImage" | "info"
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
  try {
    installation = await resolveInstallation(client, options);
    bindAddress = await resolveBindAddress(options, logger);
    // Read under the lock: only this process writes the record in the state directory.
    privateImages = new PrivateImages(options.stateDir);
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
  const informer = new Informer<Instance>(client, INSTANCES, {
    ...(options.watchNamespace ? { namespace: options.watchNamespace } : {}),
    fieldSelector: `spec.nodeName=${options.nodeName}`,
    clock,
    logger,
  });
  // The environments the controller delivers for this Node's Instances: the only Secrets
  // an agent can read.
  const environments = new Informer<Secret>(client, SECRETS, {
    namespace: nodeNamespace(options.nodeName),
    fieldSelector: `type=${ENVIRONMENT_SECRET_TYPE}`,
    clock,
    logger,
  });
  const recorder =
    deps.events ??
    new KubeEventRecorder({
      client,
      component: "berth.dev/agent",
      instance: options.nodeName,
      clock,
      logger,
    });
  // Nodes are watched rather than read on every beat: this Node's readiness (which the
  // controller may flip to Unknown), the count of the others (for Misconfigured), and
  // whether an admin allows privileged host ports here.
  const nodeCache = new Informer<Node>(client, NODES, { clock, logger });
  nodeCache.start();
  const privilegedPortsAllowed = async (): Promise<boolean> => {
    const own =
      nodeCache.get(undefined, options.nodeName) ?? (await client.get(NODES, { name: options.nodeName }));
    return own.spec.allowPrivilegedPorts === true;
  };
  const enqueue = (key: string): void => controller.enqueue(key);
  const prober = new Prober({
    clock,
    logger,
    probe: (target) =>
      runProbe(
        target,
        async (id, command, timeoutMs) => (await docker.exec(id, command, { timeoutMs })).exitCode,
      ),
    onVerdictChange: enqueue,
  });
  // Pulls and builds run apart from the reconcile workers; their end wakes the Instance.
  const preparations = new ImagePreparations({ limit: options.imageWork, onSettled: enqueue });
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
    preparations,
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

  const abort = new AbortController();
  informer.start();
  environments.start();
  const controllerDone = controller.start(abort.signal);

  // Garbage collection: once the cache is complete, then on every resync.
  let gcTimer: TimerHandle | undefined;
  let gcRun: Promise<void> = Promise.resolve();
  const runGc = (): Promise<void> => {
    gcRun = gcRun.then(async () => {
      if (abort.signal.aborted) return;
      try {
        const result = await collectContainers(
          {
            nodeName: options.nodeName,
            installation,
            unclaimed,
            docker: options.watchNamespace ? scopedDocker(docker, inScope) : docker,
            instances: informer,
            hasSynced: () => informer.hasSynced(),
            stopGraceSeconds: options.stopGraceSeconds,
            logger,
          },
          abort.signal,
        );
        for (const key of result.adopted) enqueue(key);
      } catch (err) {
        logger.warn("container garbage collection failed", errorFields(err));
      }
    });
    return gcRun;
  };
  const scheduleGc = (): void => {
    if (abort.signal.aborted) return;
    gcTimer = clock.setTimeout(() => {
      void runGc().finally(scheduleGc);
    }, options.resyncIntervalMs);
  };
  const firstGc = informer.waitForSync(abort.signal).then(async (synced) => {
    if (synced) await runGc();
    scheduleGc();
  });
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
  diskGc.start();

  const enqueueInScope = (key: string): void => {
    if (inScope(key.split("/")[0])) enqueue(key);
  };
  const engineEvents = watchEngineEvents(
    docker,
    { nodeName: options.nodeName, installation },
    enqueueInScope,
    abort.signal,
    logger,
    () => {
      // Events may have been missed while the stream was down (an engine restart): look at
      // everything, and what waited on the engine tries again now rather than at its back-off.
      reconciler.engineAnswersAgain();
      for (const key of informer.keys()) enqueue(key);
      void runGc();
    },
  );

  const heartbeat = new NodeHeartbeat({
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
  });
  try {
    await heartbeat.start();
  } catch (err) {
    abort.abort();
    await Promise.allSettled([
      controller.stop({ immediate: true }),
      informer.stop(),
      environments.stop(),
      nodeCache.stop(),
      engineEvents,
      firstGc,
      diskGc.stop(),
    ]);
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
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      abort.abort();
      if (gcTimer) clock.clearTimeout(gcTimer);
      preparations.cancelAll();
      await controller.stop();
      await controllerDone;
      prober.stopAll();
      await Promise.allSettled([
        informer.stop(),
        environments.stop(),
        engineEvents,
        firstGc,
        gcRun,
        diskGc.stop(),
      ]);
      await heartbeat.stop();
      await nodeCache.stop();
      if (recorder instanceof KubeEventRecorder) await recorder.flush();
      releaseLock();
      logger.info("agent stopped", { agentId });
    })();
    return stopping;
  };
  return { agentId, nodeName: options.nodeName, stop };
}

/**
 * Enqueues the Instance of every container event on this node of this installation (or of
 * none: unclaimed containers may be adopted); restarts the stream until aborted.
 */
async function watchEngineEvents(
  docker: Pick<DockerEngine, "events">,
  node: { nodeName: string; installation: string },
  enqueue: (key: string) => void,
  signal: AbortSignal,
  logger: Logger,
  onResync: () => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      for await (const event of docker.events({ signal })) {
        if (event.type === "stream-restarted") {
          logger.info("docker event stream reconnected", { reason: event.error.reason });
          onResync();
          continue;
        }
        const namespace = event.labels[LABELS.namespace];
        const name = event.labels[LABELS.instance];
        const ours =
          event.labels[LABELS.node] === node.nodeName &&
          ownershipOf(event.labels, node.installation) !== "foreign";
        if (ours && namespace && name) enqueue(`${namespace}/${name}`);
      }
    } catch (err) {
      if (signal.aborted) return;
      logger.warn("docker event stream failed", errorFields(err));
    }
    if (!signal.aborted) {
      // The stream ended without being asked to: whatever it missed, a resync catches.
      onResync();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** The engine as garbage collection sees it: only containers of in-scope namespaces are listed. */
function scopedDocker(docker: AgentDocker, inScope: (namespace: string | undefined) => boolean): AgentDocker {
  return {
    url: docker.url,
    ping: (...args) => docker.ping(...args),
    version: (...args) => docker.version(...args),
    imageExists: (...args) => docker.imageExists(...args),
    inspectImage: (...args) => docker.inspectImage(...args),
    pullImage: (...args) => docker.pullImage(...args),
    inspectDistribution: (...args) => docker.inspectDistribution(...args),
    createContainer: (...args) => docker.createContainer(...args),
    startContainer: (...args) => docker.startContainer(...args),
    inspectContainer: (...args) => docker.inspectContainer(...args),
    stopContainer: (...args) => docker.stopContainer(...args),
    removeContainer: (...args) => docker.removeContainer(...args),
    exec: (...args) => docker.exec(...args),
    listContainers: async (...args) =>
      (await docker.listContainers(...args)).filter((container) =>
        inScope(container.labels[LABELS.namespace]),
      ),
  };
}

/** What the Instances bound here claim: counted for the Node's allocatable. */
export function usageOf(instances: readonly Instance[]): NodeUsage {
  const usage: NodeUsage = { instances: 0, memoryBytes: 0, nanoCpus: 0 };
  for (const instance of instances) {
    if (instance.metadata.deletionTimestamp) continue;
    usage.instances++;
    // An external Instance is never bound to a Node, so it never reaches this list.
    const template = instance.spec.template;
    if (!template) continue;
    const resources = template.resources;
    try {
      if (resources?.memory) usage.memoryBytes += parseMemoryQuantity(resources.memory);
      if (resources?.cpus) usage.nanoCpus += parseCpuQuantity(resources.cpus);
      runSourceOf(template);
    } catch (err) {
      // An Instance with an invalid template claims nothing: its own status says why.
      if (!(err instanceof ContainerConfigError)) throw err;
    }
  }
  return usage;
}
