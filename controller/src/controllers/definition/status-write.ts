/**
 * The Definition's status as a pass writes it: aggregated from its Instances (pure, in
 * definition-status.ts), conditions carried over with their transition times, written only
 * when it changed; and the readiness metrics that follow from it (ready replicas, and
 * berth_apply_to_ready_seconds once per generation). A progress-only change within a second
 * of the last write waits out the second (status-pacing.ts).
 */
import { CONDITIONS } from "../../api/vocabulary.js";
import {
  type Condition,
  type Definition,
  type DefinitionStatus,
  type Instance,
  type Node,
} from "../../api/types.js";
import { DEFINITIONS } from "../../kube/resources.js";
import { getCondition, setCondition } from "../../runtime/conditions.js";
import { cacheLagsBehind, lastWriteOf, type LastWrite } from "../../runtime/lagging-cache.js";
import { ALL_FIELDS, partWritten, StatusApplier } from "../../runtime/status-apply.js";
import { objectKey } from "../../runtime/informer.js";
import type { SourceError } from "../../source/errors.js";
import type { ControllerContext } from "../context.js";
import { applyToReadySeconds, definitionReadyReplicas } from "../metrics.js";
import { aggregateStatus } from "./definition-status.js";
import type { DependencyCheck } from "./dependencies.js";
import { viewInstance, type InstanceView } from "./instances.js";
import { OwnStatusWrites } from "./own-status-writes.js";
import { withSourceProblem } from "./repository-commits.js";
import type { RolloutPlan } from "./rollout.js";
import { statusWriteDelayMs } from "./status-pacing.js";

/** The field manager of the Definition controller's status writes (server-side apply). */
export const DEFINITION_STATUS_MANAGER = "berth-definitions";

/** A status with only the given condition types: what this controller's write says. */
function ownPart(
  status: DefinitionStatus | undefined,
  types: ReadonlySet<string>,
): DefinitionStatus | undefined {
  if (!status) return undefined;
  return { ...status, conditions: (status.conditions ?? []).filter((c) => types.has(c.type)) };
}

export interface StatusInputs {
  definition: Definition;
  deploymentId: string;
  owned: readonly Instance[];
  /** The Instances this pass created, which the cache has yet to show. */
  created: readonly Instance[];
  views: readonly InstanceView[];
  dependencies: DependencyCheck;
  plan: RolloutPlan;
  sourceProblem?: SourceError | undefined;
}

export class DefinitionStatusWrites {
  private readonly applier: StatusApplier;
  /** Per Definition key: the generation being timed for berth_apply_to_ready_seconds. */
  private readonly readyTimers = new Map<string, { generation: number; startedAt: number; done: boolean }>();
  /** Per Definition key: this controller's last status write (runtime/lagging-cache.ts). */
  private readonly lastWrite = new Map<string, LastWrite<DefinitionStatus>>();
  /** This controller's writes whose watch events are no news to its passes. */
  readonly ownWrites = new OwnStatusWrites();

  constructor(private readonly context: ControllerContext) {
    this.applier = new StatusApplier(context.client, DEFINITION_STATUS_MANAGER, ALL_FIELDS);
  }

  /** Writes the status unless it must wait: then the milliseconds left to wait (0 when written). */
  async write(inputs: StatusInputs): Promise<number> {
    const { definition, deploymentId, created, views, dependencies, plan, sourceProblem } = inputs;
    // The Instances this pass created count in the status it writes: otherwise its next
    // pass, seeing them in the cache, would write again for their count alone.
    const nodeOf = (node: string): Node | undefined => this.context.caches.nodes.get(undefined, node);
    const owned = [...inputs.owned, ...created];
    const aggregated = aggregateStatus({
      definition,
      deploymentId,
      instances: [...views, ...created.map((instance) => viewInstance(instance, nodeOf))],
      dependencies,
      plan,
    });
    if (sourceProblem) {
      aggregated.conditions = withSourceProblem(aggregated.conditions, sourceProblem);
      if (!deploymentId) delete aggregated.fields.deploymentId;
    }
    const now = this.context.clock.now();
    const key = objectKey(definition);
    const last = this.lastWrite.get(key);
    // While the cache has yet to show this controller's last write, that write is what the
    // Definition says (and the pass that made it went on from it).
    const lagging = last !== undefined && cacheLagsBehind(definition, last);
    const base = lagging ? last.status : definition.status;
    // Transition times carry over from the conditions the Definition shows; the write holds
    // this controller's conditions only (others, such as discovery's Published, are theirs).
    let shown: Condition[] = base?.conditions ?? [];
    for (const spec of aggregated.conditions) {
      shown = setCondition(shown, { ...spec, observedGeneration: definition.metadata.generation }, now);
    }
    const own = new Set<string>(aggregated.conditions.map((condition) => condition.type));
    const conditions = shown.filter((condition) => own.has(condition.type));
    const status: DefinitionStatus = { ...aggregated.fields, conditions };
    const current = ownPart(base, own);
    // Already said by the last write, whose watch event is on its way: nothing to write.
    if (lagging && partWritten(current, status, ALL_FIELDS)) return 0;
    const delayMs = statusWriteDelayMs(current, status, last?.at, now);
    if (delayMs > 0 && !partWritten(current, status, ALL_FIELDS)) return delayMs;
    this.recordReadiness(definition, plan, status);
    if (!partWritten(definition.status, status, ALL_FIELDS)) this.ownWrites.writing(definition, status);
    const updated = await this.applier.apply(DEFINITIONS, definition, status);
    if (updated) this.lastWrite.set(key, lastWriteOf(definition, updated, now));
    this.context.trace.statusWritten(definition, status, owned);
    definitionReadyReplicas.set(
      { namespace: definition.metadata.namespace ?? "default", definition: definition.metadata.name ?? "" },
      status.readyReplicas ?? 0,
    );
    return 0;
  }

  /** The Definition is gone: its timer and its metric series go too. */
  forget(key: string, namespace: string, name: string): void {
    this.readyTimers.delete(key);
    this.lastWrite.delete(key);
    this.ownWrites.forget(key);
    definitionReadyReplicas.remove({ namespace, definition: name });
  }

  /** Observes berth_apply_to_ready_seconds once per generation, when it is fully rolled out. */
  private recordReadiness(definition: Definition, plan: RolloutPlan, status: DefinitionStatus): void {
    const key = objectKey(definition);
    const generation = definition.metadata.generation ?? 0;
    let timer = this.readyTimers.get(key);
    if (!timer || timer.generation !== generation) {
      const previous = definition.status;
      // Already ready at this generation (a restarted controller): nothing left to time.
      const alreadyReady =
        previous?.observedGeneration === generation &&
        getCondition(previous.conditions, CONDITIONS.progressing)?.reason === "RolloutComplete";
      const created = Date.parse(definition.metadata.creationTimestamp ?? "");
      const startedAt = generation <= 1 && Number.isFinite(created) ? created : this.context.clock.now();
      timer = { generation, startedAt, done: alreadyReady };
      this.readyTimers.set(key, timer);
    }
    const ready = getCondition(status.conditions, CONDITIONS.ready)?.status === "True";
    if (!timer.done && ready && plan.complete) {
      timer.done = true;
      applyToReadySeconds.observe(Math.max(0, this.context.clock.now() - timer.startedAt) / 1000);
    }
  }
}
