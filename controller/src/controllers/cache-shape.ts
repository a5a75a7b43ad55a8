/**
 * What the controller role's caches keep of each object: everything but the API server's
 * bookkeeping (../kube/bookkeeping.ts), delivered environments without their data, and
 * Instances with their run template shared among replicas. At 10,000 Instances each of
 * these is tens of megabytes.
 */
import { isDeepStrictEqual } from "node:util";
import type { Instance, RunTemplate } from "../api/types.js";
import { shallowCopy, withoutBookkeeping } from "../kube/bookkeeping.js";
import type { KubeObject } from "../kube/resources.js";

/**
 * A delivered environment Secret as the environment controller reads it: metadata (its
 * annotations say what went into it) and type, never its data. The cache held every
 * Instance's environment, values and all, for nothing: a delivery is rewritten only when
 * its inputs annotation differs, and then whatever the data was.
 */
export function withoutData<T extends KubeObject & { data?: unknown; stringData?: unknown }>(obj: T): T {
  // One is kept per Instance: its recurring strings are shared as an Instance's are.
  shareMetadataStrings(obj);
  repeatedStrings.field(obj as { type?: unknown }, "type");
  const { data: _data, stringData: _stringData, ...kept } = withoutBookkeeping(obj);
  return kept as T;
}

/**
 * An Instance as the controller role's cache keeps it: without bookkeeping, and with its
 * spec.template shared. Every replica of one deployment carries the same run template, copied
 * from its Definition; the cache kept a copy per Instance, a tenth or more of the Instance's
 * heap with a short template and most of it with a long env list. Now Instances of the same
 * Definition, deploymentId and template share one, frozen: the cache is read-only, and a
 * write to a shared template would change every replica's, so one throws instead.
 */
export function instanceForCache(instance: Instance): Instance {
  shareRepeatedStrings(instance);
  const lean = withoutBookkeeping(instance);
  const template = lean.spec?.template;
  if (template === undefined) return lean;
  const key = `${lean.metadata.namespace ?? ""}/${lean.spec.definition}/${lean.spec.deploymentId ?? ""}`;
  const shared = sharedTemplates.intern(key, template);
  return shared === template
    ? lean
    : shallowCopy(lean, { spec: shallowCopy(lean.spec, { template: shared }) });
}

/**
 * Run templates by Definition and deploymentId, held only while some Instance holds them: a
 * rolled-out deployment's template goes with its last Instance, and its entry after it.
 */
class SharedTemplates {
  private readonly byKey = new Map<string, WeakRef<RunTemplate>>();
  private readonly gone = new FinalizationRegistry<string>((key) => {
    if (this.byKey.get(key)?.deref() === undefined) this.byKey.delete(key);
  });

  /** The template shared under the key when it equals this one; else this one, frozen and shared if none is. */
  intern(key: string, template: RunTemplate): RunTemplate {
    const shared = this.byKey.get(key)?.deref();
    if (shared !== undefined) {
      // Another template under the same key (an Instance written by hand) keeps its own.
      return isDeepStrictEqual(shared, template) ? shared : template;
    }
    deepFreeze(template);
    this.byKey.set(key, new WeakRef(template));
    this.gone.register(template, key);
    return template;
  }

  /** How many templates are shared now (for tests). */
  size(): number {
    return this.byKey.size;
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

export const sharedTemplates = new SharedTemplates();

/**
 * Strings that recur across Instances (kinds, namespaces, owners, labels, condition types,
 * reasons and messages) held once each: a parsed watch event brings a copy of every one, so
 * each cached Instance kept some twenty of them (tens of bytes each). Bounded: past its size
 * the pool starts over, so values that never recur cost nothing for long.
 */
class StringPool {
  private readonly pool = new Map<string, string>();

  constructor(private readonly max: number) {}

  share(text: string): string {
    const held = this.pool.get(text);
    if (held !== undefined) return held;
    if (this.pool.size >= this.max) this.pool.clear();
    this.pool.set(text, text);
    return text;
  }

  /** The field of obj, when a string, replaced by the pool's copy (the same value). */
  field<T extends object>(obj: T | undefined, name: keyof T & string): void {
    const value = obj?.[name];
    if (typeof value === "string") (obj as Record<string, unknown>)[name] = this.share(value);
  }
}

const repeatedStrings = new StringPool(20_000);

/** Replaces, in place, the recurring strings of a just-parsed Instance with shared copies: values unchanged. */
function shareRepeatedStrings(instance: Instance): void {
  const pool = repeatedStrings;
  shareMetadataStrings(instance);
  for (const name of ["definition", "deploymentId", "nodeName", "environmentFrom"] as const) {
    pool.field(instance.spec, name);
  }
  const status = instance.status;
  for (const name of ["phase", "message"] as const) pool.field(status, name);
  pool.field(status?.address, "host");
  for (const condition of status?.conditions ?? []) {
    for (const name of ["type", "status", "reason", "message", "lastTransitionTime"] as const) {
      pool.field(condition, name);
    }
  }
}

/** The same for what every object has: kind, namespace, labels, finalizers, owners. */
function shareMetadataStrings(obj: KubeObject): void {
  const pool = repeatedStrings;
  pool.field(obj, "apiVersion");
  pool.field(obj, "kind");
  const metadata = obj.metadata;
  pool.field(metadata, "namespace");
  pool.field(metadata, "creationTimestamp");
  const labels = metadata?.labels;
  for (const key of Object.keys(labels ?? {})) pool.field(labels, key);
  const finalizers = metadata?.finalizers ?? [];
  for (let i = 0; i < finalizers.length; i++) finalizers[i] = pool.share(finalizers[i]!);
  for (const owner of metadata?.ownerReferences ?? []) {
    for (const name of ["apiVersion", "kind", "name", "uid"] as const) pool.field(owner, name);
  }
}
