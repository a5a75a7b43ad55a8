/**
 * Definition status, rebuilt from the world on every pass: counts and addresses from the
 * Instances, and the conditions Ready, Progressing and Degraded with reasons a person can
 * act on. Pure; lastTransitionTime is kept by the runtime's setCondition when the status
 * of a condition does not flip.
 *
 * Progressing is about a rollout only: a new deploymentId, or Instances being created
 * (scaling, replacing a lost one). It is complete once every current Instance exists and
 * has been ready; an Instance that fails its health check later is InstancesUnhealthy
 * (Ready and Degraded), never a stalled rollout.
 *
 * Reasons (documented for users in docs/controller.md):
 *   Ready        True:  InstancesReady, ScaledToZero
 *                False: DependencyCycle, DependencyMissing, DependenciesNotReady,
 *                       Unschedulable, InstancesFailed, InstancesUnhealthy, InstancesNotReady
 *   Progressing  True:  RolloutInProgress, RolloutComplete
 *                False: ProgressDeadlineExceeded, WaitingForDependencies, DependencyCycle,
 *                       DependencyMissing
 *   Degraded     True:  DependencyCycle, DependencyMissing, Unschedulable, InstancesFailed,
 *                       InstancesUnhealthy, ProgressDeadlineExceeded
 *                False: AsExpected
 */
import { CONDITIONS } from "../../api/vocabulary.js";
import type { Definition, DefinitionStatus } from "../../api/types.js";
import type { DependencyCheck } from "./dependencies.js";
import { compareStrings } from "./deployment-id.js";
import type { InstanceView } from "./instances.js";
import { wasReadyOnce } from "./instances.js";
import type { RolloutPlan } from "./rollout.js";

