/** A Definition pass's own wake-ups: when it must look again though no event may come. */
import { REPOSITORY_RECHECK_MS } from "./repository-commits.js";
import type { Result } from "../../runtime/controller.js";
import type { RolloutPlan } from "./rollout.js";

/** When the next pass is due without an event, if at all: the soonest of what waits. */
export function nextPassAfter(waits: {
  statusDelayMs: number;
  hasRepository: boolean;
  cacheWaitMs: number | undefined;
  plan: RolloutPlan;
  now: number;
}): Result | undefined {
  const { plan, now } = waits;
  const requeueAfters: number[] = [];
  // A progress-only status change waits for the rest of its window (status-pacing.ts).
  if (waits.statusDelayMs > 0) requeueAfters.push(waits.statusDelayMs);
  // A branch moves without any event here: look at the repository again after a while.
  if (waits.hasRepository) requeueAfters.push(REPOSITORY_RECHECK_MS);
  if (waits.cacheWaitMs !== undefined) requeueAfters.push(Math.max(100, waits.cacheWaitMs));
  if (plan.deadlineAt !== undefined && !plan.stalled) requeueAfters.push(plan.deadlineAt - now + 1000);
  return requeueAfters.length > 0 ? { requeueAfterMs: Math.min(...requeueAfters) } : undefined;
}
