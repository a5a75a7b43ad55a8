/**
 * Which failures of an Instance's deployment step are retried, and how that is said. Every
 * failure the Instance's status reports goes through the agent's one retry policy
 * (RetryBackoff: seconds, doubling, up to minutes); the reasons below are the exceptions.
 */
import { DockerError } from "../docker/errors.js";
import { EnvironmentError } from "../environment/resolve.js";
import { SourceError } from "../source/errors.js";
import { CommandFailedError } from "./command-failure.js";
import { ContainerConfigError } from "./container-request.js";
import { ENVIRONMENT_NOT_DELIVERED } from "./environment.js";
import { FINAL_SOURCE_REASONS } from "./images.js";

/** Reasons retrying cannot fix until the Instance changes: its run template or commit is wrong. */
export const TERMINAL_REASONS: ReadonlySet<string> = new Set([
  "InvalidTemplate",
  "InvalidResources",
  "InvalidContainerSpec",
  "InvalidImageName",
  "CommandNotFound",
  "CommandNotExecutable",
  ...FINAL_SOURCE_REASONS,
]);

/**
 * The engine does not answer: ContainerReady becomes Unknown, and every Instance waiting on
 * these is tried again as soon as the engine's event stream is back.
 */
export const ENGINE_DOWN_REASONS: ReadonlySet<string> = new Set(["EngineUnreachable", "DockerTimeout"]);

/**
 * Waiting, not failing: on another Definition, or on the controller to deliver the
 * environment. The Instance stays Scheduled and is looked at again on a fixed short period
 * (a delivery wakes it sooner).
 */
export const WAITING_REASONS: ReadonlySet<string> = new Set([
  "DependencyNotReady",
  ENVIRONMENT_NOT_DELIVERED,
]);
export const WAITING_RECHECK_MS = 5000;
/**
 * The agent often sees a new binding before the controller has delivered its environment
 * (the delivery follows the binding). For this long after it first found the environment
 * missing it waits without a word (the delivery wakes it); only then does it write
 * EnvironmentNotDelivered and say it in an Event. Said at once, the race cost every new
 * Instance a status write and an Event.
 */
export const ENVIRONMENT_DELIVERY_GRACE_MS = 10_000;

/** A failure of the deployment step, reported on the Instance (API errors are the work queue's). */
export type DeploymentFailure = ContainerConfigError | EnvironmentError | DockerError | SourceError;

export function isDeploymentFailure(err: unknown): err is DeploymentFailure {
  return (
    err instanceof ContainerConfigError ||
    err instanceof EnvironmentError ||
    err instanceof DockerError ||
    err instanceof SourceError
  );
}

/** "5 s", "1 min 20 s": the wait before the next try, for a person. */
export function describeWait(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return rest === 0 ? `${minutes} min` : `${minutes} min ${rest} s`;
}

/**
 * What is done about a failed step: `wait` looks again on a short fixed period (the Instance
 * stays Scheduled), `terminal` stops until the Instance changes, `retry` tries again on the
 * retry policy's back-off.
 */
export type FailureHandling = "wait" | "terminal" | "retry";

export interface FailureClassification {
  reason: string;
  handling: FailureHandling;
  /** The engine did not answer: whether the container runs is unknown. */
  engineDown: boolean;
  /** The container the status keeps naming: the one whose command failed, or while the engine is down the last known one. */
  containerId?: string;
}

/** Classifies a failed deployment step; `lastContainerId` is the one the Instance's status names. */
export function classifyFailure(
  err: DeploymentFailure,
  lastContainerId: string | undefined,
): FailureClassification {
  const reason = err.reason;
  const engineDown = ENGINE_DOWN_REASONS.has(reason);
  const handling: FailureHandling = WAITING_REASONS.has(reason)
    ? "wait"
    : TERMINAL_REASONS.has(reason)
      ? "terminal"
      : "retry";
  const containerId =
    err instanceof CommandFailedError ? err.containerId : engineDown ? lastContainerId : undefined;
  return { reason, handling, engineDown, ...(containerId ? { containerId } : {}) };
}
