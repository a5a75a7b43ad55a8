/**
 * The controller role: Definition reconciler, scheduler, node lifecycle, environment delivery
 * and the discovery mirror over one set of shared caches. `startController` runs them; with `leaderElection` they run only while this
 * process holds the Lease (caches stay warm on a standby), without it they run at once (the
 * all-in-one role, tests).
 */
import type { Instance, InstancePhase } from "../api/types.js";
import {
  CONFIGMAPS,
  DEFINITIONS,
  ENDPOINT_SLICES,
  INSTANCES,
  LEASES,
  NODES,
  SECRETS,
  SERVICES,
  type KubeObject,
} from "../kube/resources.js";
import type { Informer } from "../runtime/informer.js";
import { type KubeClient } from "../kube/client.js";
import { realClock, type Clock } from "../runtime/clock.js";
import { KubeEventRecorder, type EventRecorder } from "../runtime/events.js";
import { errorFields, nullLogger, type Logger } from "../runtime/log.js";
import { Manager, type ManagerLeaderElection } from "../runtime/manager.js";
import { PeriodicTask } from "../runtime/runnable.js";
import { instancesByPhase } from "./metrics.js";
import {
  DEFAULT_SETTINGS,
  type ControllerCaches,
  type ControllerContext,
  type ControllerSettings,
} from "./context.js";
import { newDefinitionController } from "./definition/definition-controller.js";
import { SLICE_MANAGED_BY_LABEL, SLICE_MANAGER } from "./discovery/discovery.js";
import type { DiscoveryCaches } from "./discovery/discovery-controller.js";
import { newDiscoveryController } from "./discovery/discovery-watches.js";
import { newEnvironmentController } from "./environment/environment-controller.js";
import { ENVIRONMENT_SECRET_TYPE } from "../environment/delivery.js";
import { DeploymentSalt } from "./definition/deployment-salt.js";
import { isExternalInstance } from "../api/vocabulary.js";
import { newNodeLifecycleController } from "./node-lifecycle.js";
import { ApplyTrace } from "./apply-trace.js";
import { withoutBookkeeping } from "../kube/bookkeeping.js";
import { instanceForCache, withoutData } from "./cache-shape.js";
import { ReferencedContentHashes, metadataOnly } from "./definition/referenced-content.js";
import { SchedulerReconciler, newSchedulerController } from "./scheduler/scheduler-controller.js";

export interface StartControllerOptions extends Partial<ControllerSettings> {
  /** Run the controllers only while holding this Lease. */
  leaderElection?: ManagerLeaderElection;
  /**
   * Only Definitions, Instances, Secrets and ConfigMaps in this namespace are watched (and so
   * reconciled); empty or absent: every namespace. Nodes and node Leases stay as they are.
   */
  watchNamespace?: string;
  /** How often berth_instances is recomputed from the cache. Default 5 s. */
  metricsIntervalMs?: number;
}

export interface ControllerDeps {
  client: KubeClient;
  clock?: Clock;
  logger?: Logger;
  /** Events for `kubectl describe`; a KubeEventRecorder on the client by default. */
  events?: EventRecorder;
}

export interface ControllerHandle {
  /** The manager, for /readyz (hasSynced) and leader status (isLeader). */
  manager: Manager;
  /** Resolves when every cache has its first list. */
  synced(signal?: AbortSignal): Promise<boolean>;
  /** Stops controllers, then informers; resolves when everything is stopped. */
  stop(): Promise<void>;
  /** Settles when the role ends (after stop(), or with the error that ended it). */
  done: Promise<void>;
}

export function startController(options: StartControllerOptions, deps: ControllerDeps): ControllerHandle {
  const clock = deps.clock ?? realClock;
  const logger = (deps.logger ?? nullLogger).child({ role: "controller" });
  const settings = settingsFrom(options);
  const manager = new Manager({
    client: deps.client,
    clock,
    logger,
    ...(options.leaderElection ? { leaderElection: options.leaderElection } : {}),
  });
  const scope = options.watchNamespace ? { namespace: options.watchNamespace } : {};
  const caches = sharedCaches(manager, scope, settings.leaseNamespace);
  // The environments delivered to Nodes, in every berth-node-<node> namespace (whatever the
  // watch scope: the environment controller leaves other tenants' ones alone).
  const delivered = manager.informer(SECRETS, {
    fieldSelector: `type=${ENVIRONMENT_SECRET_TYPE}`,
    transform: withoutData,
  });
  const events =
    deps.events ??
    new KubeEventRecorder({ client: deps.client, component: "berth.dev/controller", clock, logger });
  const deploymentSalt = new DeploymentSalt(deps.client, settings.deploymentSaltNamespace);
  const referencedContent = new ReferencedContentHashes(deps.client, deploymentSalt, caches);
  const trace = new ApplyTrace();
  trace.watch(caches.definitions, caches.instances);
  const context: ControllerContext = {
    client: deps.client,
    caches,
    clock,
    logger,
    events,
    settings,
    referencedContent,
    trace,
  };
  // One scheduler: the Definition controller creates Instances bound where it places them.
  const scheduler = new SchedulerReconciler(context);
  manager.add(newDefinitionController({ ...context, placement: scheduler }));
  manager.add(newSchedulerController(context, scheduler));
  manager.add(newNodeLifecycleController(context));
  manager.add(newEnvironmentController(context, delivered, options.watchNamespace || undefined));
  // The discovery mirror's caches exist only when it runs: with it off, Berth needs no access
  // to Services or EndpointSlices.
  const mirror = settings.discoveryMirror ? mirrorCaches(manager, scope) : undefined;
  if (mirror) manager.add(newDiscoveryController(context, mirror));

  manager.addRunnable(instanceMetrics(context, options.metricsIntervalMs ?? 5000));
  return run(manager, logger, [
    ...Object.values(caches),
    delivered,
    ...(mirror ? Object.values(mirror) : []),
  ]);
}

