/**
 * Pure helpers that turn what the agent observed about an Instance's container into the
 * Instance status it writes, and decide which changes deserve an Event.
 */
import type { Condition, InstanceAddress, InstancePhase, InstanceStatus } from "../api/types.js";
import { CONDITIONS } from "../api/vocabulary.js";
import { capMessage, getCondition, setCondition, toTimestamp } from "../runtime/conditions.js";

/**
 * Reasons the agent writes. The Docker failure reasons (ImageNotFound, HostPortInUse,
 * EngineUnreachable, ...) come from the Docker module's errors and are used as they are.
 */
export const REASONS = {
  scheduled: "Scheduled",
  containerRunning: "ContainerRunning",
  containerCreating: "ContainerCreating",
  containerRemovedExternally: "ContainerRemovedExternally",
  pulling: "Pulling",
  building: "Building",
  crashLoopBackOff: "CrashLoopBackOff",
  containerExited: "ContainerExited",
  healthCheckPassed: "HealthCheckPassed",
  healthCheckPending: "HealthCheckPending",
  healthCheckFailed: "HealthCheckFailed",
  containerNotReady: "ContainerNotReady",
  terminating: "Terminating",
} as const;

export interface ConditionState {
  status: Condition["status"];
  reason: string;
  message: string;
}

/** What one reconcile pass found, in the terms of the status it writes. */
export interface Observed {
  phase: InstancePhase;
  containerReady: ConditionState;
  ready: ConditionState;
  containerId?: string;
  address?: InstanceAddress;
  restarts: number;
  lastProbeTime?: string;
  message: string;
}

/**
 * The whole status for an observation. Conditions keep their lastTransitionTime unless
 * their status flips; fields the observation leaves out are dropped, so a status never
 * keeps a stale containerId or address.
 */
export function composeStatus(
  current: InstanceStatus | undefined,
  observed: Observed,
  nodeName: string,
  generation: number | undefined,
  now: number,
): InstanceStatus {
  const withGeneration = (state: ConditionState & { type: string }) =>
    generation !== undefined ? { ...state, observedGeneration: generation } : state;
  let conditions = current?.conditions;
  conditions = setCondition(
    conditions,
    withGeneration({
      type: CONDITIONS.scheduled,
      status: "True",
      reason: REASONS.scheduled,
      message: `bound to node ${nodeName}`,
    }),
    now,
  );
  conditions = setCondition(
    conditions,
    withGeneration({ type: CONDITIONS.containerReady, ...observed.containerReady }),
    now,
  );
  conditions = setCondition(conditions, withGeneration({ type: CONDITIONS.ready, ...observed.ready }), now);
  const status: InstanceStatus = {
    phase: observed.phase,
    ready: observed.ready.status === "True",
    restarts: observed.restarts,
    message: capMessage(observed.message),
    conditions,
  };
  if (observed.containerId) status.containerId = observed.containerId;
  if (observed.address) status.address = observed.address;
  if (observed.lastProbeTime) status.lastProbeTime = observed.lastProbeTime;
  // Once ready, always "was ready once": kept through every later status of the Instance.
  const firstReadyTime = current?.firstReadyTime ?? (status.ready ? toTimestamp(now) : undefined);
  if (firstReadyTime) status.firstReadyTime = firstReadyTime;
  if (generation !== undefined) status.observedGeneration = generation;
  return status;
}

/**
 * The lastProbeTime to write: the newest check time when readiness changed or the
 * written one is older than refreshMs, otherwise the written one. Writing every check's
 * time would turn each health check into an API write.
 */
export function lastProbeTimeToWrite(
  written: string | undefined,
  newest: number | undefined,
  readinessChanged: boolean,
  refreshMs: number,
): string | undefined {
  if (newest === undefined) return written;
  if (!written || readinessChanged) return toTimestamp(newest);
  return newest - Date.parse(written) >= refreshMs ? toTimestamp(newest) : written;
}

/** Reasons that are a person's problem: they get a Warning event when a condition takes them on. */
const NORMAL_REASONS = new Set<string>([
  REASONS.scheduled,
  REASONS.containerRunning,
  REASONS.containerCreating,
  REASONS.pulling,
  REASONS.building,
  REASONS.healthCheckPassed,
  REASONS.healthCheckPending,
  REASONS.containerNotReady,
  REASONS.terminating,
  "DependencyNotReady",
]);

export interface EventToRecord {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/**
 * Events for a status change: one when ContainerReady or Ready takes on a new reason, so
 * a retry loop with the same failure does not repeat itself.
 */
export function eventsForChange(before: InstanceStatus | undefined, after: InstanceStatus): EventToRecord[] {
  const events: EventToRecord[] = [];
  for (const type of [CONDITIONS.containerReady, CONDITIONS.ready]) {
    const previous = getCondition(before?.conditions, type);
    const next = getCondition(after.conditions, type);
    if (!next || (previous && previous.reason === next.reason && previous.status === next.status)) continue;
    if (NORMAL_REASONS.has(next.reason)) continue;
    events.push({ type: "Warning", reason: next.reason, message: next.message });
  }
  return events;
}
