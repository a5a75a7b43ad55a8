/**
 * Expectations, as the ReplicaSet controller keeps them: after creating or deleting
 * Instances, the informer cache lags behind for a moment. Planning again from that stale
 * cache would delete a second old Instance for the same ready new one, or count a created
 * Instance as missing. So the Definition controller notes what it did and plans again only
 * once the cache shows it, or after a timeout (a lost watch event must not block forever).
 */
import type { Instance } from "../../api/types.js";

interface Pending {
  creates: Set<string>;
  deletes: Set<string>;
  expiresAt: number;
}

export class Expectations {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly timeoutMs = 30_000) {}

  /** Records the Instances just created and deleted for a Definition key. */
  expect(key: string, creates: readonly string[], deletes: readonly string[], now: number): void {
    if (creates.length === 0 && deletes.length === 0) return;
    const entry = this.pending.get(key) ?? { creates: new Set(), deletes: new Set(), expiresAt: 0 };
    for (const name of creates) entry.creates.add(name);
    for (const name of deletes) entry.deletes.add(name);
    entry.expiresAt = now + this.timeoutMs;
    this.pending.set(key, entry);
  }

  /**
   * True when the cache reflects everything recorded for the key (created Instances are
   * there, deleted ones are gone or terminating), or the record expired. Clears the record then.
   */
  satisfied(key: string, cached: (name: string) => Instance | undefined, now: number): boolean {
    const entry = this.pending.get(key);
    if (!entry) return true;
    for (const name of entry.creates) if (cached(name) !== undefined) entry.creates.delete(name);
    for (const name of entry.deletes) {
      const instance = cached(name);
      if (instance === undefined || instance.metadata.deletionTimestamp !== undefined)
        entry.deletes.delete(name);
    }
    if ((entry.creates.size === 0 && entry.deletes.size === 0) || now >= entry.expiresAt) {
      this.pending.delete(key);
      return true;
    }
    return false;
  }

  /** Milliseconds until the record for the key expires (0 when there is none). */
  remainingMs(key: string, now: number): number {
    const entry = this.pending.get(key);
    return entry ? Math.max(0, entry.expiresAt - now) : 0;
  }

  /** Forgets a creation that failed, or a whole key (the Definition is gone). */
  lower(key: string, name?: string): void {
    if (name === undefined) {
      this.pending.delete(key);
      return;
    }
    const entry = this.pending.get(key);
    entry?.creates.delete(name);
    entry?.deletes.delete(name);
  }

  /** Names recorded as created but not yet seen in the cache. */
  pendingCreates(key: string): string[] {
    return [...(this.pending.get(key)?.creates ?? [])];
  }
}
