/** What a watched object's event maps to: the keys a controller reconciles for it. */
import type { KubeObject } from "../kube/resources.js";
import { objectKey } from "./informer.js";

/** Maps an object of a watched kind to the keys to reconcile. */
export type MapFunc<T> = (obj: T) => string[];

export const mapToSelf: MapFunc<KubeObject> = (obj) => [objectKey(obj)];

/** Maps a child to its controlling owner of the given kind (same namespace). */
export function mapToOwner(ownerKind: string): MapFunc<KubeObject> {
  return (obj) => {
    const owner = obj.metadata?.ownerReferences?.find((ref) => ref.controller && ref.kind === ownerKind);
    if (!owner) return [];
    const namespace = obj.metadata?.namespace;
    return [namespace ? `${namespace}/${owner.name}` : owner.name];
  };
}

/** Maps an object to the object named by one of its labels (same namespace). */
export function mapToLabel(label: string): MapFunc<KubeObject> {
  return (obj) => {
    const target = obj.metadata?.labels?.[label];
    if (!target) return [];
    const namespace = obj.metadata?.namespace;
    return [namespace ? `${namespace}/${target}` : target];
  };
}

/** Which add events of a watched kind wake a pass. */
export interface WatchOptions<T> {
  /**
   * An object appearing says nothing to this controller (only its changes and its going
   * do), so a relist of thousands of them does not map each one.
   */
  ignoreAdds?: boolean;
  /** Whether an object appearing can change what a pass does (as updatePredicate for a change). */
  addPredicate?: (obj: T) => boolean;
}
