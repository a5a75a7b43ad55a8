/**
 * What every controller of the controller role shares: the one Kubernetes client, the
 * informer caches, the clock, the logger and the event recorder, plus the settings.
 */
import type { Definition, Instance, Node, RepositorySource } from "../api/types.js";
import type { KubeObject, Lease } from "../kube/resources.js";
import type { KubeClient } from "../kube/client.js";
import type { FileRepositoryPolicy } from "../source/file-repositories.js";
import type { Clock } from "../runtime/clock.js";
import { Controller, type Reconciler } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import type { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import type { ReferencedContentHashes } from "./definition/referenced-content.js";
import type { ApplyTrace } from "./apply-trace.js";

export interface ControllerCaches {
  definitions: Informer<Definition>;
  instances: Informer<Instance>;
  nodes: Informer<Node>;
  /** Metadata only (referenced-content.ts): the controller never keeps a Secret's data. */
  secrets: Informer<KubeObject>;
  /** Metadata only, like secrets. */
  configMaps: Informer<KubeObject>;
  /** Leases in the heartbeat namespace (berth-node-<node>). */
  leases: Informer<Lease>;
}

export interface ControllerSettings {
  /** A Node whose heartbeat is older than this becomes Ready=Unknown. */
  nodeGracePeriodMs: number;
  /** Instances on a Node that stayed not Ready this long are replaced on other Nodes. */
  nodeEvictionTimeoutMs: number;
  /** Namespace of the agents' heartbeat Leases. */
  leaseNamespace: string;
  /** Definitions reconciled at once. */
  definitionWorkers: number;
  /** Where repository URLs of file:// may point (and where never). */
  fileRepositories: FileRepositoryPolicy;
  /** Namespace of the deployment salt Secret (berth-deployment-salt): the controller's own. */
  deploymentSaltNamespace: string;
  /** Mirror every service into a headless Service and EndpointSlices (docs/discovery.md). */
  discoveryMirror: boolean;
}

/** Defaults; docs/controller.md explains the liveness timings. */
export const DEFAULT_SETTINGS: ControllerSettings = {
  nodeGracePeriodMs: 40_000,
  nodeEvictionTimeoutMs: 60_000,
  leaseNamespace: "berth-system",
  definitionWorkers: 16,
  fileRepositories: { allowed: [], refused: [] },
  deploymentSaltNamespace: "berth-system",
  discoveryMirror: true,
};

/**
 * The scheduler's placement of a new Instance before its create request, so the Definition
 * controller creates it bound (scheduler/scheduler-controller.ts): the Node is chosen and
 * assumed taken in one step, as a binding of the scheduler's own is, so nothing is
 * double-booked; one no Node fits now is created unbound and left to the scheduler.
 */
export interface PlacementAtCreate {
  /** The Instance bound to the Node chosen for it, or undefined when none fits now. */
  bindAtCreate(instance: Instance): Instance | undefined;
  /** The bound Instance was created. */
  created(instance: Instance): void;
  /** Its create failed (or found the name taken): the Node's room is free again. */
  notCreated(instance: Instance): void;
}

export interface ControllerContext {
  client: KubeClient;
  caches: ControllerCaches;
  clock: Clock;
  logger: Logger;
  events: EventRecorder;
  settings: ControllerSettings;
  /** Salted content hashes of referenced Secrets and ConfigMaps, for deploymentIds. */
  referencedContent: ReferencedContentHashes;
  /** The controller's part of the apply-to-ready trace (berth_controller_apply_stage_seconds). */
  trace: ApplyTrace;
  /** Places new Instances at their creation; absent: every Instance is created unbound. */
  placement?: PlacementAtCreate;
  /** Resolves a repository's ref to a commit; git ls-remote when absent (tests put a stand-in here). */
  resolveCommit?: (repository: RepositorySource) => Promise<string>;
}

/** A runtime Controller for one of the controller role's reconcilers, on the role's clock and logger. */
export function controllerFor(
  context: ControllerContext,
  name: string,
  reconciler: Reconciler,
  workers: number,
): Controller {
  return new Controller({ name, reconciler, clock: context.clock, logger: context.logger, workers });
}
