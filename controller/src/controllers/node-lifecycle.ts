/**
 * Node liveness. An agent renews the Lease berth-node-<node> every ~10 s and patches its
 * Node's status now and then; the freshest of the two is the node's heartbeat.
 *
 * - Heartbeat older than the grace period: the Node's Ready condition becomes Unknown
 *   (reason NodeStatusUnknown). Its Instances stop counting as ready at once (addresses
 *   drop them) and the scheduler places nothing new there.
 * - Not Ready for the eviction timeout on top: its Instances are deleted and their
 *   berth.dev/container finalizer is removed here, since no agent is there to do it; the
 *   Definition controller creates replacements, which the scheduler puts on other Nodes.
 *   When the node comes back, its agent removes the containers no Instance wants.
 * - When no Node at all is Ready, nothing is evicted: the fault is most likely between the
 *   nodes and the API server (or in the controller), replacements would have nowhere to go,
 *   and evicting would turn a reporting outage into a real one.
 * - Instances bound to a Node object that no longer exists are evicted at once, unless the
 *   node's Lease is still live: its agent runs and registers the Node again (same name and
 *   identity) within a heartbeat, as a kubelet does, and its Instances are left alone.
 */
import { CONDITIONS, INSTANCE_FINALIZER } from "../api/vocabulary.js";
import { type Condition, type Instance, type Node, type NodeStatus } from "../api/types.js";
import { INSTANCES, NODES, type Lease } from "../kube/resources.js";
import { isNotFound } from "../kube/errors.js";
import type { Controller } from "../runtime/controller.js";
import { type ReconcileContext, type Reconciler, type Request, type Result } from "../runtime/controller.js";
import { removeFinalizer } from "../runtime/finalizers.js";
import { nodeReady } from "./metrics.js";
import { getCondition, setCondition, StatusWriter } from "../runtime/conditions.js";
import { controllerFor, type ControllerContext, type ControllerSettings } from "./context.js";
import { deleteInstances } from "./definition/deletion.js";
import { instancesOnNode } from "./indexes.js";
import { isExternalInstance, nodeIsReady, nodeLeaseName, nodeOfLease } from "../api/vocabulary.js";

export const NODE_LIFECYCLE_CONTROLLER = "node-lifecycle";

export interface NodeAssessment {
  /** Milliseconds since the epoch of the freshest heartbeat; undefined when there was none. */
  heartbeatAt?: number;
  /** The heartbeat is older than the grace period. */
  stale: boolean;
  /** Since when the Node counts as not Ready (stale since the grace ran out, or reported so). */
  notReadySince?: number;
  /** The Node's Instances are to be replaced now. */
  evict: boolean;
  /** When something will change if nothing else happens: for a timed re-check. */
  nextCheckAt?: number;
}

type Timings = Pick<ControllerSettings, "nodeGracePeriodMs" | "nodeEvictionTimeoutMs">;

/** Pure: what the heartbeat and the Ready condition say about a Node at `now`. */
export function assessNode(
  node: Node,
  lease: Lease | undefined,
  now: number,
  timings: Timings,
): NodeAssessment {
  const times = [lease?.spec?.renewTime, node.status?.lastHeartbeat, node.metadata.creationTimestamp]
    .map((t) => (t ? Date.parse(t) : NaN))
    .filter((t) => Number.isFinite(t));
  const heartbeatAt = times.length > 0 ? Math.max(...times) : undefined;
  const staleAt = heartbeatAt === undefined ? now : heartbeatAt + timings.nodeGracePeriodMs;
  const stale = now >= staleAt;
  const ready = getCondition(node.status?.conditions, CONDITIONS.ready);

  let notReadySince: number | undefined;
  if (stale) notReadySince = staleAt;
  else if (ready && ready.status !== "True") notReadySince = Date.parse(ready.lastTransitionTime) || now;

  const assessment: NodeAssessment = { stale, evict: false };
  if (heartbeatAt !== undefined) assessment.heartbeatAt = heartbeatAt;
  if (notReadySince !== undefined) {
    assessment.notReadySince = notReadySince;
    const evictAt = notReadySince + timings.nodeEvictionTimeoutMs;
    assessment.evict = now >= evictAt;
    if (!assessment.evict) assessment.nextCheckAt = evictAt;
  } else {
    assessment.nextCheckAt = staleAt;
  }
  return assessment;
}

/** Pure: until when a node Lease says its agent is alive; undefined when released or never held. */
export function leaseLiveUntil(lease: Lease | undefined): number | undefined {
  const renewed = Date.parse(lease?.spec?.renewTime ?? "");
  if (!lease?.spec?.holderIdentity || !Number.isFinite(renewed)) return undefined;
  return renewed + (lease.spec.leaseDurationSeconds ?? 0) * 1000;
}

export class NodeLifecycleReconciler implements Reconciler {
  private readonly statusWriter: StatusWriter;

