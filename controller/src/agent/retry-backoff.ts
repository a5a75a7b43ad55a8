/**
 * The agent's one retry policy for a failed deployment step (pull, build, create, start,
 * any engine error): per Instance, the next try waits baseMs, then twice that, up to maxMs,
 * as the kubelet's image pull back-off does. The work queue's own back-off starts at
 * milliseconds, which is right for a conflict on a write but not for a step that creates a
 * container each try; and any event about the Instance (its own container being removed,
 * its status being written) would wake it early. So every pass asks remainingMs first.
 *
 * A failure that retrying cannot fix (an invalid spec, a command that does not exist) stops
 * the Instance until it changes: its generation is remembered, and a new one starts afresh.
 */

export interface RetryBackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY_BACKOFF: RetryBackoffOptions = { baseMs: 5000, maxMs: 5 * 60_000 };

interface Entry {
  failures: number;
  /** When the next try may run; Infinity once stopped. */
  retryAt: number;
  reason: string;
  generation: number | undefined;
}

export interface FailureStep {
  /** How long to wait before the next try. */
  waitMs: number;
  /** Failures in a row, this one included. */
  failures: number;
}

export class RetryBackoff {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: RetryBackoffOptions = DEFAULT_RETRY_BACKOFF) {}

  /** Records a failure of the key's step at `now`; returns how long to wait before the next try. */
  failed(key: string, now: number, reason: string, generation: number | undefined): FailureStep {
    const previous = this.current(key, generation);
    const failures = (previous?.failures ?? 0) + 1;
    const waitMs = Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(failures - 1, 30));
    this.entries.set(key, { failures, retryAt: now + waitMs, reason, generation });
    return { waitMs, failures };
  }

  /** The reason of the key's last failure, while it is remembered. */
  lastReason(key: string): string | undefined {
    return this.entries.get(key)?.reason;
  }

  /** A failure retrying cannot fix: no try until the key's generation changes. */
  stop(key: string, reason: string, generation: number | undefined): void {
    const failures = (this.current(key, generation)?.failures ?? 0) + 1;
    this.entries.set(key, { failures, retryAt: Number.POSITIVE_INFINITY, reason, generation });
  }

  /**
   * How long the key must still wait before its step runs again: 0 when it may run now,
   * Infinity while it is stopped at this generation.
   */
  remainingMs(key: string, now: number, generation: number | undefined): number {
    const entry = this.current(key, generation);
    return entry ? Math.max(0, entry.retryAt - now) : 0;
  }

  /** The step succeeded (or the key is gone): the next failure starts from the base again. */
  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Lets every key that waits for one of these reasons try again now; returns those keys. */
  releaseReasons(reasons: ReadonlySet<string>): string[] {
    const released: string[] = [];
    for (const [key, entry] of this.entries) {
      if (!reasons.has(entry.reason)) continue;
      this.entries.delete(key);
      released.push(key);
    }
    return released;
  }

  private current(key: string, generation: number | undefined): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.generation !== generation) {
      // The Instance changed since it failed: whatever was wrong may be fixed.
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}
