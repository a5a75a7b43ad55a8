/**
 * Backoff for deployment steps that wait on someone else: a registry that refuses the
 * credentials, a pull secret nobody created yet, a repository that does not answer. The
 * work queue's own backoff starts at milliseconds, which is right for a conflict but turns
 * a refused pull into a burst of pulls; these waits start at seconds and double, as the
 * kubelet's image pull backoff does.
 */

export interface RetryBackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY_BACKOFF: RetryBackoffOptions = { baseMs: 5000, maxMs: 5 * 60_000 };

interface Entry {
  failures: number;
  retryAt: number;
}

export class RetryBackoff {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: RetryBackoffOptions = DEFAULT_RETRY_BACKOFF) {}

  /** Records a failure of the key's step at `now`; returns how long to wait before the next try. */
  failed(key: string, now: number): number {
    const failures = (this.entries.get(key)?.failures ?? 0) + 1;
    const waitMs = Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(failures - 1, 30));
    this.entries.set(key, { failures, retryAt: now + waitMs });
    return waitMs;
  }

  /** How long the key must still wait before its step runs again; 0 when it may run now. */
  remainingMs(key: string, now: number): number {
    const entry = this.entries.get(key);
    return entry ? Math.max(0, entry.retryAt - now) : 0;
  }

  /** The step succeeded (or the key is gone): the next failure starts from the base again. */
  reset(key: string): void {
    this.entries.delete(key);
  }
}
