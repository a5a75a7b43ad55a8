/**
 * A status written by server-side apply, for an object whose status has more than one
 * writer (a Definition's: the Definition controller, and discovery's Published condition).
 * Each writer applies only its own part under its own field manager, with no
 * resourceVersion precondition: the API server merges the parts by field ownership
 * (conditions are a listType=map list keyed by type), so two writers never refuse each
 * other's write (409) and neither can drop the other's fields from a stale copy.
 */
import type { Condition } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { jsonEqual } from "../kube/patch.js";
import { apiVersionOf, type KubeObject, type ResourceDescriptor } from "../kube/resources.js";

interface WithStatus extends KubeObject {
  status?: object;
}

type Status = Record<string, unknown> & { conditions?: Condition[] };

export interface StatusPart {
  /**
   * Whether a top-level status field (not conditions) is this writer's: one it owns that
   * `apply` leaves out is removed. Conditions are the writer's by type: those it applies;
   * every write names all of its condition types.
   */
  ownsField(key: string): boolean;
}

/** A writer that owns every status field but conditions, and its own conditions. */
export const ALL_FIELDS: StatusPart = { ownsField: () => true };
/** A writer that owns only its own conditions. */
export const CONDITIONS_ONLY: StatusPart = { ownsField: () => false };

/** Whether `current` already says everything `desired` (one writer's part) says. */
export function partWritten(current: object | undefined, desired: object, part: StatusPart): boolean {
  const have = (current ?? {}) as Status;
  const want = desired as Status;
  const keys = new Set([...Object.keys(have), ...Object.keys(want)]);
  for (const key of keys) {
    if (key === "conditions" || !(key in want || part.ownsField(key))) continue;
    if (!jsonEqual(have[key] ?? null, want[key] ?? null)) return false;
  }
  for (const condition of want.conditions ?? []) {
    const existing = have.conditions?.find((c) => c.type === condition.type);
    if (!existing || !jsonEqual(existing, condition)) return false;
  }
  return true;
}

export class StatusApplier {
  constructor(
    private readonly client: KubeClient,
    private readonly fieldManager: string,
    private readonly part: StatusPart,
  ) {}

  /**
   * Applies `status`, this writer's whole part, to obj unless obj already shows it.
   * Returns the updated object, or undefined when nothing changed and no request was made.
   */
  async apply<T extends WithStatus>(
    resource: ResourceDescriptor<T>,
    obj: T,
    status: NonNullable<T["status"]>,
  ): Promise<T | undefined> {
    if (partWritten(obj.status, status, this.part)) return undefined;
    const body = {
      apiVersion: apiVersionOf(resource),
      kind: resource.kind,
      metadata: { name: obj.metadata?.name, namespace: obj.metadata?.namespace },
      status,
    } as unknown as T;
    return await this.client.applyStatus(resource, body, { fieldManager: this.fieldManager });
  }
}
