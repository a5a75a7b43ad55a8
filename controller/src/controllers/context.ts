/**
 * What every controller of the controller role shares: the one Kubernetes client, the
 * informer caches, the clock, the logger and the event recorder, plus the settings.
 */
import type { Definition, Instance, Node, RepositorySource } from "../api/types.js";
import type { ConfigMap, KubeClient, Lease, Secret } from "../kube/index.js";
import type { FileRepositoryPolicy } from "../source/index.js";
import type { Clock } from "../runtime/clock.js";
import { Controller, type Reconciler } from "../runtime/controller.js";
import type { EventRecorder } from "../runtime/events.js";
import type { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import type { DeploymentSalt } from "./deployment-salt.js";

export interface ControllerCaches {
  definitions: Informer<Definition>;
  instances: Informer<Instance>;
  nodes: Informer<Node>;
  secrets: Informer<Secret>;
  configMaps: Informer<ConfigMap>;
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
}

/** Defaults; docs/controller.md explains the liveness timings. */
export const DEFAULT_SETTINGS: ControllerSettings = {
  nodeGracePeriodMs: 40_000,
  nodeEvictionTimeoutMs: 60_000,
  leaseNamespace: "berth-system",
  definitionWorkers: 4,
  fileRepositories: { allowed: [], refused: [] },
  deploymentSaltNamespace: "berth-system",
};

export interface ControllerContext {
  client: KubeClient;
  caches: ControllerCaches;
  clock: Clock;
  logger: Logger;
  events: EventRecorder;
  settings: ControllerSettings;
  /** Keys the hashes of referenced Secrets and ConfigMaps in deploymentIds. */
  deploymentSalt: DeploymentSalt;
  /** Resolves a repository's ref to a commit; git ls-remote when absent (tests put a stand-in here). */
  resolveCommit?: (repository: RepositorySource) => Promise<string>;
}

/** The Lease an agent renews for its Node. */
export const NODE_LEASE_PREFIX = "berth-node-";

export function nodeLeaseName(node: string): string {
  return `${NODE_LEASE_PREFIX}${node}`;
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
