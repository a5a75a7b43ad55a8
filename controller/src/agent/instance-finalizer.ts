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

export class InstanceFinalizer {
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
    if (!hasFinalizer(instance, INSTANCE_FINALIZER)) {
      // Someone else (the controller, evicting) let it go; our containers follow via GC.
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
      // A cache a step behind shows an Instance this agent already let go: it is gone, as wanted.
      if (!isNotFound(err)) throw err;
    }
    context.log.info("instance finalized", { containers: containers.length });
  }
}
