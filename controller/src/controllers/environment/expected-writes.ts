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
import { AwaitedWrites } from "../../runtime/awaited-writes.js";
import type { Informer } from "../../runtime/informer.js";
import type { Secret } from "../../kube/resources.js";

/** How long a write waits for its event before a pass may write again. */
export const EXPECTED_WRITE_TTL_MS = 30_000;
/**
 * At most this many notes are kept (each lives from a write to its event, a moment unless
 * the watch is down); past it the oldest goes, at worst costing one refused write.
 */
export const EXPECTED_WRITES_KEPT = 10_000;

export class ExpectedWrites {
  /** Per delivered Secret's key (namespace/name): any event of the key clears its note. */
  private readonly pending: AwaitedWrites;

  constructor(
    delivered: Pick<Informer<Secret>, "addHandler">,
    ttlMs = EXPECTED_WRITE_TTL_MS,
    kept = EXPECTED_WRITES_KEPT,
  ) {
    this.pending = new AwaitedWrites({ ttlMs, kept });
    this.pending.observe(delivered);
  }

  /** An accepted write of the key's Secret, made at `now`. */
  wrote(key: string, now: number): void {
    this.pending.wrote(key, true, now);
  }

  /** Milliseconds until the key's cache may be written from again: 0 when nothing is awaited. */
  waitMs(key: string, now: number): number {
    return this.pending.waitMs(key, now);
  }

  /** How many writes are awaited (for tests of the bound). */
  get size(): number {
    return this.pending.size;
  }
}
