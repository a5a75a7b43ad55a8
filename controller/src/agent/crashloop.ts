/**
 * Crash-loop backoff for containers that exit. The first exit after a good run restarts
 * at once; each further exit that follows a short run doubles the wait, from base up to
 * max, as the kubelet does. A run longer than resetAfterMs starts the count over.
 *
 * Each interval is measured on one clock: how long a container ran from the engine's own
 * StartedAt and FinishedAt, and when it may restart from the agent's clock at the moment
 * the agent first saw the exit. The engine may be another machine whose clock is off.
 */

export interface CrashLoopOptions {
  baseMs: number;
  maxMs: number;
  /** A container that ran at least this long before exiting is not crash-looping. */
  resetAfterMs: number;
}

export const DEFAULT_CRASH_LOOP: CrashLoopOptions = {
  baseMs: 10_000,
  maxMs: 5 * 60_000,
  resetAfterMs: 10 * 60_000,
};

export interface CrashRecord {
  /** The exited container this record counted (each exit is counted once). */
  containerId: string;
  /** Exits in a row, each after a short run. */
  crashes: number;
  /** Earliest time (ms, the agent's clock) the next container may start. */
  restartAt: number;
}

/** The wait before restart number `crashes` (1 is the first exit). */
export function crashBackoffMs(crashes: number, options: CrashLoopOptions): number {
  if (crashes <= 1) return 0;
  return Math.min(options.maxMs, options.baseMs * 2 ** (crashes - 2));
}

/**
 * Folds one exited container into the record (`seenAt`: when the agent first saw it exited). Calling it again for the same container
 * returns the record unchanged, so a level-based reconcile can call it on every pass.
 */
export function recordExit(
  previous: CrashRecord | undefined,
  exit: { containerId: string; ranMs: number; seenAt: number },
  options: CrashLoopOptions,
): CrashRecord {
  if (previous?.containerId === exit.containerId) return previous;
  const crashes = previous && exit.ranMs < options.resetAfterMs ? previous.crashes + 1 : 1;
  return {
    containerId: exit.containerId,
    crashes,
    restartAt: exit.seenAt + crashBackoffMs(crashes, options),
  };
}