function settingsFrom(options: StartControllerOptions): ControllerSettings {
  return {
    nodeGracePeriodMs: options.nodeGracePeriodMs ?? DEFAULT_SETTINGS.nodeGracePeriodMs,
    nodeEvictionTimeoutMs: options.nodeEvictionTimeoutMs ?? DEFAULT_SETTINGS.nodeEvictionTimeoutMs,
    leaseNamespace: options.leaseNamespace ?? DEFAULT_SETTINGS.leaseNamespace,
    definitionWorkers: options.definitionWorkers ?? DEFAULT_SETTINGS.definitionWorkers,
    fileRepositories: options.fileRepositories ?? DEFAULT_SETTINGS.fileRepositories,
    deploymentSaltNamespace: options.deploymentSaltNamespace ?? DEFAULT_SETTINGS.deploymentSaltNamespace,
    discoveryMirror: options.discoveryMirror ?? DEFAULT_SETTINGS.discoveryMirror,
  };
}

/** The caches every controller of the role reads, without the API server's bookkeeping (cache-shape.ts). */
function sharedCaches(
  manager: Manager,
  scope: { namespace?: string },
  leaseNamespace: string,
): ControllerCaches {
  return {
    definitions: manager.informer(DEFINITIONS, { ...scope, transform: withoutBookkeeping }),
    instances: manager.informer(INSTANCES, { ...scope, transform: instanceForCache }),
    nodes: manager.informer(NODES, { transform: withoutBookkeeping }),
    secrets: manager.informer(SECRETS, { ...scope, transform: metadataOnly }),
    configMaps: manager.informer(CONFIGMAPS, { ...scope, transform: metadataOnly }),
    leases: manager.informer(LEASES, { namespace: leaseNamespace, transform: withoutBookkeeping }),
  };
}

function mirrorCaches(manager: Manager, scope: { namespace?: string }): DiscoveryCaches {
  return {
    services: manager.informer(SERVICES, scope),
    endpointSlices: manager.informer(ENDPOINT_SLICES, {
      ...scope,
      labelSelector: `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGER}`,
    }),
  };
}

/** Starts the Manager; the handle waits on the caches and stops it. */
function run(
  manager: Manager,
  logger: Logger,
  cacheList: ReadonlyArray<Informer<KubeObject>>,
): ControllerHandle {
  const abort = new AbortController();
  const done = manager.start(abort.signal).catch((err: unknown) => {
    logger.error("controller role stopped with an error", errorFields(err));
    throw err;
  });
  return {
    manager,
    synced: async (signal) => {
      for (const informer of cacheList) if (!(await informer.waitForSync(signal))) return false;
      return true;
    },
    stop: async () => {
      abort.abort();
      await done;
    },
    done,
  };
}

const PHASES: readonly InstancePhase[] = [
  "Pending",
  "Scheduled",
  "Pulling",
  "Building",
  "Starting",
  "Running",
  "Failed",
  "Terminating",
];

/** Recomputes berth_instances{namespace,phase} from the cache every intervalMs, leader or not. */
function instanceMetrics(context: ControllerContext, intervalMs: number): PeriodicTask {
  const seen = new Set<string>();
  return new PeriodicTask({ name: "instance-metrics", clock: context.clock, intervalMs }, async () => {
    if (!context.caches.instances.hasSynced()) return;
    const counts = countByPhase(context.caches.instances.list());
    for (const namespace of new Set([...seen, ...counts.keys()])) {
      seen.add(namespace);
      for (const phase of PHASES) {
        instancesByPhase.set({ namespace, phase }, counts.get(namespace)?.get(phase) ?? 0);
      }
    }
  });
}

export function countByPhase(instances: readonly Instance[]): Map<string, Map<InstancePhase, number>> {
  const counts = new Map<string, Map<InstancePhase, number>>();
  for (const instance of instances) {
    // berth_instances counts what Berth runs; the registry counts external Instances.
    if (isExternalInstance(instance)) continue;
    const namespace = instance.metadata.namespace ?? "default";
    const phase: InstancePhase =
      instance.metadata.deletionTimestamp !== undefined
        ? "Terminating"
        : (instance.status?.phase ?? "Pending");
    const byPhase = counts.get(namespace) ?? new Map<InstancePhase, number>();
    byPhase.set(phase, (byPhase.get(phase) ?? 0) + 1);
    counts.set(namespace, byPhase);
  }
  return counts;
}
