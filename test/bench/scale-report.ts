/**
 * What npm run bench:scale prints from the roles' measurements: requests and Events per
 * Instance, and the Instance writes a phase asked for beyond what it needed.
 */
import type { Measurement } from "./scale-role.js";

export function perInstance(before: Measurement, after: Measurement, total: number): Map<string, number> {
  const result = new Map<string, number>();
  for (const [purpose, count] of Object.entries(after.requests)) {
    const delta = count - (before.requests[purpose] ?? 0);
    if (delta > 0) result.set(purpose, delta / total);
  }
  return result;
}

export function printRequests(role: string, perInstanceCounts: Map<string, number>): void {
  let writes = 0;
  for (const [purpose, count] of [...perInstanceCounts].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${role.padEnd(10)} ${purpose.padEnd(48)} ${count.toFixed(2)}`);
    if (/^(POST|PUT|PATCH|DELETE)/.test(purpose) && !purpose.includes(" refused (")) writes += count;
  }
  console.log(`  ${role.padEnd(10)} ${"writes in all".padEnd(48)} ${writes.toFixed(2)}`);
}

/** Events per Instance by outcome over a phase, and the writes still waiting at its end. */
export function printEvents(role: string, before: Measurement, after: Measurement, total: number): void {
  const outcomes = ["created", "series_updated", "aggregated", "rate_limited", "dropped", "failed"];
  const parts = outcomes.map(
    (outcome) =>
      `${outcome.replace("_", " ")} ${(((after.events[outcome] ?? 0) - (before.events[outcome] ?? 0)) / total).toFixed(2)}`,
  );
  console.log(`  ${role.padEnd(10)} ${parts.join(", ")}; ${after.eventBacklog} writes waiting`);
}

/**
 * The controller's Instance writes over a phase against what the phase needed: creates
 * asked (the API server refused some as AlreadyExists) and deletes asked, each beyond the
 * expected count, which a controller that never asks twice keeps at 0.
 */
export function printDuplicates(
  phase: string,
  before: Measurement,
  after: Measurement,
  expected: { creates: number; deletes: number },
  total: number,
): void {
  const delta = (purpose: string): number => (after.requests[purpose] ?? 0) - (before.requests[purpose] ?? 0);
  const creates = delta("POST instances");
  const deletes = delta("DELETE instances");
  console.log(
    `  ${phase.padEnd(16)} creates ${creates} (${Math.max(0, creates - expected.creates)} beyond ${expected.creates}; refused as AlreadyExists ${delta("POST instances refused (409)")}, ${(delta("POST instances refused (409)") / total).toFixed(2)} per Instance), deletes ${deletes} (${Math.max(0, deletes - expected.deletes)} beyond ${expected.deletes})`,
  );
}
