/**
 * When a Definition's status is written. Its Instances turn ready one by one, and each
 * would cost the Definition a status write (and, the cache lagging behind the last write, a
 * refused one): ten replicas, ten writes. So a change that only moves progress along (a
 * count, one more address of a Definition that already lists some, a condition's message)
 * within STATUS_COALESCE_MS of the previous write waits for the rest of that window and goes
 * out with whatever else changed meanwhile. What a client or a person must see at once is
 * never held: a new generation or deployment, a condition turning (status or reason), the
 * first address, and an address going away (a client must not be sent to it). Pure.
 */
import type { DefinitionStatus } from "../../api/types.js";

/** How long after a status write a progress-only change waits to be written with others. */
export const STATUS_COALESCE_MS = 1000;

/** Whether `next` holds a change that is written at once, whatever was written just before. */
export function urgentChange(current: DefinitionStatus | undefined, next: DefinitionStatus): boolean {
  if (current === undefined) return true;
  if (current.observedGeneration !== next.observedGeneration) return true;
  if (current.deploymentId !== next.deploymentId) return true;
  const before = new Map((current.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
  const after = new Map((next.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
  if (before.size !== after.size) return true;
  for (const [type, state] of after) if (before.get(type) !== state) return true;
  const listed = current.addresses ?? [];
  const listing = new Set(next.addresses ?? []);
  if (listed.length === 0 && listing.size > 0) return true;
  return listed.some((address) => !listing.has(address));
}

/**
 * How long a status change must wait before it is written: 0 for now. `lastWriteAt` is when
 * this Definition's status was last written by this controller (undefined: not lately).
 */
export function statusWriteDelayMs(
  current: DefinitionStatus | undefined,
  next: DefinitionStatus,
  lastWriteAt: number | undefined,
  now: number,
): number {
  if (lastWriteAt === undefined || urgentChange(current, next)) return 0;
  return Math.max(0, lastWriteAt + STATUS_COALESCE_MS - now);
}