/** A condition before timestamps: what the runtime's setCondition merges into the list. */
export interface ConditionSpec {
  type: (typeof CONDITIONS)["ready" | "progressing" | "degraded"];
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

export interface StatusInput {
  definition: Definition;
  deploymentId: string;
  /** The Instances the Definition owns, terminating ones included. */
  instances: readonly InstanceView[];
  dependencies: DependencyCheck;
  plan: RolloutPlan;
}

export interface AggregatedStatus {
  /** Every status field but conditions. */
  fields: Omit<DefinitionStatus, "conditions">;
  conditions: ConditionSpec[];
}

export function desiredReplicas(definition: Definition): number {
  return definition.spec.replicas ?? 1;
}

export function aggregateStatus(input: StatusInput): AggregatedStatus {
  const { definition, deploymentId, dependencies } = input;
  const desired = desiredReplicas(definition);
  const active = input.instances.filter((i) => !i.terminating);
  const ready = active.filter((i) => i.ready);
  const updated = active.filter((i) => i.deploymentId === deploymentId);
  const addresses = [...new Set(ready.flatMap((i) => (i.address ? [i.address] : [])))].sort(compareStrings);

  const fields: AggregatedStatus["fields"] = {
    deploymentId,
    replicas: active.length,
    readyReplicas: ready.length,
    updatedReplicas: updated.length,
    readySummary: `${ready.length}/${desired}`,
    addresses,
  };
  if (definition.metadata.generation !== undefined)
    fields.observedGeneration = definition.metadata.generation;

  const namespace = definition.metadata.namespace ?? "default";
  const problem = problemOf(input, active, namespace);
  const conditions: ConditionSpec[] = [
    readyCondition(desired, ready.length, problem),
    progressingCondition(input, desired, updated, ready.length, dependencies),
    problem && problem.degrades
      ? { type: CONDITIONS.degraded, status: "True", reason: problem.reason, message: problem.message }
      : {
          type: CONDITIONS.degraded,
          status: "False",
          reason: "AsExpected",
          message: "Nothing needs attention.",
        },
  ];
  return { fields, conditions };
}

interface Problem {
  reason: string;
  message: string;
  /** Needs a person (Degraded=True), rather than time. */
  degrades: boolean;
}

/** The most important thing standing between the Definition and its desired state. */
function problemOf(
  input: StatusInput,
  active: readonly InstanceView[],
  namespace: string,
): Problem | undefined {
  const { dependencies, plan } = input;
  if (dependencies.cycle) {
    return {
      reason: "DependencyCycle",
      message: `dependsOn forms a cycle: ${dependencies.cycle.join(" -> ")}. No Instance starts until one of these Definitions stops depending on the next.`,
      degrades: true,
    };
  }
  if (dependencies.missing.length > 0) {
    return {
      reason: "DependencyMissing",
      message: `dependsOn names ${list(dependencies.missing)}, which ${dependencies.missing.length === 1 ? "does" : "do"} not exist in namespace ${namespace}. Create ${dependencies.missing.length === 1 ? "it" : "them"} or remove ${dependencies.missing.length === 1 ? "it" : "them"} from dependsOn.`,
      degrades: true,
    };
  }
  const unschedulable = active.filter((i) => i.unschedulable !== undefined);
  if (unschedulable.length > 0) {
    const first = unschedulable[0]!;
    return {
      reason: "Unschedulable",
      message: `${unschedulable.length} Instance${unschedulable.length === 1 ? "" : "s"} cannot be placed on a node (${first.name}: ${first.unschedulable?.message ?? "no node fits"}).`,
      degrades: true,
    };
  }
  const failed = active.filter((i) => i.phase === "Failed");
  if (failed.length > 0) {
    const first = failed[0]!;
    return {
      reason: "InstancesFailed",
      message: `${failed.length} Instance${failed.length === 1 ? "" : "s"} failed (${first.name}: ${first.message ?? "see kubectl describe instance " + first.name}).`,
      degrades: true,
    };
  }
  const unhealthy = active.filter((i) => i.healthCheckFailure !== undefined && wasReadyOnce(i));
  if (unhealthy.length > 0) {
    const first = unhealthy[0]!;
    return {
      reason: "InstancesUnhealthy",
      message: `${unhealthy.length} Instance${unhealthy.length === 1 ? "" : "s"} ${unhealthy.length === 1 ? "fails its" : "fail their"} health check (${first.name}: ${first.healthCheckFailure}).`,
      degrades: true,
    };
  }
  if (plan.stalled) {
    return { reason: "ProgressDeadlineExceeded", message: stalledMessage(input, active), degrades: true };
  }
  if (dependencies.notReady.length > 0 && !plan.complete) {
    return {
      reason: "DependenciesNotReady",
      message: `Waiting for ${list(dependencies.notReady)} to have a ready Instance before starting Instances.`,
      degrades: false,
    };
  }
  return undefined;
}

function readyCondition(desired: number, ready: number, problem: Problem | undefined): ConditionSpec {
  if (desired === 0) {
    return {
      type: CONDITIONS.ready,
      status: "True",
      reason: "ScaledToZero",
      message: "replicas is 0: nothing to run.",
    };
  }
  if (ready >= desired) {
    return {
      type: CONDITIONS.ready,
      status: "True",
      reason: "InstancesReady",
      message: `${ready} of ${desired} Instances are ready.`,
    };
  }
  if (problem && problem.reason !== "ProgressDeadlineExceeded") {
    return {
      type: CONDITIONS.ready,
      status: "False",
      reason: problem.reason,
      message: `${ready} of ${desired} Instances are ready. ${problem.message}`,
    };
  }
  return {
    type: CONDITIONS.ready,
    status: "False",
    reason: "InstancesNotReady",
    message: `${ready} of ${desired} Instances are ready; the others are starting or failing their health check.`,
  };
}

function progressingCondition(
  input: StatusInput,
  desired: number,
  updated: readonly InstanceView[],
  ready: number,
  dependencies: DependencyCheck,
): ConditionSpec {
  const { plan, deploymentId } = input;
  if (dependencies.cycle) {
    return {
      type: CONDITIONS.progressing,
      status: "False",
      reason: "DependencyCycle",
      message: "Blocked by a dependsOn cycle (see Degraded).",
    };
  }
  if (dependencies.missing.length > 0) {
    return {
      type: CONDITIONS.progressing,
      status: "False",
      reason: "DependencyMissing",
      message: `Blocked: ${list(dependencies.missing)} missing (see Degraded).`,
    };
  }
  if (plan.complete) {
    return {
      type: CONDITIONS.progressing,
      status: "True",
      reason: "RolloutComplete",
      message: `Deployment ${deploymentId} is rolled out: ${desired} Instance${desired === 1 ? "" : "s"} ready.`,
    };
  }
  if (plan.stalled) {
    return {
      type: CONDITIONS.progressing,
      status: "False",
      reason: "ProgressDeadlineExceeded",
      message: stalledMessage(
        input,
        input.instances.filter((i) => !i.terminating),
      ),
    };
  }
  if (dependencies.notReady.length > 0 && updated.length < desired) {
    return {
      type: CONDITIONS.progressing,
      status: "False",
      reason: "WaitingForDependencies",
      message: `Waiting for ${list(dependencies.notReady)} to have a ready Instance.`,
    };
  }
  return {
    type: CONDITIONS.progressing,
    status: "True",
    reason: "RolloutInProgress",
    message: `Deployment ${deploymentId}: ${updated.length} of ${desired} Instances updated, ${ready} ready.`,
  };
}

/**
 * A rollout that made no progress: how far the current deployment got and why, and that
 * old Instances keep serving only when there are ready old Instances.
 */
function stalledMessage(input: StatusInput, active: readonly InstanceView[]): string {
  const { deploymentId } = input;
  const desired = desiredReplicas(input.definition);
  const current = active.filter((i) => i.deploymentId === deploymentId);
  const oldServing = active.filter((i) => i.deploymentId !== deploymentId && i.ready).length;
  const stuck = current.find((i) => !wasReadyOnce(i));
  const why = stuck
    ? ` ${stuck.name} is not ready: ${stuck.healthCheckFailure ?? stuck.message ?? `phase ${stuck.phase ?? "Pending"}`}.`
    : "";
  const progress = `${current.filter(wasReadyOnce).length} of ${desired} Instances of deployment ${deploymentId} became ready within progressDeadlineSeconds.${why}`;
  const serving =
    oldServing > 0 ? ` The rollout is stopped and the old Instances keep serving (${oldServing} ready).` : "";
  return `${progress}${serving} See kubectl get instances -l berth.dev/deployment-id=${deploymentId}.`;
}

function list(names: readonly string[]): string {
  return names.join(", ");
}
