import type { Condition } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { createMergePatch, jsonEqual } from "../kube/patch.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";

export type ConditionInput = Omit<Condition, "lastTransitionTime"> & { lastTransitionTime?: string };

export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "True";
}

/**
 * Returns a new condition list with `next` set. lastTransitionTime stays as it was unless
 * the status flips (or the condition is new), so rewriting the same condition is a no-op.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  now: Date | string | number,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((condition) => condition.type === next.type);
  const previous = index === -1 ? undefined : list[index];
  const transitionTime =
    previous && previous.status === next.status
      ? previous.lastTransitionTime
      : (next.lastTransitionTime ?? toTimestamp(now));
  const condition: Condition = {
    type: next.type,
    status: next.status,
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
    lastTransitionTime: transitionTime,
    reason: next.reason,
    message: next.message,
  };
  if (index === -1) list.push(condition);
  else list[index] = condition;
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((condition) => condition.type !== type);
}

/** Kubernetes timestamps have second precision; a stable format keeps comparisons exact. */
export function toTimestamp(time: Date | string | number): string {
  const date = time instanceof Date ? time : new Date(time);
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Whether two statuses say the same thing (deep equality; missing and undefined fields are alike). */
export function statusEqual(a: unknown, b: unknown): boolean {
  return jsonEqual(a ?? {}, b ?? {});
}

interface WithStatus extends KubeObject {
  status?: object;
}

export interface StatusUpdateOptions {
  /** Refuse to write when the object changed since it was read (409, requeued quietly). Default true. */
  precondition?: boolean;
  /** Set status.observedGeneration from metadata.generation. Default true. */
  observedGeneration?: boolean;
}

/** Writes /status only when the new status differs from the one the object carries. */
export class StatusWriter {
  constructor(private readonly client: KubeClient) {}

  /**
   * Patches obj's status to `status` (a whole status, rebuilt from the world). Returns the
   * updated object, or undefined when nothing changed and no request was made.
   */
  async update<T extends WithStatus>(
    resource: ResourceDescriptor<T>,
    obj: T,
    status: NonNullable<T["status"]>,
    options: StatusUpdateOptions = {},
  ): Promise<T | undefined> {
    const desired: Record<string, unknown> = { ...(status as Record<string, unknown>) };
    if ((options.observedGeneration ?? true) && obj.metadata?.generation !== undefined) {
      desired.observedGeneration = obj.metadata.generation;
    }
    const current = (obj.status ?? {}) as Record<string, unknown>;
    const statusPatch = createMergePatch(current, desired);
    if (!statusPatch) return undefined;
    const patch: Record<string, unknown> = { status: statusPatch };
    if ((options.precondition ?? true) && obj.metadata?.resourceVersion) {
      patch.metadata = { resourceVersion: obj.metadata.resourceVersion };
    }
    return await this.client.patchStatus(
      resource,
      { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" },
      patch,
    );
  }
}
