/**
 * The Definition controller: from a Definition to its Instances and back to its status.
 * Each pass re-reads the world from the caches: computes the deploymentId, checks
 * dependsOn, plans the next rollout step, creates and deletes Instances (deterministic
 * names, owner references, so a replayed pass never duplicates; instance-changes.ts), and
 * rebuilds status (status-write.ts).
 */
import { CONDITIONS } from "../../api/vocabulary.js";
import { type Definition, type Instance, type RunTemplate } from "../../api/types.js";
import { isNotFound } from "../../kube/errors.js";
import type { Controller } from "../../runtime/controller.js";
import {
  type ReconcileContext,
  type Reconciler,
  type Request,
  type Result,
} from "../../runtime/controller.js";
import { objectKey } from "../../runtime/informer.js";
import { getCondition } from "../../runtime/conditions.js";
import type { SourceError } from "../../source/errors.js";
import { controllerFor, type ControllerContext } from "../context.js";
import { DELETION_RECHECK_MS, finalizeDefinition } from "./deletion.js";
import { checkDependencies, type DependencyCheck, type DependencyGraph } from "./dependencies.js";
import { computeDeploymentId, referencedObjects, runTemplateOf } from "./deployment-id.js";
import { Expectations } from "./expectations.js";
import { NewDefinitionFinalizer } from "./finalizer-writes.js";
import { InstanceChanges } from "./instance-changes.js";
import { controllingDefinition, viewInstance } from "./instances.js";
import { dependentsIn, instancesControlledBy, instancesOnNode, instancesOwnedBy } from "../indexes.js";
import { nodeIsReady } from "../../api/vocabulary.js";
import { REPOSITORY_RECHECK_MS, RepositoryCommits, pinnedRunTemplate } from "./repository-commits.js";
import { planRollout, rolloutSettings, type RolloutPlan } from "./rollout.js";
import { desiredReplicas } from "./definition-status.js";
import { DefinitionStatusWrites } from "./status-write.js";
import { nextPassAfter } from "./next-pass.js";

export const DEFINITION_CONTROLLER = "definition";

export class DefinitionReconciler implements Reconciler {
  private readonly expectations: Expectations;
  private readonly changes: InstanceChanges;
  private readonly statusWrites: DefinitionStatusWrites;
  private readonly commits: RepositoryCommits;
  private readonly finalizer: NewDefinitionFinalizer;
  /** Where a Definition whose repository lookup ended is sent (its controller's queue). */
  onRepositoryResolved: (key: string) => void = () => undefined;

