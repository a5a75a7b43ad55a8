/**
 * The binding loop: every unbound Instance gets a Node, chosen by the pure scheduler, and
 * is bound by patching spec.nodeName (and the node label) with a resourceVersion
 * precondition. An Instance no Node can take gets Scheduled=False with the reason in its
 * status (the controller owns Instance status only while it is unbound) and waits for a
 * Node or Instance change instead of looping. Several workers bind at once, yet every
 * placement sees all the ones before it: a placement is decided and assumed in one step with
 * no wait in between (the binding request goes out after), so two replicas never race for
 * the same host port, and a burst of Instances is bound in parallel, not one round trip each.
 * The Definition controller asks for a placement before it creates an Instance
 * (bindAtCreate): decided and assumed the same way, it saves the new Instance a watch
 * event and a binding round trip; one that no Node fits then is created unbound and bound
 * here once it fits.
 */
import { CONDITIONS, INSTANCE_FINALIZER, LABELS } from "../../api/vocabulary.js";
import { isDeepStrictEqual } from "node:util";
import { type Condition, type Instance, type InstanceStatus, type Node } from "../../api/types.js";
import { INSTANCES } from "../../kube/resources.js";
import { isNotFound } from "../../kube/errors.js";
import type { Controller } from "../../runtime/controller.js";
import {
  type ReconcileContext,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/controller.js";
import { removeFinalizer } from "../../runtime/finalizers.js";
import { objectKey } from "../../runtime/informer.js";
import { setCondition, StatusWriter } from "../../runtime/conditions.js";
import { controllerFor, type ControllerContext, type PlacementAtCreate } from "../context.js";
import { isExternalInstance, nodeIsReady } from "../../api/vocabulary.js";
import { instancesOfDefinition, unboundInstances } from "../indexes.js";
import { combinedLoad, NodeTotals, PlacedByNode, placedOn, placementOf } from "./placed-by-node.js";
import { schedule, type NodeLoad, type PlacedInstance, type SchedulingCandidate } from "./placement.js";

export const SCHEDULER_CONTROLLER = "scheduler";

/** An unschedulable Instance is looked at again this often even when nothing seems to change. */
export const UNSCHEDULABLE_RECHECK_MS = 60_000;

/**
 * Bindings in flight at once: placements are still decided one after the other (each is
 * decided and assumed before its request goes out), so workers only overlap round trips. A
 * binding is one small PATCH; with 8 the round trip under load (hundreds of ms on a busy API
 * server) held a burst of thousands to ~10 bindings a second.
 */
export const SCHEDULER_WORKERS = 32;

/** How long a binding counts as placed before the cache shows it (a lost event must not stick). */
const ASSUME_TTL_MS = 30_000;

export class SchedulerReconciler implements Reconciler, PlacementAtCreate {
  private readonly statusWriter: StatusWriter;
  /** Bindings made but not yet seen in the cache: key -> placement and when it was made. */
  private readonly assumed = new Map<string, { placed: PlacedInstance; at: number }>();
  /** What the cache shows placed on each node. */
  private readonly placed: PlacedByNode;
  /**
   * New Instances placed before their create request (bindAtCreate), counted until the cache
   * shows them bound there: the cache does not hold them yet, so `assumed` cannot count them.
   */
  private readonly placedAtCreate = new Map<string, { placed: PlacedInstance; at: number }>();

  constructor(private readonly context: ControllerContext) {
    this.statusWriter = new StatusWriter(context.client);
    this.placed = new PlacedByNode(context.caches.instances);
  }

  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | void> {
    const { caches, client, clock } = this.context;
    const instance = caches.instances.get(request.namespace, request.name);
    this.expireAssumptions(clock.now());
    if (!instance || instance.spec.nodeName || isExternalInstance(instance)) {
      this.assumed.delete(request.key);
      return;
    }
    if (this.assumed.has(request.key)) return;

    if (instance.metadata.deletionTimestamp !== undefined) {
      // Never bound, so no agent ran a container for it: nobody else would remove the finalizer.
      try {
        await removeFinalizer(client, INSTANCES, instance, INSTANCE_FINALIZER);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return;
    }

    const candidate = this.candidateOf(instance);
    const result = schedule(candidate, caches.nodes.list(), this.placedOn());
    if (result.node !== undefined) {
      await this.bind(request.key, instance, result.node, ctx);
      return;
    }
    return await this.reportUnschedulable(instance, result, ctx);
  }

  /**
   * A new Instance (not created yet) bound to the Node the scheduler would bind it to now,
   * assumed placed there before its create request goes out; undefined when no Node fits.
   */
  bindAtCreate(instance: Instance): Instance | undefined {
    const now = this.context.clock.now();
    this.expireAssumptions(now);
    const result = schedule(this.candidateOf(instance), this.context.caches.nodes.list(), this.placedOn());
    if (result.node === undefined) return undefined;
    const node = result.node;
    this.placedAtCreate.set(objectKey(instance), {
      placed: placedOn(instance, node),
      at: now,
    });
    const bound = structuredClone(instance);
    bound.metadata.labels = { ...bound.metadata.labels, [LABELS.node]: node };
    bound.spec.nodeName = node;
    return bound;
  }

  /**
   * No Scheduled Event on the Instance: it was never the scheduler's to bind. Like a Pod
   * created with its nodeName set, it is announced by its creator, whose InstancesCreated
   * Event on the Definition names its Node (one Event per pass, not one per Instance).
   */
  created(instance: Instance): void {
    this.context.trace.bound(instance);
  }

  notCreated(instance: Instance): void {
    this.placedAtCreate.delete(objectKey(instance));
  }

  /** Binds the Instance to the node, assumed placed there before the request goes out. */
  private async bind(key: string, instance: Instance, node: string, ctx: ReconcileContext): Promise<void> {
    const { client, clock, events } = this.context;
    // Assumed before the request goes out: the next placement, on another worker, counts it.
    this.assumed.set(key, { placed: placedOn(instance, node), at: clock.now() });
    try {
      await client.mergePatch(
        INSTANCES,
        { namespace: instance.metadata.namespace, name: instance.metadata.name ?? "" },
        {
          metadata: {
            resourceVersion: instance.metadata.resourceVersion,
            labels: { [LABELS.node]: node },
          },
          spec: { nodeName: node },
        },
      );
    } catch (err) {
      this.assumed.delete(key);
      if (isNotFound(err)) return;
      throw err;
    }
    this.context.trace.bound(instance);
    ctx.log.info("bound instance", { node });
    events.event(instance, "Normal", "Scheduled", `Bound to node ${node}.`);
  }

  /** No node fits: the Scheduled condition and a FailedScheduling Event say why, once per reason. */
  private async reportUnschedulable(
    instance: Instance,
    result: { reason: string; message: string },
    ctx: ReconcileContext,
  ): Promise<Result> {
    const { clock, events } = this.context;
    const previous = instance.status?.conditions?.find((c) => c.type === CONDITIONS.scheduled);
    if (previous?.status !== "False" || previous.message !== result.message) {
      events.event(instance, "Warning", "FailedScheduling", result.message);
    }
    const condition: Omit<Condition, "lastTransitionTime"> = {
      type: CONDITIONS.scheduled,
      status: "False",
      reason: result.reason,
      message: result.message,
    };
    const status: InstanceStatus = {
      ...instance.status,
      phase: "Pending",
      message: result.message,
      conditions: setCondition(instance.status?.conditions, condition, clock.now()),
    };
    await this.statusWriter.update(INSTANCES, instance, status, { observedGeneration: false });
    ctx.log.debug("instance unschedulable", { reason: result.message });
    return { requeueAfterMs: UNSCHEDULABLE_RECHECK_MS };
  }

  private candidateOf(instance: Instance): SchedulingCandidate {
    const definition = this.context.caches.definitions.get(
      instance.metadata.namespace,
      instance.spec.definition,
    );
    const placement = definition?.spec.placement ?? {};
    return {
      ...placementOf(instance),
      ...(placement.nodeSelector ? { nodeSelector: placement.nodeSelector } : {}),
      spread: placement.spread ?? "Spread",
    };
  }

  /**
   * What is placed on a node: the Instances the cache shows bound there, plus the bindings
   * to it the cache has not shown yet (an assumed one whose Instance the cache shows bound
   * is counted where the cache says).
   */
  private placedOn(): (node: string) => NodeLoad {
    const { instances } = this.context.caches;
    const assumedOn = new Map<string, NodeTotals>();
    const assume = (placed: PlacedInstance): void => {
      let totals = assumedOn.get(placed.nodeName);
      if (!totals) assumedOn.set(placed.nodeName, (totals = new NodeTotals()));
      totals.add(placed);
    };
    for (const [key, { placed }] of this.assumed) {
      const instance = instances.getByKey(key);
      if (!instance || instance.spec.nodeName) continue;
      assume(placed);
    }
    for (const [key, entry] of this.placedAtCreate) {
      // Once the cache shows it bound there, the cache's placements count it.
      if (instances.getByKey(key)?.spec.nodeName === entry.placed.nodeName) {
        this.placedAtCreate.delete(key);
        continue;
      }
      assume(entry.placed);
    }
    return (node) => {
      const cached = this.placed.load(node);
      const assumed = assumedOn.get(node);
      return assumed ? combinedLoad(cached, assumed) : cached;
    };
  }

  private expireAssumptions(now: number): void {
    for (const [key, { at }] of this.assumed) if (now - at > ASSUME_TTL_MS) this.assumed.delete(key);
    for (const [key, { at }] of this.placedAtCreate)
      if (now - at > ASSUME_TTL_MS) this.placedAtCreate.delete(key);
  }
}

/** Whether a Node's change can let an Instance fit that did not before: readiness or spec. */
export function nodeCouldMakeRoom(before: Node, after: Node): boolean {
  return nodeIsReady(before) !== nodeIsReady(after) || !isDeepStrictEqual(before.spec, after.spec);
}

/** Whether an Instance's change gives its room back: it was bound and is no longer there. */
export function leftItsNode(before: Instance, after: Instance): boolean {
  return before.spec.nodeName !== undefined && before.spec.nodeName !== after.spec.nodeName;
}

export function newSchedulerController(
  context: ControllerContext,
  reconciler = new SchedulerReconciler(context),
): Controller {
  const { caches } = context;
  const controller = controllerFor(context, SCHEDULER_CONTROLLER, reconciler, SCHEDULER_WORKERS);
  const unbound = (): string[] => unboundInstances(caches.instances).map((i) => objectKey(i));
  controller.for(caches.instances);
  // Room appears when a Node turns Ready or changes (not on every heartbeat), or when a bound
  // Instance goes away or moves. A binding only takes room, and a terminating Instance keeps
  // its room until it is gone: neither is worth a look at every unbound Instance (at
  // thousands of Instances that look, per binding, was most of the scheduler's work).
  controller.watches(caches.nodes, () => unbound(), nodeCouldMakeRoom);
  controller.watches(caches.instances, (i) => (i.spec.nodeName ? unbound() : []), leftItsNode, {
    ignoreAdds: true,
  });
  // placement.nodeSelector lives on the Definition; its status writes change nothing here.
  controller.watches(
    caches.definitions,
    (d) =>
      instancesOfDefinition(caches.instances, d.metadata.namespace ?? "", d.metadata.name ?? "")
        .filter((i) => !i.spec.nodeName && !isExternalInstance(i))
        .map((i) => objectKey(i)),
    (before, after) => !isDeepStrictEqual(before.spec.placement, after.spec.placement),
    { ignoreAdds: true },
  );
  return controller;
}
