/**
 * Whether an update of an object moved its status and nothing else of it (its
 * resourceVersion and managedFields aside): what a write to the status subresource makes.
 * A controller that reads nothing from the status of its own kind that it did not write
 * itself (or that another writer's status part decides nothing of) needs no pass for it.
 */
import { jsonEqual } from "../kube/patch.js";
import type { KubeObject } from "../kube/resources.js";

/** Metadata a status write changes too: they say nothing about the object itself. */
const BOOKKEEPING = new Set(["resourceVersion", "managedFields"]);

export function onlyStatusChanged(before: KubeObject, after: KubeObject): boolean {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    if (key === "status") continue;
    const a = (before as Record<string, unknown>)[key];
    const b = (after as Record<string, unknown>)[key];
    if (key === "metadata" ? !sameMetadata(a, b) : !jsonEqual(a, b)) return false;
  }
  return true;
}

function sameMetadata(before: unknown, after: unknown): boolean {
  const a = (before ?? {}) as Record<string, unknown>;
  const b = (after ?? {}) as Record<string, unknown>;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!BOOKKEEPING.has(key) && !jsonEqual(a[key], b[key])) return false;
  }
  return true;
}
