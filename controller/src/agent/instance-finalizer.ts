/**
 * The containers of one Instance on this node, and its deletion: the container is stopped
 * and removed before the Instance's finalizer is, so an Instance never goes while its
 * container still runs.
 */
import type { Instance } from "../api/types.js";
import { INSTANCE_FINALIZER } from "../api/vocabulary.js";
import type { ContainerSummary } from "../docker/types.js";
import type { KubeClient } from "../kube/client.js";
import { isNotFound } from "../kube/errors.js";
import { INSTANCES } from "../kube/resources.js";
import type { ReconcileContext } from "../runtime/controller.js";
import { hasFinalizer, removeFinalizer } from "../runtime/finalizers.js";
import type { NodeAddressing } from "./container-request.js";
import { instanceSelector } from "./container-request.js";
import type { AgentDocker } from "./docker-port.js";
import type { ImagePreparations } from "./image-preparation.js";
import { terminating } from "./instance-observations.js";
import type { InstanceStatusWriter } from "./instance-status-writer.js";
import { ownershipOf } from "./installation.js";
import { stopProbeLoops } from "./liveness.js";
import type { Prober } from "./prober.js";

type ContainerDocker = Pick<AgentDocker, "listContainers" | "stopContainer" | "removeContainer">;

/**
 * The Instance's containers on this node: its own and unclaimed ones from before the
 * installation label (adopted); never another installation's, which may run an Instance
 * of the same name here.
 */
export async function instanceContainers(
  docker: Pick<AgentDocker, "listContainers">,
  node: NodeAddressing,
  namespace: string,
  name: string,
  signal: AbortSignal,
): Promise<ContainerSummary[]> {
  const containers = await docker.listContainers(instanceSelector(namespace, name, node.nodeName), {
    signal,
  });
  return containers.filter((container) => ownershipOf(container.labels, node.installation) !== "foreign");
}

/** Stops and removes each container, one after another. */
export async function removeContainers(
  docker: ContainerDocker,
  containers: ContainerSummary[],
  stopGraceSeconds: number,
  context: ReconcileContext,
): Promise<void> {
  for (const container of containers) {
    await docker.stopContainer(container.id, stopGraceSeconds, { signal: context.signal });
    await docker.removeContainer(container.id, { force: true, signal: context.signal });
    context.log.info("removed container", { containerId: container.id });
  }
}

export interface InstanceFinalizerOptions {
  client: KubeClient;
  docker: ContainerDocker;
  prober: Pick<Prober, "stop">;
  preparations: ImagePreparations;
  status: InstanceStatusWriter;
  stopGraceSeconds: number;
}

/** Instances let go whose deletion the cache has not shown yet; a missed delete event leaves few. */
const RELEASED_KEPT = 10_000;

export class InstanceFinalizer {
  /**
   * The uid of each Instance this agent let go (its finalizer removed, the API server then
   * deleting it), by key, until the cache no longer shows it. The finalizing pass is always
   * followed by another: the engine's die and destroy events of the container it removes
   * wake the Instance while it runs. When the patch's answer comes before the cache's
   * delete event, that next pass still reads the Instance with the finalizer on: from the
   * cache it would send the patch again, only for the API server to refuse it as not found.
   */
  private readonly released = new Map<string, string>();

  constructor(private readonly options: InstanceFinalizerOptions) {}

  /** Deletion: stop and remove the containers, then let the Instance go. */
  async finalize(
    instance: Instance,
    containers: ContainerSummary[],
    context: ReconcileContext,
  ): Promise<void> {
    const key = `${instance.metadata.namespace ?? ""}/${instance.metadata.name ?? ""}`;
    const { docker, stopGraceSeconds } = this.options;
    stopProbeLoops(this.options.prober, key);
    // A pull or build for it is cancelled at once, not left to run for an Instance that goes.
    this.options.preparations.cancel(key);
    const uid = instance.metadata.uid;
    if (!hasFinalizer(instance, INSTANCE_FINALIZER) || (uid && this.released.get(key) === uid)) {
      // Someone else (the controller, evicting) let it go, or this agent did already and the
      // cache is behind; any container of it left is removed all the same.
      await removeContainers(docker, containers, stopGraceSeconds, context);
      return;
    }
    let latest = instance;
    if (instance.status?.phase !== "Terminating") {
      latest = await this.options.status.write(instance, terminating(instance, containers.length > 0));
    }
    await removeContainers(docker, containers, stopGraceSeconds, context);
    try {
      await removeFinalizer(this.options.client, INSTANCES, latest, INSTANCE_FINALIZER);
    } catch (err) {
      // Gone already (let go by the node lifecycle, or by this agent before it restarted): as wanted.
      if (!isNotFound(err)) throw err;
    }
    if (uid) this.remember(key, uid);
    context.log.info("instance finalized", { containers: containers.length });
  }

  /** The cache shows no Instance of this key any more (or one on another node): nothing to remember. */
  forget(key: string): void {
    this.released.delete(key);
  }

  private remember(key: string, uid: string): void {
    this.released.delete(key);
    this.released.set(key, uid);
    if (this.released.size > RELEASED_KEPT) {
      const oldest = this.released.keys().next().value;
      if (oldest !== undefined) this.released.delete(oldest);
    }
  }
}
