/**
 * What the controller keeps of Secrets and ConfigMaps. It needs their content only as the
 * salted hash that goes into a deploymentId, and only for the ones a Definition references;
 * yet it must hear when any of them changes. So its caches hold metadata alone (names and
 * resourceVersions: enough to map a change to the Definitions that reference the object),
 * and the hash of a referenced object is computed from one read of it and kept for as long
 * as its resourceVersion stays the same. Memory then grows with the number of objects, not
 * with their size, and no Secret's data stays in the controller.
 */
import { CONFIGMAPS, SECRETS, type ConfigMap, type KubeObject, type Secret } from "../../kube/resources.js";
import { getOrUndefined } from "../../kube/errors.js";
import { type KubeClient } from "../../kube/client.js";
import type { Informer } from "../../runtime/informer.js";
import {
  contentHash,
  referenceKey,
  referencedObjects,
  type ObjectReference,
  type ReferencedContent,
} from "./deployment-id.js";
import type { DeploymentSalt } from "./deployment-salt.js";
import type { RunTemplate } from "../../api/types.js";

/**
 * The cache shape of a Secret or ConfigMap: identity and resourceVersion. Annotations go
 * too: kubectl's last-applied-configuration annotation carries the whole object, data
 * included.
 */
export function metadataOnly<T extends KubeObject>(obj: T): T {
  const metadata = obj.metadata ?? {};
  const kept: KubeObject = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      uid: metadata.uid,
      resourceVersion: metadata.resourceVersion,
      ...(metadata.labels ? { labels: metadata.labels } : {}),
      ...(metadata.deletionTimestamp ? { deletionTimestamp: metadata.deletionTimestamp } : {}),
    },
    // A Secret's type says what it is (a delivered environment, registry credentials).
    ...secretType(obj),
  };
  return kept as T;
}

function secretType(obj: KubeObject): { type?: string } {
  const type = (obj as { type?: unknown }).type;
  return typeof type === "string" ? { type } : {};
}

interface HashEntry {
  resourceVersion: string;
  hash: string;
}

/** Salted content hashes of referenced Secrets and ConfigMaps, read on change only. */
export class ReferencedContentHashes {
  private readonly hashes = new Map<string, HashEntry>();

  constructor(
    private readonly client: KubeClient,
    private readonly salt: DeploymentSalt,
    private readonly caches: { secrets: Informer<KubeObject>; configMaps: Informer<KubeObject> },
  ) {
    // An object that is gone or changed takes its hash with it, so the map never holds
    // more than one entry per existing object (and only for referenced ones).
    for (const cache of [caches.secrets, caches.configMaps]) {
      const kind = cache === caches.secrets ? "Secret" : "ConfigMap";
      cache.addHandler({
        onUpdate: (_old, obj) => this.forgetIfChanged(kind, obj),
        onDelete: (obj) => this.hashes.delete(entryKey(kind, obj.metadata?.namespace, obj.metadata?.name)),
      });
    }
  }

  /** Hashes held: one per referenced object that exists. */
  size(): number {
    return this.hashes.size;
  }

  /**
   * The content of what a run template references in its namespace: `null` for an object
   * that does not exist. The salt is read only when something is referenced.
   */
  async of(namespace: string, template: RunTemplate): Promise<ReferencedContent> {
    const content = new Map<string, string | null>();
    const references = referencedObjects(template);
    if (references.length === 0) return content;
    const salt = await this.salt.get();
    for (const ref of references) content.set(referenceKey(ref), await this.hashOf(namespace, ref, salt));
    return content;
  }

  private async hashOf(namespace: string, ref: ObjectReference, salt: Buffer): Promise<string | null> {
    const cache = ref.kind === "Secret" ? this.caches.secrets : this.caches.configMaps;
    const cached = cache.get(namespace, ref.name);
    const key = entryKey(ref.kind, namespace, ref.name);
    if (!cached) {
      this.hashes.delete(key);
      return null;
    }
    const known = this.hashes.get(key);
    if (known && known.resourceVersion === cached.metadata?.resourceVersion) return known.hash;
    const read = await this.read(namespace, ref);
    if (!read) {
      this.hashes.delete(key);
      return null;
    }
    this.hashes.set(key, { resourceVersion: read.resourceVersion, hash: read.hash(salt) });
    return this.hashes.get(key)?.hash ?? null;
  }

  private async read(
    namespace: string,
    ref: ObjectReference,
  ): Promise<{ resourceVersion: string; hash: (salt: Buffer) => string } | undefined> {
    const target = { namespace, name: ref.name };
    if (ref.kind === "Secret") {
      const secret = await getOrUndefined(() => this.client.get<Secret>(SECRETS, target));
      if (!secret) return undefined;
      return {
        resourceVersion: secret.metadata?.resourceVersion ?? "",
        hash: (salt) => contentHash(salt, ["data", secret.data]),
      };
    }
    const configMap = await getOrUndefined(() => this.client.get<ConfigMap>(CONFIGMAPS, target));
    if (!configMap) return undefined;
    return {
      resourceVersion: configMap.metadata?.resourceVersion ?? "",
      hash: (salt) => contentHash(salt, ["data", configMap.data], ["binaryData", configMap.binaryData]),
    };
  }

  private forgetIfChanged(kind: string, obj: KubeObject): void {
    const key = entryKey(kind, obj.metadata?.namespace, obj.metadata?.name);
    const known = this.hashes.get(key);
    if (known && known.resourceVersion !== obj.metadata?.resourceVersion) this.hashes.delete(key);
  }
}

function entryKey(kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${kind}/${namespace ?? ""}/${name ?? ""}`;
}
