import type { KubeClient } from "../kube/client.js";
import type { JsonPatchOp } from "../kube/patch.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return Boolean(obj.metadata?.deletionTimestamp);
}

function refOf(obj: KubeObject): { namespace?: string | undefined; name: string } {
  return { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" };
}

/**
 * The finalizer list changes as a JSON patch that first tests the list it read, so a
 * concurrent change of the list fails the patch (a conflict, requeued) instead of being
 * overwritten. When there was no list, the test is that there still is none (the API server
 * takes a missing path as null): a change elsewhere in the object, such as another
 * controller's status write on a new object, does not fail it.
 */
function finalizerPatch(obj: KubeObject, next: string[]): JsonPatchOp[] {
  const current = obj.metadata?.finalizers;
  if (current === undefined) {
    return [
      { op: "test", path: "/metadata/finalizers", value: null },
      { op: "add", path: "/metadata/finalizers", value: next },
    ];
  }
  return [
    { op: "test", path: "/metadata/finalizers", value: current },
    { op: "replace", path: "/metadata/finalizers", value: next },
  ];
}

/** Adds the finalizer if absent; returns the object as stored (unchanged input when nothing to do). */
export async function addFinalizer<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceDescriptor<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  const next = [...(obj.metadata?.finalizers ?? []), finalizer];
  return await client.jsonPatch(resource, refOf(obj), finalizerPatch(obj, next));
}

/** Removes the finalizer if present, with the same precondition. */
export async function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceDescriptor<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  const next = (obj.metadata?.finalizers ?? []).filter((name) => name !== finalizer);
  return await client.jsonPatch(resource, refOf(obj), finalizerPatch(obj, next));
}

/**
 * Runs cleanup for an object being deleted and removes the finalizer only when cleanup
 * says it is complete (returns true, or nothing). A throw or `false` keeps the finalizer:
 * the caller's reconcile retries. Returns whether the finalizer was removed.
 */
export async function finalize<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceDescriptor<T>,
  obj: T,
  finalizer: string,
  cleanup: () => Promise<boolean | void>,
): Promise<boolean> {
  if (!hasFinalizer(obj, finalizer)) return false;
  const complete = await cleanup();
  if (complete === false) return false;
  await removeFinalizer(client, resource, obj, finalizer);
  return true;
}
