/**
 * The verdict of a run of health checks, pure: thresholds, the start-up phase, and how one
 * check's outcome moves the state. prober.ts keeps one state per loop.
 */
import type { ProbeOutcome, ProbeTarget } from "./probe-checks.js";

/** The interval of a loop's start-up phase (never longer than its own interval). */
export const STARTUP_PROBE_INTERVAL_MS = 1000;

/** How long a loop waits between checks: short until the first verdict, then its interval. */
export function nextProbeDelayMs(target: Pick<ProbeTarget, "intervalMs">, verdict: ProbeVerdict): number {
  return verdict === "Pending" ? Math.min(target.intervalMs, STARTUP_PROBE_INTERVAL_MS) : target.intervalMs;
}

/**
 * The thresholds one check is judged by. Before the first verdict the checks come faster
 * than intervalSeconds, so failureThreshold failures in a row must also span as long as
 * they would at intervalSeconds: a slow starter is never declared failed sooner than the
 * health check's settings promise.
 */
export function thresholdsFor(target: ProbeTarget, verdict: ProbeVerdict): ProbeThresholds {
  const { successThreshold, failureThreshold } = target;
  return verdict === "Pending"
    ? { successThreshold, failureThreshold, minFailingMs: (failureThreshold - 1) * target.intervalMs }
    : { successThreshold, failureThreshold };
}

/** Pending: no verdict yet. Passed: ready. Failed: failureThreshold checks in a row failed. */
export type ProbeVerdict = "Pending" | "Passed" | "Failed";

export interface ProbeState {
  verdict: ProbeVerdict;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  /** The last check's message. */
  message: string;
  /** When the last check finished (ms since the epoch); undefined before the first. */
  lastProbeTime?: number;
  /** When the verdict last changed. */
  verdictSince?: number;
  /** When the current run of failures began; undefined after a success. */
  failingSince?: number;
}

export interface ProbeThresholds {
  successThreshold: number;
  failureThreshold: number;
  /** The run of failures must have lasted at least this long, too (start-up phase). */
  minFailingMs?: number;
}

export const initialProbeState: ProbeState = {
  verdict: "Pending",
  consecutiveSuccesses: 0,
  consecutiveFailures: 0,
  message: "waiting for the first health check",
};

/**
 * Folds one check into the state: successThreshold passes in a row make it Passed,
 * failureThreshold failures in a row make it Failed; anything between keeps the verdict,
 * so one odd result does not flap readiness.
 */
export function recordOutcome(
  state: ProbeState,
  outcome: ProbeOutcome,
  thresholds: ProbeThresholds,
  now: number,
): ProbeState {
  const consecutiveSuccesses = outcome.ok ? state.consecutiveSuccesses + 1 : 0;
  const consecutiveFailures = outcome.ok ? 0 : state.consecutiveFailures + 1;
  const failingSince = outcome.ok ? undefined : (state.failingSince ?? now);
  let verdict = state.verdict;
  if (consecutiveSuccesses >= thresholds.successThreshold) verdict = "Passed";
  else if (
    consecutiveFailures >= thresholds.failureThreshold &&
    now - (failingSince ?? now) >= (thresholds.minFailingMs ?? 0)
  )
    verdict = "Failed";
  const next: ProbeState = {
    verdict,
    consecutiveSuccesses,
    consecutiveFailures,
    message: outcome.message,
    lastProbeTime: now,
  };
  const since = verdict !== state.verdict ? now : state.verdictSince;
  if (since !== undefined) next.verdictSince = since;
  if (failingSince !== undefined) next.failingSince = failingSince;
  return next;
}
