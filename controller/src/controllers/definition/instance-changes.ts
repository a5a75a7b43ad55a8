/**
 * What a pass of the Definition controller changes among its Instances: the ones the
 * rollout plan deletes, then the ones it creates (deterministic names from the lowest free
 * ordinals, in slow-start batches), each recorded in the expectations before the request so
 * the next pass waits for the cache to show it, and created bound when the scheduler places
 * it at once (context.placement).
 */
import { type Definition, type Instance, type RunTemplate } from "../../api/types.js";
import { INSTANCES } from "../../kube/resources.js";
import { isAlreadyExists, isNamespaceTerminating } from "../../kube/errors.js";
import { objectKey, parseKey } from "../../runtime/informer.js";
import type { ReconcileContext } from "../../runtime/controller.js";
import type { ControllerContext } from "../context.js";
import { deleteInstances } from "./deletion.js";
import type { Expectations } from "./expectations.js";
import { desiredInstance, freeOrdinals } from "./instances.js";
import type { RolloutPlan } from "./rollout.js";

export class InstanceChanges {
  constructor(
    private readonly context: ControllerContext,
    private readonly expectations: Expectations,
  ) {}

  /**
   * Deletes and creates what the plan says; returns the names of the Instances created (an
   * Instance whose create failed is not among them, and the failure is thrown after the
   * batch it was in).
   */
  async carryOut(
    key: string,
    definition: Definition,
    deploymentId: string,
    template: RunTemplate,
    plan: RolloutPlan,
    owned: readonly Instance[],
    ctx: ReconcileContext,
  ): Promise<Instance[]> {
    const namespace = definition.metadata.namespace ?? "default";
    const name = definition.metadata.name ?? "";
    const toDelete = owned.filter((i) => plan.delete.includes(i.metadata.name ?? ""));
    const deleted = await this.deleteOnce(key, toDelete);
    if (deleted.length > 0) {
      const names = deleted.map((i) => i.metadata.name ?? "");
      ctx.log.info("deleted instances", { instances: names });
      this.context.events.event(
        definition,
        "Normal",
        "InstancesDeleted",
        `Deleted Instances ${names.join(", ")}.`,
      );
    }
    if (plan.create === 0) return [];

    // A name is taken when the cache holds it or a create of it is still on its way there.
    const pending = new Set(this.expectations.pendingCreates(key).map((k) => parseKey(k).name));
    const cache = this.context.caches.instances;
    const taken = { has: (n: string) => pending.has(n) || cache.get(namespace, n) !== undefined };
    const created: Instance[] = [];
    const instances = freeOrdinals(name, deploymentId, taken, plan.create).map((ordinal) =>
      desiredInstance(definition, deploymentId, ordinal, template),
    );
    // Slow start, as Kubernetes' ReplicaSets create Pods: batches of 1, 2, 4, ... side by side,
    // so ten replicas cost four round trips, not ten, and a failing create stops after one.
    for (let next = 0, batch = 1; next < instances.length; next += batch, batch *= 2) {
      const outcomes = await Promise.allSettled(
        instances.slice(next, next + batch).map((instance) => this.create(key, definition, instance)),
      );
      for (const outcome of outcomes)
        if (outcome.status === "fulfilled" && outcome.value) created.push(outcome.value);
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
      if (failed) {
        this.announceCreated(ctx, definition, deploymentId, created);
        // The namespace is going away and will take this Definition with it: nothing to start.
        if (isNamespaceTerminating(failed.reason)) {
          ctx.log.debug("namespace is terminating, creating nothing", {});
          return created;
        }
        throw failed.reason;
      }
    }
    this.announceCreated(ctx, definition, deploymentId, created);
    return created;
  }

  /**
   * Deletes the Instances not already being deleted (terminating in the cache, or asked for
   * by an earlier pass whose delete the cache has yet to show); returns the ones it asked for.
   */
  async deleteOnce(key: string, instances: readonly Instance[]): Promise<Instance[]> {
    const toDelete = instances.filter(
      (i) => i.metadata.deletionTimestamp === undefined && !this.expectations.deleting(key, objectKey(i)),
    );
    if (toDelete.length === 0) return [];
    this.expectations.expectDeletes(key, toDelete.map(objectKey), this.context.clock.now());
    try {
      await deleteInstances(this.context, toDelete);
    } catch (err) {
      // Which of them went is unknown: the cache is the truth again.
      this.expectations.lower(key);
      throw err;
    }
    this.expectations.answered(key, this.context.clock.now());
    return toDelete;
  }

  /** Creates one Instance; the stored object, or undefined when someone holds the name already. */
  private async create(
    key: string,
    definition: Definition,
    instance: Instance,
  ): Promise<Instance | undefined> {
    const instanceName = instance.metadata.name ?? "";
    this.expectations.expectCreates(key, [objectKey(instance)], this.context.clock.now());
    const { placement } = this.context;
    const bound = placement?.bindAtCreate(instance);
    try {
      const stored = await this.context.client.create(INSTANCES, bound ?? instance);
      this.context.trace.instanceCreated(definition, instanceName);
      if (bound) placement?.created(stored);
      return stored;
    } catch (err) {
      if (bound) placement?.notCreated(bound);
      // Someone holds the name (an Instance this cache has not seen yet): its watch event
      // strikes it off, and until then no pass asks for the name again.
      if (isAlreadyExists(err)) return undefined;
      this.expectations.lower(key, objectKey(instance));
      throw err;
    } finally {
      this.expectations.answered(key, this.context.clock.now());
    }
  }

  private announceCreated(
    ctx: ReconcileContext,
    definition: Definition,
    deploymentId: string,
    created: readonly Instance[],
  ): void {
    if (created.length === 0) return;
    const names = created.map((i) => i.metadata.name ?? "");
    ctx.log.info("created instances", { instances: names, deploymentId });
    this.context.events.event(
      definition,
      "Normal",
      "InstancesCreated",
      `Created Instances ${created.map(createdOn).join(", ")} of deployment ${deploymentId.slice(0, 10)}.`,
    );
  }
}

/**
 * An Instance created bound, with its Node: the only Event that says where it went (the
 * scheduler records Scheduled only for the ones it binds later).
 */
function createdOn(instance: Instance): string {
  const name = instance.metadata.name ?? "";
  return instance.spec.nodeName ? `${name} on node ${instance.spec.nodeName}` : name;
}
