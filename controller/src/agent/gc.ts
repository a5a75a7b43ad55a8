/**
 * Garbage collection of this node's containers. A container with Berth's labels for this
 * node and this installation whose Instance no longer exists (or is bound elsewhere) is
 * stopped and removed; one whose Instance exists is left to that Instance's reconcile,
 * which adopts it. Containers without Berth's labels, labelled for another node, or for
 * another installation are never looked at. One labelled for no installation (made before
 * the label existed) is adopted when an Instance here wants it, and otherwise left and
 * logged: it may be another installation's (see installation.ts).
 */
import { LABELS } from "../api/vocabulary.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { PeriodicTask } from "../runtime/runnable.js";
import { nodeSelector } from "./container-request.js";
import type { AgentDocker } from "./docker-port.js";
import type { InstanceSource } from "./instance-reconciler.js";
import type { UnclaimedContainerLog } from "./installation.js";
import { ownershipOf } from "./installation.js";

export interface GarbageCollectorOptions {
  nodeName: string;
  /** This agent's installation: only its containers are collected. */
  installation: string;
  /** Where unclaimed containers nobody here wants are reported. */
  unclaimed: UnclaimedContainerLog;
  docker: AgentDocker;
  instances: InstanceSource;
  /** Whether the instance cache is complete; no container is judged before it is. */
  hasSynced: () => boolean;
  stopGraceSeconds: number;
  logger: Logger;
}

export interface CollectResult {
  /** Keys (namespace/name) of Instances that have containers here: worth a reconcile. */
  adopted: string[];
  /** Ids of the containers removed. */
  removed: string[];
}

/** One pass: removes orphans, reports the Instance keys that own containers. */
export async function collectContainers(
  options: GarbageCollectorOptions,
  signal?: AbortSignal,
): Promise<CollectResult> {
  const result: CollectResult = { adopted: [], removed: [] };
  if (!options.hasSynced()) return result;
  const { docker, nodeName, logger } = options;
  const containers = await docker.listContainers(nodeSelector(nodeName), signal ? { signal } : undefined);
  for (const container of containers) {
    const ownership = ownershipOf(container.labels, options.installation);
    if (ownership === "foreign") continue;
    const namespace = container.labels[LABELS.namespace];
    const name = container.labels[LABELS.instance];
    // A container labelled for this node but missing its Instance labels is Berth's and
    // wanted by nobody: it is an orphan as much as one whose Instance is gone.
    const instance = namespace && name ? options.instances.get(namespace, name) : undefined;
    if (instance && instance.spec.nodeName === nodeName) {
      result.adopted.push(`${namespace}/${name}`);
      continue;
    }
    if (ownership === "unclaimed") {
      options.unclaimed.report(container);
      continue;
    }
    try {
      await docker.stopContainer(container.id, options.stopGraceSeconds, signal ? { signal } : undefined);
      await docker.removeContainer(container.id, { force: true, ...(signal ? { signal } : {}) });
      result.removed.push(container.id);
      logger.info("removed orphan container", { containerId: container.id, namespace, name });
    } catch (err) {
      // One stuck container must not keep the others from being collected; the next pass retries.
      logger.warn("could not remove orphan container", { containerId: container.id, ...errorFields(err) });
    }
  }
  return result;
}

export interface GarbageCollectionLoopOptions extends Omit<GarbageCollectorOptions, "docker"> {
  docker: AgentDocker;
  /** Only containers of these namespaces are looked at (an agent with a namespace scope). */
  inScope: (namespace: string | undefined) => boolean;
  scoped: boolean;
  clock: Clock;
  intervalMs: number;
  /** Resolves true once the Instance cache is complete; the first pass waits for it. */
  waitForSync: (signal: AbortSignal) => Promise<boolean>;
  /** Called with the Instances that own containers here, worth a reconcile. */
  onAdopted: (key: string) => void;
}

/** Garbage collection as a runnable: once the cache is complete, then every intervalMs. */
export function garbageCollectionLoop(options: GarbageCollectionLoopOptions): PeriodicTask {
  const { clock, intervalMs, waitForSync, onAdopted, inScope, scoped, ...collector } = options;
  const docker = scoped ? scopedDocker(options.docker, inScope) : options.docker;
  return new PeriodicTask(
    { name: "container-gc", clock, intervalMs, ready: waitForSync, logger: options.logger },
    async (signal) => {
      try {
        const result = await collectContainers({ ...collector, docker }, signal);
        for (const key of result.adopted) onAdopted(key);
      } catch (err) {
        options.logger.warn("container garbage collection failed", errorFields(err));
      }
    },
  );
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
