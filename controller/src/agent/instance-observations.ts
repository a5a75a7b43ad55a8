/**
 * Pure builders of what one reconcile pass observed about an Instance's container, in the
 * terms of the status it writes (instance-status.ts turns an observation into the status).
 * One builder per situation, so that each status the agent can write is stated once.
 */
import type { Instance, InstanceAddress } from "../api/types.js";
import { CONDITIONS } from "../api/vocabulary.js";
import { getCondition } from "../runtime/conditions.js";
import { urlHost } from "./container-facts.js";
import type { FailureClassification } from "./failure-policy.js";
import type { ImageStep } from "./images.js";
import type { ConditionState, Observed } from "./instance-status.js";
import { REASONS } from "./instance-status.js";
import type { ResumedVerdict } from "./prober.js";
import type { ProbeState } from "./probe-verdict.js";

/** The Ready condition of an Instance whose container does not run. */
export const NOT_RUNNING: ConditionState = {
  status: "False",
  reason: REASONS.containerNotReady,
  message: "the container is not running",
};

function shortId(containerId: string): string {
  return containerId.slice(0, 12);
}

/** An exited container waiting out its crash-loop back-off before it is restarted. */
export function crashBackOff(exited: {
  exit: string;
  waitMs: number;
  crashes: number;
  containerId: string;
  restarts: number;
}): Observed {
  const restartingIn = `restarting in ${Math.ceil(exited.waitMs / 1000)} s`;
  return {
    phase: "Failed",
    containerReady: {
      status: "False",
      reason: exited.crashes > 1 ? REASONS.crashLoopBackOff : REASONS.containerExited,
      message: `${exited.exit}; ${restartingIn} (back-off after ${exited.crashes} exits in a row)`,
    },
    ready: NOT_RUNNING,
    containerId: exited.containerId,
    restarts: exited.restarts,
    message: `${exited.exit}; ${restartingIn}`,
  };
}

/** A container someone removed without Berth (docker rm): a new one is being created. */
export function removedOutside(containerId: string, restarts: number): Observed {
  const message = `container ${shortId(containerId)} was removed outside Berth (docker rm?); creating a new one`;
  return {
    phase: "Starting",
    containerReady: { status: "False", reason: REASONS.containerRemovedExternally, message },
    ready: NOT_RUNNING,
    restarts,
    message,
  };
}

/** The image is being pulled or built (the step says which, and how far it is). */
export function preparingImage(step: ImageStep, restarts: number): Observed {
  return {
    phase: step.phase,
    containerReady: { status: "False", reason: step.reason, message: step.message },
    ready: NOT_RUNNING,
    restarts,
    message: step.message,
  };
}

/** A running container that cannot be checked yet: `what` says what is missing. */
export function runningUnchecked(containerId: string, what: string, restarts: number): Observed {
  return {
    phase: "Starting",
    containerReady: {
      status: "False",
      reason: REASONS.containerCreating,
      message: `container ${shortId(containerId)} runs but ${what}`,
    },
    ready: { status: "False", reason: REASONS.containerNotReady, message: what },
    containerId,
    restarts,
    message: `waiting: ${what}`,
  };
}

/** What the health check's loop says so far. */
export type ReadinessProbe = Pick<ProbeState, "verdict" | "message" | "lastProbeTime">;

/** The Ready condition from the health check's verdict (none yet: pending). */
export function readinessOf(probe: ReadinessProbe | undefined): ConditionState {
  switch (probe?.verdict ?? "Pending") {
    case "Passed":
      return { status: "True", reason: REASONS.healthCheckPassed, message: probe?.message ?? "" };
    case "Failed":
      return { status: "False", reason: REASONS.healthCheckFailed, message: probe?.message ?? "" };
    default:
      return {
        status: "False",
        reason: REASONS.healthCheckPending,
        message: probe?.lastProbeTime ? probe.message : "waiting for the first health check",
      };
  }
}

/** Where callers reach a container published on the node's address. */
export function instanceAddress(nodeAddress: string, hostPort: number): InstanceAddress {
  return { host: nodeAddress, port: hostPort, url: `http://${urlHost(nodeAddress)}:${hostPort}` };
}

/**
 * A running, published container. It is Running once its health check has passed (now or
 * earlier for this very container), Starting before.
 */
export function running(state: {
  containerId: string;
  wasRunning: boolean;
  probe: ReadinessProbe | undefined;
  address: InstanceAddress;
  restarts: number;
}): Observed {
  const ready = readinessOf(state.probe);
  return {
    phase: state.wasRunning ? "Running" : "Starting",
    containerReady: {
      status: "True",
      reason: REASONS.containerRunning,
      message: `container ${shortId(state.containerId)} is running`,
    },
    ready,
    containerId: state.containerId,
    address: state.address,
    restarts: state.restarts,
    message: ready.status === "True" ? `ready at ${state.address.url}` : ready.message,
  };
}

/** The Instance is being deleted: its container (if any) is being stopped. */
export function terminating(instance: Instance, hasContainers: boolean): Observed {
  const containerId = instance.status?.containerId;
  return {
    phase: "Terminating",
    containerReady: {
      status: hasContainers ? "True" : "False",
      reason: REASONS.terminating,
      message: "stopping the container",
    },
    ready: { status: "False", reason: REASONS.terminating, message: "the Instance is being deleted" },
    ...(containerId ? { containerId } : {}),
    restarts: instance.status?.restarts ?? 0,
    message: "stopping the container",
  };
}

/**
 * A failed deployment step: waiting (on a dependency or a delivery) keeps the Instance
 * Scheduled, anything else is Failed; an engine that does not answer leaves ContainerReady
 * Unknown.
 */
export function deploymentFailed(
  failure: FailureClassification,
  message: string,
  restarts: number,
): Observed {
  return {
    phase: failure.handling === "wait" ? "Scheduled" : "Failed",
    containerReady: { status: failure.engineDown ? "Unknown" : "False", reason: failure.reason, message },
    ready: NOT_RUNNING,
    ...(failure.containerId ? { containerId: failure.containerId } : {}),
    restarts,
    message,
  };
}

/** The readiness an earlier agent process wrote for this very container, if it was ready. */
export function resumedVerdict(instance: Instance, containerId: string): ResumedVerdict | undefined {
  const status = instance.status;
  const ready = getCondition(status?.conditions, CONDITIONS.ready);
  if (status?.ready !== true || status.containerId !== containerId || ready?.status !== "True") {
    return undefined;
  }
  return { verdict: "Passed", message: ready.message };
}
