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
    message: capMessage(next.message),
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
  /** Told, just before the request goes out, the status as the object will show it once written. */
  sending?: (status: Record<string, unknown>) => void;
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
    options.sending?.(desired);
    return await this.client.patchStatus(
      resource,
      { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" },
      patch,
    );
  }
}

/**
 * Longest message Berth writes into a status or condition: far below the API's limits (a
 * condition message may hold 32 KiB, a whole object 1.5 MiB), so that a long git or build
 * error can never make the status write itself fail.
 */
export const MESSAGE_LIMIT = 4096;

/**
 * A message cut to `limit` characters: the start (what failed) and the end (for build and
 * git output, where the error is) are kept, the middle is dropped and says how much.
 */
export function capMessage(text: string, limit = MESSAGE_LIMIT): string {
  if (text.length <= limit) return text;
  // The marker's count has at most as many digits as the whole length.
  const markerLength = `\n… [${text.length} characters cut] …\n`.length;
  const head = Math.floor((limit - markerLength) / 4);
  const tail = limit - markerLength - head;
  const cut = text.length - head - tail;
  return `${text.slice(0, head)}\n… [${cut} characters cut] …\n${text.slice(text.length - tail)}`;
}
