/**
 * The Definition controller: from a Definition to its Instances and back to its status.
 * Each pass re-reads the world from the caches: computes the deploymentId, checks
 * dependsOn, plans the next rollout step, creates and deletes Instances (deterministic
 * names, owner references, so a replayed pass never duplicates), and rebuilds status.
 */
import { CONDITIONS, DEFINITION_FINALIZER } from "../../api/vocabulary.js";
import { type Condition, type Definition, type DefinitionStatus, type Instance } from "../../api/types.js";
import { DEFINITIONS, INSTANCES } from "../../kube/resources.js";
import { KubeApiError, isAlreadyExists, isForbidden, isNotFound } from "../../kube/errors.js";
import type { Controller } from "../../runtime/controller.js";
import {
  type ReconcileContext,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/controller.js";
import { addFinalizer } from "../../runtime/finalizers.js";
import { objectKey } from "../../runtime/informer.js";
import { applyToReadySeconds, definitionReadyReplicas } from "../metrics.js";
import { getCondition, setCondition, statusEqual, StatusWriter } from "../../runtime/conditions.js";
import type { SourceError } from "../../source/errors.js";
import { controllerFor, type ControllerContext } from "../context.js";
import { DELETION_RECHECK_MS, deleteInstances, finalizeDefinition } from "./deletion.js";
import {
  checkDependencies,
  dependentsOf,
  type DependencyCheck,
  type DependencyGraph,
} from "./dependencies.js";
import { computeDeploymentId, referencedObjects, runTemplateOf } from "./deployment-id.js";
import { Expectations } from "./expectations.js";
import {
  controllingDefinition,
  desiredInstance,
  freeOrdinals,
  isOwnedBy,
  viewInstance,
} from "./instances.js";
import {
  REPOSITORY_RECHECK_MS,
  RepositoryCommits,
  pinnedRunTemplate,
  withSourceProblem,
} from "./repository-commits.js";
import { planRollout, rolloutSettings, type RolloutPlan } from "./rollout.js";
import { aggregateStatus, desiredReplicas } from "./definition-status.js";
import { statusWriteDelayMs } from "./status-pacing.js";

export const DEFINITION_CONTROLLER = "definition";

export class DefinitionReconciler implements Reconciler {
  private readonly expectations: Expectations;
  private readonly statusWriter: StatusWriter;
  /** Per Definition key: the generation being timed for berth_apply_to_ready_seconds. */
  private readonly readyTimers = new Map<string, { generation: number; startedAt: number; done: boolean }>();
  private readonly commits: RepositoryCommits;
  /** Per Definition key: when this controller last wrote its status, and what (status-pacing.ts). */
  private readonly lastStatusWrite = new Map<string, { at: number; status: DefinitionStatus | undefined }>();
  /** Where a Definition whose repository lookup ended is sent (its controller's queue). */
  onRepositoryResolved: (key: string) => void = () => undefined;

  constructor(private readonly context: ControllerContext) {
    this.expectations = new Expectations();
    this.statusWriter = new StatusWriter(context.client);
    this.commits = new RepositoryCommits({
      clock: context.clock,
      fileRepositories: context.settings.fileRepositories,
      ...(context.resolveCommit ? { resolve: context.resolveCommit } : {}),
      onResolved: (key) => this.onRepositoryResolved(key),
    });
  }

  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | void> {
    try {
      return await this.reconcileDefinition(request, ctx);
    } catch (err) {
      // The Definition went away while this pass ran; its delete event brings the next pass.
      if (isNotFound(err) && !this.context.caches.definitions.get(request.namespace, request.name)) return;
      throw err;
    }
  }

  private async reconcileDefinition(request: Request, ctx: ReconcileContext): Promise<Result | void> {
    const { caches, clock } = this.context;
    const namespace = request.namespace ?? "default";
    const cached = caches.definitions.get(namespace, request.name);
    if (!cached) {
      this.forget(request.key, namespace, request.name);
      return;
    }
    const owned = caches.instances.list(namespace).filter((i) => isOwnedBy(i, cached));

    if (cached.metadata.deletionTimestamp !== undefined) {
      const removed = await finalizeDefinition(this.context, cached, owned, ctx.log);
      return removed ? undefined : { requeueAfterMs: DELETION_RECHECK_MS };
    }
    const definition = await addFinalizer(this.context.client, DEFINITIONS, cached, DEFINITION_FINALIZER);

    // A repository's ref is resolved to a commit: it is part of what runs, so of the deploymentId.
    let template = runTemplateOf(definition.spec);
    let sourceProblem: SourceError | undefined;
    let commit: string | undefined;
    if (definition.spec.repository) {
      this.commits.prune();
      const resolved = this.commits.resolve(definition.spec.repository, request.key);
      // The first lookup of this repository runs without this worker; its end brings the next pass.
      if ("pending" in resolved) return { requeueAfterMs: REPOSITORY_RECHECK_MS };
      if ("error" in resolved) sourceProblem = resolved.error;
      else {
        commit = resolved.commit;
        template = pinnedRunTemplate(template, commit);
      }
    }
    // Unresolved, the Definition keeps the deployment it has and starts no new one.
    const deploymentId = sourceProblem
      ? (definition.status?.deploymentId ?? "")
      : computeDeploymentId(
          definition.spec,
          await this.context.referencedContent.of(namespace, template),
          commit ? { commit } : undefined,
        );
    const dependencies = checkDependencies(request.name, this.dependencyGraph(namespace), (dep) =>
      this.hasReadyInstance(namespace, dep),
    );
    const dependenciesBlock = dependencies.missing.length > 0 || dependencies.cycle !== undefined;
    const allowCreate = !dependenciesBlock && dependencies.notReady.length === 0;

    const now = clock.now();
    const views = owned.map((i) => viewInstance(i, (node) => caches.nodes.get(undefined, node)));
    const plan = planRollout({
      replicas: desiredReplicas(definition),
      deploymentId,
      settings: rolloutSettings(definition.spec),
      instances: views,
      allowCreate,
      now,
    });

    const cachedInstance = (name: string): Instance | undefined => caches.instances.get(namespace, name);
    let waitingForCache = false;
    if (sourceProblem) {
      ctx.log.info("repository ref not resolved, changing no Instances", { reason: sourceProblem.reason });
    } else if (this.expectations.satisfied(request.key, cachedInstance, now)) {
      await this.carryOut(request.key, definition, deploymentId, template, plan, owned, ctx);
    } else {
      waitingForCache = true;
      ctx.log.debug("waiting for the cache to show earlier changes", {});
    }

    const statusDelayMs = await this.writeStatus(
      definition,
      deploymentId,
      owned,
      views,
      dependencies,
      plan,
      sourceProblem,
    );
    this.context.trace.definitionPassed(definition);
    if (sourceProblem) this.reportSourceProblem(cached, sourceProblem);
    else this.reportDependencies(cached, dependencies);

    const requeueAfters: number[] = [];
    // A progress-only status change waits for the rest of its window (status-pacing.ts).
    if (statusDelayMs > 0) requeueAfters.push(statusDelayMs);
    // A branch moves without any event here: look at the repository again after a while.
    if (definition.spec.repository) requeueAfters.push(REPOSITORY_RECHECK_MS);
    if (waitingForCache) requeueAfters.push(Math.max(100, this.expectations.remainingMs(request.key, now)));
    if (plan.deadlineAt !== undefined && !plan.stalled) requeueAfters.push(plan.deadlineAt - now + 1000);
    return requeueAfters.length > 0 ? { requeueAfterMs: Math.min(...requeueAfters) } : undefined;
  }

  private async carryOut(
    key: string,
    definition: Definition,
    deploymentId: string,
    template: ReturnType<typeof runTemplateOf>,
    plan: RolloutPlan,
    owned: readonly Instance[],
    ctx: ReconcileContext,
  ): Promise<void> {
    const namespace = definition.metadata.namespace ?? "default";
    const name = definition.metadata.name ?? "";
    const toDelete = owned.filter((i) => plan.delete.includes(i.metadata.name ?? ""));
    if (toDelete.length > 0) {
      this.expectations.expect(
        key,
        [],
        toDelete.map((i) => i.metadata.name ?? ""),
        this.context.clock.now(),
      );
      await deleteInstances(this.context, toDelete);
      const names = toDelete.map((i) => i.metadata.name ?? "");
      ctx.log.info("deleted instances", { instances: names });
      this.context.events.event(
        definition,
        "Normal",
        "InstancesDeleted",
        `Deleted Instances ${names.join(", ")}.`,
      );
    }
    if (plan.create === 0) return;

    const taken = new Set(this.context.caches.instances.list(namespace).map((i) => i.metadata.name ?? ""));
    for (const pending of this.expectations.pendingCreates(key)) taken.add(pending);
    const created: string[] = [];
    const instances = freeOrdinals(name, deploymentId, taken, plan.create).map((ordinal) =>
      desiredInstance(definition, deploymentId, ordinal, template),
    );
    // Slow start, as Kubernetes' ReplicaSets create Pods: batches of 1, 2, 4, ... side by side,
    // so ten replicas cost four round trips, not ten, and a failing create stops after one.
    for (let next = 0, batch = 1; next < instances.length; next += batch, batch *= 2) {
      const outcomes = await Promise.allSettled(
        instances.slice(next, next + batch).map((instance) => this.createInstance(key, definition, instance)),
      );
      for (const outcome of outcomes)
        if (outcome.status === "fulfilled" && outcome.value) created.push(outcome.value);
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
      if (failed) {
        this.announceCreated(ctx, definition, deploymentId, created);
        // The namespace is going away and will take this Definition with it: nothing to start.
        if (isNamespaceTerminating(failed.reason)) {
          ctx.log.debug("namespace is terminating, creating nothing", {});
          return;
        }
        throw failed.reason;
      }
    }
    this.announceCreated(ctx, definition, deploymentId, created);
  }

  /** Creates one Instance; its name, or undefined when someone holds the name already. */
  private async createInstance(
    key: string,
    definition: Definition,
    instance: Instance,
  ): Promise<string | undefined> {
    const instanceName = instance.metadata.name ?? "";
    this.expectations.expect(key, [instanceName], [], this.context.clock.now());
    try {
      await this.context.client.create(INSTANCES, instance);
      this.context.trace.instanceCreated(definition, instanceName);
      return instanceName;
    } catch (err) {
      this.expectations.lower(key, instanceName);
      // Someone holds the name (an Instance this cache has not seen yet): the next pass picks another.
      if (isAlreadyExists(err)) return undefined;
      throw err;
    }
  }

  private announceCreated(
    ctx: ReconcileContext,
    definition: Definition,
    deploymentId: string,
    created: string[],
  ): void {
    if (created.length > 0) {
      ctx.log.info("created instances", { instances: created, deploymentId });
      this.context.events.event(
        definition,
        "Normal",
        "InstancesCreated",
        `Created Instances ${created.join(", ")} of deployment ${deploymentId.slice(0, 10)}.`,
      );
    }
  }

  private async writeStatus(
    definition: Definition,
    deploymentId: string,
    owned: readonly Instance[],
    views: ReturnType<typeof viewInstance>[],
    dependencies: DependencyCheck,
    plan: RolloutPlan,
    sourceProblem?: SourceError,
  ): Promise<number> {
    const aggregated = aggregateStatus({ definition, deploymentId, instances: views, dependencies, plan });
    if (sourceProblem) {
      aggregated.conditions = withSourceProblem(aggregated.conditions, sourceProblem);
      if (!deploymentId) delete aggregated.fields.deploymentId;
    }
    const now = this.context.clock.now();
    let conditions: Condition[] = definition.status?.conditions ?? [];
    for (const spec of aggregated.conditions) {
      conditions = setCondition(
        conditions,
        { ...spec, observedGeneration: definition.metadata.generation },
        now,
      );
    }
    const status: DefinitionStatus = { ...aggregated.fields, conditions };
    const key = objectKey(definition);
    const next = { ...status, observedGeneration: definition.metadata.generation };
    // Against this controller's own last write: the cache may not show it yet.
    const last = this.lastStatusWrite.get(key);
    const current = last?.status ?? definition.status;
    const delayMs = statusWriteDelayMs(current, next, last?.at, now);
    if (delayMs > 0 && !statusEqual(current, next)) return delayMs;
    this.recordReadiness(definition, plan, status);
    const updated = await this.statusWriter.update(DEFINITIONS, definition, status);
    if (updated) this.lastStatusWrite.set(key, { at: now, status: updated.status });
    this.context.trace.statusWritten(definition, status, owned);
    definitionReadyReplicas.set(
      { namespace: definition.metadata.namespace ?? "default", definition: definition.metadata.name ?? "" },
      status.readyReplicas ?? 0,
    );
    return 0;
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

  /** Events for dependency problems, once per change of the Degraded reason. */
  private reportDependencies(before: Definition, dependencies: DependencyCheck): void {
    const previous = getCondition(before.status?.conditions, CONDITIONS.degraded)?.reason;
    if (dependencies.cycle && previous !== "DependencyCycle") {
      this.context.events.event(
        before,
        "Warning",
        "DependencyCycle",
        `dependsOn forms a cycle: ${dependencies.cycle.join(" -> ")}; no Instance starts until it is broken.`,
      );
    } else if (!dependencies.cycle && dependencies.missing.length > 0 && previous !== "DependencyMissing") {
      this.context.events.event(
        before,
        "Warning",
        "DependencyMissing",
        `dependsOn names ${dependencies.missing.join(", ")}, which does not exist in this namespace.`,
      );
    }
  }

  /** An Event when the repository problem is new (the Degraded reason changes to it). */
  private reportSourceProblem(before: Definition, problem: SourceError): void {
    if (getCondition(before.status?.conditions, CONDITIONS.degraded)?.reason === problem.reason) return;
    this.context.events.event(before, "Warning", problem.reason, problem.message);
  }

  private dependencyGraph(namespace: string): DependencyGraph {
    return new Map(
      this.context.caches.definitions
        .list(namespace)
        .map((d) => [d.metadata.name ?? "", d.spec.dependsOn ?? []] as [string, string[]]),
    );
  }

  private hasReadyInstance(namespace: string, definition: string): boolean {
    const { caches } = this.context;
    return caches.instances
      .list(namespace)
      .some(
        (i) =>
          controllingDefinition(i) === definition &&
          i.metadata.deletionTimestamp === undefined &&
          viewInstance(i, (node) => caches.nodes.get(undefined, node)).ready,
      );
  }

  private forget(key: string, namespace: string, name: string): void {
    this.expectations.lower(key);
    this.readyTimers.delete(key);
    this.lastStatusWrite.delete(key);
    definitionReadyReplicas.remove({ namespace, definition: name });
  }
}

/** The API server refuses new objects in a namespace being deleted (403, cause NamespaceTerminating). */
function isNamespaceTerminating(err: unknown): boolean {
  if (!isForbidden(err) || !(err instanceof KubeApiError)) return false;
  return err.status?.details?.causes?.some((cause) => cause.reason === "NamespaceTerminating") ?? false;
}

/** Builds the controller with its watches: what change of which kind needs which Definition. */
export function newDefinitionController(context: ControllerContext): Controller {
  const { caches } = context;
  const reconciler = new DefinitionReconciler(context);
  const controller = controllerFor(
    context,
    DEFINITION_CONTROLLER,
    reconciler,
    context.settings.definitionWorkers,
  );
  reconciler.onRepositoryResolved = (key) => controller.enqueue(key);
  const withDependents = (namespace: string, names: string[]): string[] => {
    const graph = new Map(
      caches.definitions.list(namespace).map((d) => [d.metadata.name ?? "", d.spec.dependsOn ?? []] as const),
    );
    const keys = new Set<string>();
    for (const name of names) {
      keys.add(`${namespace}/${name}`);
      for (const dependent of dependentsOf(name, graph)) keys.add(`${namespace}/${dependent}`);
    }
    return [...keys];
  };
  controller.for(caches.definitions);
  // A Definition appearing, changing or going decides whether its dependents may start.
  controller.watches(caches.definitions, (d) =>
    withDependents(d.metadata.namespace ?? "default", [d.metadata.name ?? ""]).slice(1),
  );
  // An Instance changing moves its owner's status, and its readiness gates the owner's dependents.
  controller.watches(caches.instances, (i) => {
    const owner = controllingDefinition(i);
    return owner ? withDependents(i.metadata.namespace ?? "default", [owner]) : [];
  });
  // A Node's readiness decides whether its Instances count as ready.
  controller.watches(caches.nodes, (node) => {
    const keys = new Set<string>();
    for (const i of caches.instances.list()) {
      const owner = controllingDefinition(i);
      if (owner && i.spec.nodeName === node.metadata.name) {
        for (const key of withDependents(i.metadata.namespace ?? "default", [owner])) keys.add(key);
      }
    }
    return [...keys];
  });
  const referencing =
    (kind: "Secret" | "ConfigMap") => (obj: { metadata?: { namespace?: string; name?: string } }) =>
      caches.definitions
        .list(obj.metadata?.namespace)
        .filter((d) =>
          referencedObjects(runTemplateOf(d.spec)).some(
            (r) => r.kind === kind && r.name === obj.metadata?.name,
          ),
        )
        .map((d) => objectKey(d));
  controller.watches(caches.secrets, referencing("Secret"));
  controller.watches(caches.configMaps, referencing("ConfigMap"));
  return controller;
}