  constructor(private readonly context: ControllerContext) {
    this.statusWriter = new StatusWriter(context.client);
  }

  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | void> {
    const { caches, clock, settings } = this.context;
    const bound = instancesOnNode(caches.instances, request.name).filter((i) => !isExternalInstance(i));
    const node = caches.nodes.get(undefined, request.name);
    const now = clock.now();
    const lease = caches.leases.get(settings.leaseNamespace, nodeLeaseName(request.name));
    if (!node) {
      nodeReady.remove({ node: request.name });
      if (bound.length === 0) return;
      const liveUntil = leaseLiveUntil(lease);
      if (liveUntil !== undefined && liveUntil > now) {
        // Its agent still runs and registers the Node again within a heartbeat; the
        // Instances keep running meanwhile. Looked at again once the Lease would lapse.
        ctx.log.info("node deleted while its agent runs, waiting for it to register again", {
          instances: bound.length,
        });
        return { requeueAfterMs: Math.max(1000, liveUntil - now + 500) };
      }
      ctx.log.info("evicting instances of a deleted node", { instances: bound.length });
      await this.evict(bound, `Node ${request.name} no longer exists.`);
      return;
    }

    const assessment = assessNode(node, lease, now, settings);
    if (assessment.stale) await this.markUnknown(node, assessment, now);
    nodeReady.set({ node: request.name }, !assessment.stale && nodeIsReady(node) ? 1 : 0);

    if (assessment.evict && bound.length > 0) {
      if (
        !caches.nodes
          .list()
          .some((n) => n.metadata.name !== request.name && nodeIsReady(n) && !this.isStale(n, now))
      ) {
        ctx.log.warn("no node is ready, not evicting", { instances: bound.length });
        return { requeueAfterMs: settings.nodeGracePeriodMs };
      }
      const age =
        assessment.heartbeatAt === undefined
          ? "ever"
          : `${Math.round((now - assessment.heartbeatAt) / 1000)} s`;
      ctx.log.info("evicting instances of a lost node", { instances: bound.length });
      this.context.events.event(
        node,
        "Warning",
        "EvictingInstances",
        `Not Ready for longer than the eviction timeout (last heartbeat ${age} ago); replacing its ${bound.length} Instance(s) on other nodes.`,
      );
      await this.evict(bound, `Node ${request.name} was not Ready for longer than the eviction timeout.`);
      return { requeueAfterMs: settings.nodeGracePeriodMs };
    }
    if (assessment.nextCheckAt !== undefined)
      return { requeueAfterMs: Math.max(1000, assessment.nextCheckAt - now + 500) };
    return undefined;
  }

  private isStale(node: Node, now: number): boolean {
    const lease = this.context.caches.leases.get(
      this.context.settings.leaseNamespace,
      nodeLeaseName(node.metadata.name ?? ""),
    );
    return assessNode(node, lease, now, this.context.settings).stale;
  }

  private async markUnknown(node: Node, assessment: NodeAssessment, now: number): Promise<void> {
    const previous = getCondition(node.status?.conditions, CONDITIONS.ready);
    if (previous?.status === "Unknown" && previous.reason === "NodeStatusUnknown") return;
    const since =
      assessment.heartbeatAt === undefined ? "never" : new Date(assessment.heartbeatAt).toISOString();
    const condition: Omit<Condition, "lastTransitionTime"> = {
      type: CONDITIONS.ready,
      status: "Unknown",
      reason: "NodeStatusUnknown",
      message: `The agent stopped reporting (last heartbeat: ${since}). Check that berth agent runs on this machine and reaches the API server.`,
    };
    const status: NodeStatus = {
      ...node.status,
      ready: "Unknown",
      conditions: setCondition(node.status?.conditions, condition, now),
    };
    await this.statusWriter.update(NODES, node, status, { observedGeneration: false });
    this.context.events.event(node, "Warning", "NodeNotReady", condition.message);
  }

  /** Deletes the Instances and drops their container finalizer: no agent will. */
  private async evict(instances: readonly Instance[], why: string): Promise<void> {
    await deleteInstances(
      this.context,
      instances.filter((i) => i.metadata.deletionTimestamp === undefined),
    );
    for (const instance of instances) {
      this.context.events.event(
        instance,
        "Warning",
        "Evicted",
        `${why} A replacement is scheduled elsewhere.`,
      );
      try {
        const current = await this.context.client.get(INSTANCES, {
          namespace: instance.metadata.namespace,
          name: instance.metadata.name ?? "",
        });
        await removeFinalizer(this.context.client, INSTANCES, current, INSTANCE_FINALIZER);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}

export function newNodeLifecycleController(context: ControllerContext): Controller {
  const { caches } = context;
  const controller = controllerFor(
    context,
    NODE_LIFECYCLE_CONTROLLER,
    new NodeLifecycleReconciler(context),
    1,
  );
  controller.for(caches.nodes);
  controller.watches(caches.leases, (lease) => {
    const name = lease.metadata?.name ?? "";
    const node = nodeOfLease(name);
    return node === undefined ? [] : [node];
  });
  // A new binding to a lost or deleted node needs a look too.
  controller.watches(
    caches.instances,
    (i) => (i.spec.nodeName ? [i.spec.nodeName] : []),
    (before, after) => before.spec.nodeName !== after.spec.nodeName,
  );
  return controller;
}