  constructor(private readonly context: ControllerContext) {
    this.expectations = new Expectations(context.caches.instances);
    this.changes = new InstanceChanges(context, this.expectations);
    this.statusWrites = new DefinitionStatusWrites(context);
    this.finalizer = new NewDefinitionFinalizer(context);
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
    const { caches } = this.context;
    const namespace = request.namespace ?? "default";
    const cached = caches.definitions.get(namespace, request.name);
    if (!cached) {
      this.forget(request.key, namespace, request.name);
      return;
    }
    // Asked before the cache is looked at: once satisfied, what this pass plans from shows
    // every create and delete it waited for (expectations.ts).
    const caughtUp = this.expectations.satisfied(request.key, caches.instances, this.context.clock.now());
    const owned = instancesOwnedBy(caches.instances, cached);

    if (cached.metadata.deletionTimestamp !== undefined) {
      const removed = await finalizeDefinition(this.context, cached, owned, ctx.log, this.changes);
      return removed ? undefined : { requeueAfterMs: DELETION_RECHECK_MS };
    }
    // A new Definition's finalizer goes on while its first Instances are created: a round
    // trip less before they start (finalizer-writes.ts says what happens when it cannot go on).
    const finalized = this.finalizer.putOn(cached);
    finalized.catch(() => undefined);
    const created: Instance[] = [];
    const withFinalizer = (): Promise<Definition> => this.finalizer.awaitOn(finalized, created, ctx);
    const definition = cached;

    const source = this.runTemplate(definition, request.key);
    // The first lookup of this repository runs without this worker; its end brings the next pass.
    if (source === "pending") {
      await withFinalizer();
      return { requeueAfterMs: REPOSITORY_RECHECK_MS };
    }
    const { template, sourceProblem } = source;
    const { deploymentId, dependencies, views, plan, now } = await this.planPass(definition, owned, source);

    let waitingForCache = false;
    if (sourceProblem) {
      ctx.log.info("repository ref not resolved, changing no Instances", { reason: sourceProblem.reason });
    } else {
      const pass = { deploymentId, template, plan, owned, caughtUp };
      const changed = await this.changeInstances(request.key, definition, pass, ctx).catch(async (err) => {
        await withFinalizer();
        throw err;
      });
      if (changed) created.push(...changed);
      else waitingForCache = true;
    }

    const stored = await withFinalizer();
    const statusDelayMs = await this.statusWrites.write({
      definition: stored,
      deploymentId,
      owned,
      created,
      views,
      dependencies,
      plan,
      sourceProblem,
    });
    this.context.trace.definitionPassed(definition);
    if (sourceProblem) this.reportSourceProblem(cached, sourceProblem);
    else this.reportDependencies(cached, dependencies);

    return nextPassAfter({
      statusDelayMs,
      hasRepository: definition.spec.repository !== undefined,
      cacheWaitMs: waitingForCache ? this.expectations.remainingMs(request.key, now) : undefined,
      plan,
      now,
    });
  }

  /**
   * Creates and deletes what the plan says, or undefined while the cache has yet to show
   * this controller's earlier changes (then nothing is changed); the Instances created.
   */
  private async changeInstances(
    key: string,
    definition: Definition,
    pass: {
      deploymentId: string;
      template: RunTemplate;
      plan: RolloutPlan;
      owned: readonly Instance[];
      caughtUp: boolean;
    },
    ctx: ReconcileContext,
  ): Promise<Instance[] | undefined> {
    if (!pass.caughtUp) {
      ctx.log.debug("waiting for the cache to show earlier changes", {});
      return undefined;
    }
    const { deploymentId, template, plan, owned } = pass;
    return await this.changes.carryOut(key, definition, deploymentId, template, plan, owned, ctx);
  }

  /** The deployment that should run, what its dependencies say, and the rollout's next step. */
  private async planPass(
    definition: Definition,
    owned: readonly Instance[],
    source: { template: RunTemplate; sourceProblem?: SourceError; commit?: string },
  ) {
    const { caches, clock } = this.context;
    const namespace = definition.metadata.namespace ?? "default";
    const name = definition.metadata.name ?? "";
    const { template, sourceProblem, commit } = source;
    // Unresolved, the Definition keeps the deployment it has and starts no new one.
    const deploymentId = sourceProblem
      ? (definition.status?.deploymentId ?? "")
      : computeDeploymentId(
          definition.spec,
          await this.context.referencedContent.of(namespace, template),
          commit ? { commit } : undefined,
        );
    const dependencies = checkDependencies(name, this.dependencyGraph(namespace), (dep) =>
      this.hasReadyInstance(namespace, dep),
    );
    const dependenciesBlock = dependencies.missing.length > 0 || dependencies.cycle !== undefined;
    const now = clock.now();
    const views = owned.map((i) => viewInstance(i, (node) => caches.nodes.get(undefined, node)));
    const plan = planRollout({
      replicas: desiredReplicas(definition),
      deploymentId,
      settings: rolloutSettings(definition.spec),
      instances: views,
      allowCreate: !dependenciesBlock && dependencies.notReady.length === 0,
      now,
    });
    return { deploymentId, dependencies, views, plan, now };
  }

