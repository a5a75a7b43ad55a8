/**
 * A FakeKubeClient that keeps one Instance and applies the agent's writes to it as the API
 * server would: a status merge patch, a finalizer JSON patch, each a new resourceVersion.
 * A subclass says what else a write does (a watch event to its cache, say) in written().
 */
import type { Instance } from "../api/types.js";
import type { ObjectRef } from "../kube/client.js";
import type { JsonPatchOp } from "../kube/patch.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import { FakeKubeClient } from "./fake-kube-client.js";
import { withStatusPatch } from "./object-patches.js";

export class InstanceWritesClient extends FakeKubeClient {
  constructor(public instance: Instance) {
    super();
  }

  override async patchStatus<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    this.calls.push({ verb: "patchStatus", ref, body: patch });
    return this.store(withStatusPatch(this.instance, patch)) as unknown as T;
  }

  /** The agent's JSON patches set or replace the finalizer list; nothing else of them is kept. */
  override async jsonPatch<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    ref: ObjectRef,
    ops: JsonPatchOp[],
  ): Promise<T> {
    this.calls.push({ verb: "jsonPatch", ref, body: ops });
    const next = structuredClone(this.instance);
    for (const op of ops) {
      if (op.op === "add" || op.op === "replace") next.metadata.finalizers = op.value as string[];
    }
    return this.store(next) as unknown as T;
  }

  /** Keeps `next` as the Instance's new version; returns a copy of it, as an answer would be. */
  protected store(next: Instance): Instance {
    const version = String(Number(this.instance.metadata.resourceVersion ?? 0) + 1);
    const stored = structuredClone({ ...next, metadata: { ...next.metadata, resourceVersion: version } });
    this.instance = stored;
    this.written(structuredClone(stored));
    return structuredClone(stored);
  }

  /** What a write does besides changing the Instance: nothing here. */
  protected written(_next: Instance): void {}
}
