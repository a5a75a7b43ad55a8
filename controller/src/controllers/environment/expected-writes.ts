/**
 * Writes of delivered environments whose watch event has not come yet (client-go's
 * "expectations", for one object per key). After a create or replace the API server
 * accepted, the cache still shows the Secret as it was for a moment; a pass in between
 * (woken by its Instance or Definition) would ask again and be refused: a create as
 * AlreadyExists, a replace as a conflict. So each accepted write is noted, and until the
 * cache's next event for that key (the write's own or a later one: the cache showed the
 * latest version when the write was made) a pass writes nothing. A note whose event never
 * came is dropped after a time to live, and the cache is the truth again.
 */
import type { Informer } from "../../runtime/informer.js";
import { objectKey } from "../../runtime/informer.js";
import type { Secret } from "../../kube/resources.js";

/** How long a write waits for its event before a pass may write again. */
export const EXPECTED_WRITE_TTL_MS = 30_000;
/**
 * At most this many notes are kept (each lives from a write to its event, a moment unless
 * the watch is down); past it the oldest goes, at worst costing one refused write.
 */
export const EXPECTED_WRITES_KEPT = 10_000;

export class ExpectedWrites {
  /** Per delivered Secret's key (namespace/name): when its note expires. */
  private readonly pending = new Map<string, number>();

  constructor(
    delivered: Pick<Informer<Secret>, "addHandler">,
    private readonly ttlMs = EXPECTED_WRITE_TTL_MS,
    private readonly kept = EXPECTED_WRITES_KEPT,
  ) {
    const seen = (secret: Secret): void => {
      this.pending.delete(objectKey(secret));
    };
    delivered.addHandler({ onAdd: seen, onUpdate: (_, secret) => seen(secret), onDelete: seen });
  }

  /** An accepted write of the key's Secret, made at `now`. */
  wrote(key: string, now: number): void {
    this.pending.delete(key);
    this.pending.set(key, now + this.ttlMs);
    if (this.pending.size > this.kept) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
  }

  /** Milliseconds until the key's cache may be written from again: 0 when nothing is awaited. */
  waitMs(key: string, now: number): number {
    const expiresAt = this.pending.get(key);
    if (expiresAt === undefined) return 0;
    if (expiresAt <= now) {
      this.pending.delete(key);
      return 0;
    }
    return expiresAt - now;
  }

  /** How many writes are awaited (for tests of the bound). */
  get size(): number {
    return this.pending.size;
  }
}
