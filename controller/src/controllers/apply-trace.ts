/**
 * The controller's part of the apply-to-ready trace (runtime/stage-trace.ts): a new
 * Definition seen, its Instances created, bound, and each ready Instance's address written
 * into the Definition's status. Each stage is timed from the one before it that this process
 * saw, into berth_controller_apply_stage_seconds.
 */
import type { Definition, DefinitionStatus, Instance } from "../api/types.js";
import type { Informer } from "../runtime/informer.js";
import { objectKey } from "../runtime/informer.js";
import { StageStarts, markStage, type ApplyStage } from "../runtime/stage-trace.js";
import { applyStageSeconds } from "./metrics.js";

export class ApplyTrace {
  /** New Definitions by key: when the cache first showed them. */
  private readonly seen = new StageStarts();
  /** Instances by key: when their create request returned. */
  private readonly created = new StageStarts();
  /** Instances by key: when the cache first showed them ready with an address. */
  private readonly readySeen = new StageStarts();

  /** Hears of the moments only the caches show: a new Definition, an Instance turning ready. */
  watch(definitions: Informer<Definition>, instances: Informer<Instance>): void {
    definitions.addHandler({
      // A Definition without a status has never been through a pass: it is new.
      onAdd: (definition) => {
        if (definition.status === undefined) this.definitionSeen(definition);
      },
    });
    instances.addHandler({
      onAdd: (instance) => this.instanceChanged(undefined, instance),
      onUpdate: (before, after) => this.instanceChanged(before, after),
      onDelete: (instance) => {
        const key = objectKey(instance);
        this.created.delete(key);
        this.readySeen.delete(key);
      },
    });
  }

  private definitionSeen(definition: Definition): void {
    const at = markStage({
      stage: "definition_seen",
      namespace: definition.metadata.namespace ?? "",
      definition: definition.metadata.name ?? "",
    });
    this.seen.setIfAbsent(objectKey(definition), at);
  }

  private instanceChanged(before: Instance | undefined, after: Instance): void {
    if (after.status?.ready !== true || !after.status.address?.url || before?.status?.ready === true) return;
    this.readySeen.setIfAbsent(objectKey(after), performance.now());
  }

  /** The create request of a new Instance of the Definition returned. */
  instanceCreated(definition: Definition, instanceName: string): void {
    const namespace = definition.metadata.namespace ?? "";
    const key = `${namespace}/${instanceName}`;
    const at = this.mark("instance_created", namespace, definition.metadata.name ?? "", instanceName);
    const seenAt = this.seen.get(objectKey(definition));
    if (seenAt !== undefined) applyStageSeconds.observe({ stage: "instance_created" }, (at - seenAt) / 1000);
    this.created.set(key, at);
  }

  /** A pass of the Definition's controller is over: later Instances are a rollout, not the apply. */
  definitionPassed(definition: Definition): void {
    this.seen.delete(objectKey(definition));
  }

  /** The binding of the Instance returned. */
  bound(instance: Instance): void {
    const key = objectKey(instance);
    const at = this.mark(
      "bound",
      instance.metadata.namespace ?? "",
      instance.spec.definition,
      instance.metadata.name,
    );
    const createdAt = this.created.take(key);
    if (createdAt !== undefined) applyStageSeconds.observe({ stage: "bound" }, (at - createdAt) / 1000);
  }

  /** The Definition's status write returned (or found nothing to change): addresses now listed. */
  statusWritten(definition: Definition, status: DefinitionStatus, owned: readonly Instance[]): void {
    const listed = new Set(status.addresses ?? []);
    for (const instance of owned) {
      const key = objectKey(instance);
      const url = instance.status?.address?.url;
      if (!this.readySeen.has(key) || !url || !listed.has(url)) continue;
      const readyAt = this.readySeen.take(key)!;
      const at = this.mark(
        "address_written",
        definition.metadata.namespace ?? "",
        definition.metadata.name ?? "",
        instance.metadata.name,
      );
      applyStageSeconds.observe({ stage: "address_written" }, (at - readyAt) / 1000);
    }
  }

  private mark(
    stage: ApplyStage,
    namespace: string,
    definition: string,
    instance: string | undefined,
  ): number {
    return markStage({ stage, namespace, definition, ...(instance ? { instance } : {}) });
  }
}
