/**
 * Whether the cache shows an object from before a controller's last status write of it.
 * The watch event of a write comes a moment after its answer; a pass in between (woken by
 * another object) reads the object as it was. Building on that old status would send the
 * write again (the cache does not show it) or date a condition's transition anew. The
 * cache lags while it shows the very version the write went over, or (resourceVersions
 * being etcd's revisions, which only grow) an older one than the write made. A version
 * the write did not make and that is not older (another writer's change after it, or one
 * the comparison cannot order) is the cache catching up: it is the truth again.
 */
import type { KubeObject } from "../kube/resources.js";

interface WithStatus<S> extends KubeObject {
  status?: S | undefined;
}

/** A controller's last status write of an object. */
export interface LastWrite<S> {
  /** When it was made (the controller's clock). */
  at: number;
  /** The status the API server answered with. */
  status: S | undefined;
  /** The resourceVersion the cache showed when it was made, and the one it made. */
  base: string | undefined;
  made: string | undefined;
}

export function lastWriteOf<S>(before: KubeObject, after: WithStatus<S>, at: number): LastWrite<S> {
  return {
    at,
    status: after.status,
    base: before.metadata?.resourceVersion,
    made: after.metadata?.resourceVersion,
  };
}

export function cacheLagsBehind(cached: KubeObject, last: LastWrite<unknown>): boolean {
  const shown = cached.metadata?.resourceVersion;
  if (shown === undefined || shown === last.made) return false;
  if (shown === last.base) return true;
  return isOlderVersion(shown, last.made);
}

/** Whether `version` is known to come before `than` (both etcd revisions, the first lower). */
export function isOlderVersion(version: string | undefined, than: string | undefined): boolean {
  const [versionIndex, thanIndex] = [revision(version), revision(than)];
  return versionIndex !== undefined && thanIndex !== undefined && versionIndex < thanIndex;
}

/** A resourceVersion as the etcd revision it is, or undefined when it is none. */
function revision(version: string | undefined): bigint | undefined {
  return version !== undefined && /^[0-9]{1,30}$/.test(version) ? BigInt(version) : undefined;
}
