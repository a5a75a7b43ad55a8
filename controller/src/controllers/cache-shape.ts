/**
 * What the controller role's caches keep of each object: everything but the API server's
 * bookkeeping no reader uses. managedFields (one entry per writer, each a tree of every field
 * it set) and kubectl's last-applied copy of a Definition were a third to a half of a cached
 * Instance or Definition; at 10,000 Instances they are tens of megabytes. Every write the role
 * makes is a patch, never a whole object read from the cache, so nothing dropped here is
 * ever written back as missing.
 */
import type { KubeObject } from "../kube/resources.js";

/** kubectl apply's copy of the applied object: read by kubectl only. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

export function withoutBookkeeping<T extends KubeObject>(obj: T): T {
  const metadata = obj.metadata as (KubeObject["metadata"] & { managedFields?: unknown }) | undefined;
  if (!metadata) return obj;
  const annotations = metadata.annotations;
  const lastApplied = annotations !== undefined && LAST_APPLIED_ANNOTATION in annotations;
  if (metadata.managedFields === undefined && !lastApplied) return obj;
  const { managedFields: _dropped, annotations: _all, ...kept } = metadata;
  if (annotations !== undefined) {
    const { [LAST_APPLIED_ANNOTATION]: _copy, ...others } = annotations;
    if (Object.keys(others).length > 0) Object.assign(kept, { annotations: others });
  }
  return { ...obj, metadata: kept };
}

/**
 * A delivered environment Secret as the environment controller reads it: metadata (its
 * annotations say what went into it) and type, never its data. The cache held every
 * Instance's environment, values and all, for nothing: a delivery is rewritten only when
 * its inputs annotation differs, and then whatever the data was.
 */
export function withoutData<T extends KubeObject & { data?: unknown; stringData?: unknown }>(obj: T): T {
  const { data: _data, stringData: _stringData, ...kept } = withoutBookkeeping(obj);
  return kept as T;
}