  /**
   * What runs: a repository's ref is resolved to a commit, which is part of what runs and so
   * of the deploymentId; "pending" while the first lookup of the repository runs.
   */
  private runTemplate(
    definition: Definition,
    key: string,
  ): "pending" | { template: RunTemplate; sourceProblem?: SourceError; commit?: string } {
    const template = runTemplateOf(definition.spec);
    if (!definition.spec.repository) return { template };
    this.commits.prune();
    const resolved = this.commits.resolve(definition.spec.repository, key);
    if ("pending" in resolved) return "pending";
    if ("error" in resolved) return { template, sourceProblem: resolved.error };
    return { template: pinnedRunTemplate(template, resolved.commit), commit: resolved.commit };
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

  /** The namespace's dependsOn, looked up in the cache (not copied from it) as the walk needs it. */
  private dependencyGraph(namespace: string): DependencyGraph {
    const definitions = this.context.caches.definitions;
    return {
      get: (name) => {
        const found = definitions.get(namespace, name);
        return found ? (found.spec.dependsOn ?? []) : undefined;
      },
      has: (name) => definitions.get(namespace, name) !== undefined,
    };
  }

  private hasReadyInstance(namespace: string, definition: string): boolean {
    const { caches } = this.context;
    return instancesControlledBy(caches.instances, namespace, definition).some(
      (i) =>
        i.metadata.deletionTimestamp === undefined &&
        viewInstance(i, (node) => caches.nodes.get(undefined, node)).ready,
    );
  }

  /** Whether a change of the Definition in the cache can change what its pass does (own-status-writes.ts). */
  passNeeded(before: Definition, after: Definition): boolean {
    return this.statusWrites.ownWrites.passNeeded(before, after);
  }

  private forget(key: string, namespace: string, name: string): void {
    this.expectations.lower(key);
    this.finalizer.forget(key);
    this.statusWrites.forget(key, namespace, name);
  }
}

/** Builds the controller with its watches: what change of which kind needs which Definition. */
export function newDefinitionController(
  context: ControllerContext,
  reconciler = new DefinitionReconciler(context),
): Controller {
  const { caches } = context;
  const controller = controllerFor(
    context,
    DEFINITION_CONTROLLER,
    reconciler,
    context.settings.definitionWorkers,
  );
  reconciler.onRepositoryResolved = (key) => controller.enqueue(key);
  const withDependents = (namespace: string, names: string[]): string[] => {
    const keys = new Set<string>();
    for (const name of names) {
      keys.add(`${namespace}/${name}`);
      for (const dependent of dependentsIn(caches.definitions, namespace, name))
        keys.add(`${namespace}/${dependent}`);
    }
    return [...keys];
  };
  // Its own status writes and discovery's condition are no news to its pass.
  controller.for(caches.definitions, {
    updatePredicate: (before, after) => reconciler.passNeeded(before, after),
  });
  // A Definition appearing, changing or going decides whether its dependents may start.
  controller.watches(caches.definitions, (d) =>
    withDependents(d.metadata.namespace ?? "default", [d.metadata.name ?? ""]).slice(1),
  );
  // An Instance changing moves its owner's status, and its readiness gates the owner's dependents.
  controller.watches(caches.instances, (i) => {
    const owner = controllingDefinition(i);
    return owner ? withDependents(i.metadata.namespace ?? "default", [owner]) : [];
  });
  // A Node's readiness decides whether its Instances count as ready: nothing else of it
  // (its status carries usage, rewritten with every binding) changes a Definition's pass.
  controller.watches(
    caches.nodes,
    (node) => {
      const keys = new Set<string>();
      for (const i of instancesOnNode(caches.instances, node.metadata.name ?? "")) {
        const owner = controllingDefinition(i);
        if (owner)
          for (const key of withDependents(i.metadata.namespace ?? "default", [owner])) keys.add(key);
      }
      return [...keys];
    },
    (before, after) => nodeIsReady(before) !== nodeIsReady(after),
  );
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
