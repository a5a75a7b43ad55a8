/**
 * The API server's bookkeeping that no cache reader uses, and how a cache drops it.
 * managedFields (one entry per writer, each a tree of every field it set) and kubectl's
 * last-applied copy were a third to a half of a cached Instance or Definition. Both roles
 * write only patches and status updates built from what they computed, never a whole
 * object read back from a cache, so nothing dropped here is ever written back as missing.
 */
import type { KubeObject } from "./resources.js";

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
  return shallowCopy(obj, { metadata: kept } as Partial<T>);
}

/**
 * An object's metadata but its resourceVersion and managedFields: what two versions of it
 * are compared by, when only a change of what they say counts.
 */
export function metadataApartFromVersion(obj: KubeObject): object {
  const {
    resourceVersion: _version,
    managedFields: _fields,
    ...metadata
  } = (obj.metadata ?? {}) as KubeObject["metadata"] & { managedFields?: unknown };
  return metadata;
}

/**
 * A copy of obj with some of its fields replaced. Not `{ ...obj, field }`: depending on what
 * the spread's call site has seen, V8 (node 20) can give each copy of a parsed object a
 * hidden class of its own, about 300 bytes with its descriptors; a heap snapshot of the
 * controller at 2,000 Instances showed one per cached Instance, per spec and per placement.
 * Object.assign's copies share one per shape.
 */
export function shallowCopy<T extends object>(obj: T, replaced: Partial<T>): T {
  return Object.assign({}, obj, replaced);
}
