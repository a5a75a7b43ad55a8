/**
 * The verdict of a run of health checks, pure: thresholds, the start-up phase, and how one
 * check's outcome moves the state. prober.ts keeps one state per loop.
 */
import type { ProbeOutcome, ProbeTarget } from "./probe-checks.js";

/** The first wait of a loop's start-up phase; each wait after it doubles. */
export const STARTUP_PROBE_FIRST_DELAY_MS = 25;
/** The longest wait of the start-up phase (never longer than the loop's own interval). */
export const STARTUP_PROBE_INTERVAL_MS = 1000;

/**
 * How long a loop waits before its next check. Until the first verdict the wait is short
 * and grows (25, 50, 100, ... ms, up to 1 s and never past the interval): a server that
 * listens a few milliseconds after its container started is seen at once, one that takes
 * seconds costs a check a second. After the first verdict, the interval. `checksStarted`
 * counts the loop's checks so far.
 */
export function nextProbeDelayMs(
  target: Pick<ProbeTarget, "intervalMs">,
  verdict: ProbeVerdict,
  checksStarted = 1,
): number {
  if (verdict !== "Pending") return target.intervalMs;
  const doublings = Math.min(Math.max(0, checksStarted - 1), 16);
  return Math.min(
    target.intervalMs,
    STARTUP_PROBE_INTERVAL_MS,
    STARTUP_PROBE_FIRST_DELAY_MS * 2 ** doublings,
  );
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
