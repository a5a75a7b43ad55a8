/**
 * The rollout planner: from the desired replica count, the current deploymentId and the
 * Instances that exist, decide which Instances to create and which to delete on this pass.
 * Pure; the Definition controller carries the plan out and runs the planner again on the
 * next event, so each pass only takes the next safe step.
 *
 * RollingUpdate keeps at least `replicas - maxUnavailable` Instances ready and never more
 * than `replicas + maxSurge` Instances in existence; with the defaults (maxSurge 1,
 * maxUnavailable 0) an old Instance is removed only once a new one is ready. Recreate
 * removes every old Instance, waits until they are gone, then creates the new ones.
 */
import type { DefinitionSpec } from "../../api/types.js";
import { compareStrings } from "./deployment-id.js";
import type { InstanceView } from "./instances.js";
import { wasReadyOnce } from "./instances.js";

export interface RolloutSettings {
  strategy: "RollingUpdate" | "Recreate";
  maxSurge: number;
  maxUnavailable: number;
  progressDeadlineSeconds: number;
}

export const DEFAULT_ROLLOUT: RolloutSettings = {
  strategy: "RollingUpdate",
  maxSurge: 1,
  maxUnavailable: 0,
  progressDeadlineSeconds: 300,
};

/**
 * The spec's rollout settings with defaults. maxSurge and maxUnavailable both 0 could never
 * make a step, so maxSurge counts as 1 then (the Deployment controller rejects that spec;
 * here the CRD cannot express the rule, so the planner absorbs it).
 */
export function rolloutSettings(spec: DefinitionSpec): RolloutSettings {
  const rollout = spec.rollout ?? {};
  const settings: RolloutSettings = {
    strategy: rollout.strategy ?? DEFAULT_ROLLOUT.strategy,
    maxSurge: rollout.maxSurge ?? DEFAULT_ROLLOUT.maxSurge,
    maxUnavailable: rollout.maxUnavailable ?? DEFAULT_ROLLOUT.maxUnavailable,
    progressDeadlineSeconds: rollout.progressDeadlineSeconds ?? DEFAULT_ROLLOUT.progressDeadlineSeconds,
  };
  if (settings.maxSurge === 0 && settings.maxUnavailable === 0) settings.maxSurge = 1;
  return settings;
}

export interface RolloutInput {
  replicas: number;
  deploymentId: string;
  settings: RolloutSettings;
  /** Every Instance the Definition owns, terminating ones included. */
  instances: readonly InstanceView[];
  /** False while dependencies are not ready (or invalid): nothing new may start. */
  allowCreate: boolean;
  /** Milliseconds since the epoch. */
  now: number;
}

export interface RolloutPlan {
  /** How many new Instances (current deploymentId) to create. */
  create: number;
  /** Names of Instances to delete. */
  delete: string[];
  /**
   * Every desired Instance runs the current deploymentId and has been ready (it may fail its
   * health check since: that is an unhealthy Instance, not a rollout); no old one is left.
   */
  complete: boolean;
  /** The rollout made no progress for progressDeadlineSeconds. */
  stalled: boolean;
  /** When the rollout last made progress (a new Instance created or ready), if it has begun. */
  lastProgressAt?: number;
  /** When the rollout will count as stalled if nothing happens before; for a timed requeue. */
  deadlineAt?: number;
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const { replicas, deploymentId, settings, now } = input;
  const active = input.instances.filter((i) => !i.terminating);
  const current = active.filter((i) => i.deploymentId === deploymentId);
  const old = active.filter((i) => i.deploymentId !== deploymentId);
  const oldTerminating = input.instances.some((i) => i.terminating && i.deploymentId !== deploymentId);

  const complete = old.length === 0 && current.length === replicas && current.every(wasReadyOnce);
  const progress = progressOf(current, complete, settings, now);
  const plan: RolloutPlan = { create: 0, delete: [], complete, ...progress };

  // More current Instances than wanted (replicas lowered): remove the least useful first.
  const surplus = Math.max(0, current.length - replicas);
  const keptCurrent = byRemovalPreference(current).slice(surplus);
  plan.delete.push(
    ...byRemovalPreference(current)
      .slice(0, surplus)
      .map((i) => i.name),
  );

  if (settings.strategy === "Recreate") {
    if (old.length > 0) {
      // Taking a working service down is only worth it when the new one may start.
      if (input.allowCreate) plan.delete.push(...old.map((i) => i.name));
      return plan;
    }
    if (!oldTerminating && input.allowCreate) plan.create = Math.max(0, replicas - keptCurrent.length);
    return withCreationProgress(plan, settings, now);
  }

  // Old Instances that are not ready serve nobody: they go at once.
  const oldReady = old.filter((i) => i.ready);
  plan.delete.push(...old.filter((i) => !i.ready).map((i) => i.name));

  const minAvailable = Math.max(0, replicas - settings.maxUnavailable);
  const available = keptCurrent.filter((i) => i.ready).length + oldReady.length;
  const removableReady = progress.stalled ? 0 : Math.max(0, available - minAvailable);
  const removeReady = Math.min(oldReady.length, removableReady);
  plan.delete.push(
    ...byRemovalPreference(oldReady)
      .slice(0, removeReady)
      .map((i) => i.name),
  );

  if (input.allowCreate) {
    const total = keptCurrent.length + oldReady.length - removeReady;
    plan.create = Math.max(0, Math.min(replicas - keptCurrent.length, replicas + settings.maxSurge - total));
  }
  return withCreationProgress(plan, settings, now);
}

/** Creating Instances (a scale-up, a lost one replaced) is progress: the deadline starts now. */
function withCreationProgress(plan: RolloutPlan, settings: RolloutSettings, now: number): RolloutPlan {
  if (plan.create === 0) return plan;
  return {
    ...plan,
    stalled: false,
    lastProgressAt: now,
    deadlineAt: now + settings.progressDeadlineSeconds * 1000,
  };
}

function progressOf(
  current: readonly InstanceView[],
  complete: boolean,
  settings: RolloutSettings,
  now: number,
): Pick<RolloutPlan, "stalled" | "lastProgressAt" | "deadlineAt"> {
  if (complete || current.length === 0) return { stalled: false };
  // Progress is read from the world, so it survives a controller restart: the newest
  // creation or readiness among the current Instances.
  const lastProgressAt = Math.max(
    ...current.map((i) => Math.max(i.createdAt, i.readySince ?? 0, i.firstReadyAt ?? 0)),
  );
  const deadlineAt = lastProgressAt + settings.progressDeadlineSeconds * 1000;
  return { stalled: now >= deadlineAt, lastProgressAt, deadlineAt };
}

/**
 * Order in which Instances are removed: unbound first, then not ready, then the newest,
 * then by name (deterministic).
 */
export function byRemovalPreference(instances: readonly InstanceView[]): InstanceView[] {
  const rank = (i: InstanceView): number => (i.nodeName === undefined ? 0 : i.ready ? 2 : 1);
  return [...instances].sort(
    (a, b) => rank(a) - rank(b) || b.createdAt - a.createdAt || compareStrings(b.name, a.name),
  );
}
