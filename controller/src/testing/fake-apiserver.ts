/**
 * An in-memory API server behind the KubeClient interface, for unit tests of the
 * reconcilers and the runtime primitives: it stores what is written and answers reads with
 * it, assigns resourceVersions and refuses a write whose precondition is stale (409), as
 * the real one does; deletes wait for finalizers; lists and watches carry the same
 * resourceVersions, so real Informers run over it. Watch delivery can be held back to play
 * a lagging cache. What only the real server does (admission, schema validation, owner
 * garbage collection, field selectors beyond equality) is tested against the real one.
 */
import type {
  ApplyOptions,
  DeleteOptions,
  KubeClient,
  ListOptions,
  ListResult,
  ObjectRef,
  WatchEvent,
  WatchEventType,
  WatchHandle,
  WatchOptions,
} from "../kube/client.js";
import { KubeApiError } from "../kube/errors.js";
import { jsonEqual, type JsonPatchOp } from "../kube/patch.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import { GROUP } from "../api/types.js";
import type { RecordedCall } from "./fake-kube-client.js";
import { applyJsonPatch, applyMergePatch, withStatusPatch, type Json } from "./object-patches.js";
import { FakeWatches } from "./fake-watches.js";
import { kindKey, matchesFields, matchesLabels } from "./object-selection.js";
import { StatusOwnership } from "./status-ownership.js";

function conflict(message: string): KubeApiError {
  return new KubeApiError(409, message, { kind: "Status", code: 409, reason: "Conflict", message });
}

function notFound(kind: string, name: string): KubeApiError {
  const message = `${kind} "${name}" not found`;
  return new KubeApiError(404, message, { kind: "Status", code: 404, reason: "NotFound", message });
}

/** Berth's own kinds have a status subresource: writes to the object leave status alone. */
function hasStatusSubresource(resource: ResourceDescriptor): boolean {
  return resource.group === GROUP;
}

export interface FakeApiServerOptions {
  /** Milliseconds since the epoch, for creation and deletion timestamps. */
  now?: () => number;
}

export class FakeApiServer implements KubeClient {
  /** Every request made, in order. */
  readonly calls: RecordedCall[] = [];
  /** Errors the next requests with the given verb throw instead of answering, in order. */
  readonly failures: Array<{ verb: string; error: Error }> = [];
  private readonly objects = new Map<string, KubeObject>();
  private readonly watches = new FakeWatches();
  private readonly statusOwnership = new StatusOwnership();
  private revision = 1;
  private uidCounter = 0;
  private readonly now: () => number;

  constructor(options: FakeApiServerOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Watch events (of the given kinds, or all) are queued, not delivered, until
   * releaseWatchEvents(): a cache lagging behind.
   */
  holdWatchEvents(...resources: ResourceDescriptor[]): void {
    this.watches.hold(resources.map(kindKey));
  }

  releaseWatchEvents(): void {
    this.watches.release();
  }

  /** The stored object, or undefined; for assertions (records no call). */
  peek<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): T | undefined {
    const stored = this.objects.get(this.keyOf(resource, ref));
    return stored ? (structuredClone(stored) as T) : undefined;
  }

  /** Every stored object of a kind, sorted by name; for assertions (records no call). */
  peekAll<T extends KubeObject>(resource: ResourceDescriptor<T>, namespace?: string): T[] {
    return this.select(resource, { namespace }).map((obj) => structuredClone(obj) as T);
  }

  async get<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    this.begin("get", resource, ref);
    const stored = this.objects.get(this.keyOf(resource, ref));
    if (!stored) throw notFound(resource.kind, ref.name);
    return structuredClone(stored) as T;
  }

  async list<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    options: ListOptions = {},
  ): Promise<ListResult<T>> {
    this.begin("list", resource, undefined, options);
    const items = this.select(resource, options).map((obj) => structuredClone(obj) as T);
    if (options.limit === undefined) return { items, resourceVersion: String(this.revision) };
    // One page and the count of the rest, as the real server gives it.
    return {
      items: items.slice(0, options.limit),
      resourceVersion: String(this.revision),
      remainingItemCount: Math.max(0, items.length - options.limit),
    };
  }

  async create<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    this.begin("create", resource, this.refOf(obj), obj);
    const key = this.keyOf(resource, this.refOf(obj));
    if (this.objects.has(key)) {
      const message = `${resource.kind} "${obj.metadata?.name ?? ""}" already exists`;
      throw new KubeApiError(409, message, { code: 409, reason: "AlreadyExists", message });
    }
    const stored = structuredClone(obj) as KubeObject;
    stored.metadata = {
      ...stored.metadata,
      uid: `uid-${++this.uidCounter}`,
      generation: 1,
      creationTimestamp: new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
    delete stored.metadata.deletionTimestamp;
    return this.store(resource, key, stored, "ADDED") as T;
  }

  async replace<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    const ref = this.refOf(obj);
    this.begin("replace", resource, ref, obj);
    const current = this.current(resource, ref, obj.metadata?.resourceVersion);
    const next = structuredClone(obj) as KubeObject & { status?: unknown };
    if (hasStatusSubresource(resource)) next.status = (current as { status?: unknown }).status;
    return this.update(resource, ref, current, next) as T;
  }

  async mergePatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    this.begin("mergePatch", resource, ref, patch);
    const precondition = (patch as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    const current = this.current(resource, ref, precondition);
    const next = applyMergePatch(current, patch) as KubeObject & { status?: unknown };
    if (hasStatusSubresource(resource)) next.status = (current as { status?: unknown }).status;
    return this.update(resource, ref, current, next) as T;
  }

  async jsonPatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    ops: JsonPatchOp[],
  ): Promise<T> {
    this.begin("jsonPatch", resource, ref, ops);
    const current = this.current(resource, ref, undefined);
    const next = applyJsonPatch(current as Json, ops) as KubeObject;
    return this.update(resource, ref, current, next) as T;
  }

  async patchStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    this.begin("patchStatus", resource, ref, patch);
    const precondition = (patch as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    const current = this.current(resource, ref, precondition);
    return this.update(resource, ref, current, withStatusPatch(current, patch)) as T;
  }

  async applyStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    obj: T,
    options: ApplyOptions,
  ): Promise<T> {
    const ref = this.refOf(obj);
    this.begin("applyStatus", resource, ref, obj, options.fieldManager);
    const current = this.current(resource, ref, undefined);
    const status = this.statusOwnership.apply(
      current.metadata?.uid ?? "",
      options.fieldManager,
      (current as { status?: Record<string, unknown> }).status,
      (obj as { status?: Record<string, unknown> }).status ?? {},
    );
    return this.update(resource, ref, current, { ...current, status } as KubeObject) as T;
  }

  async delete(resource: ResourceDescriptor, ref: ObjectRef, options: DeleteOptions = {}): Promise<void> {
    this.begin("delete", resource, ref, options);
    const current = this.current(resource, ref, options.preconditions?.resourceVersion);
    const uid = options.preconditions?.uid;
    if (uid !== undefined && uid !== current.metadata?.uid) {
      throw conflict(
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${current.metadata?.uid ?? ""}`,
      );
    }
    if (current.metadata?.deletionTimestamp !== undefined) return;
    const next = structuredClone(current);
    next.metadata = {
      ...next.metadata,
      deletionTimestamp: new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
    this.update(resource, ref, current, next);
  }

  async watch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    onDone: (err: Error | undefined) => void,
  ): Promise<WatchHandle> {
    this.begin("watch", resource, undefined, options);
    return this.watches.watch(kindKey(resource), options, onEvent, onDone);
  }

  private begin(
    verb: string,
    resource: ResourceDescriptor,
    ref: ObjectRef | undefined,
    body?: unknown,
    fieldManager?: string,
  ): void {
    this.calls.push({
      verb,
      resource: resource.plural,
      ...(ref ? { ref } : {}),
      ...(body !== undefined ? { body } : {}),
      ...(fieldManager !== undefined ? { fieldManager } : {}),
    });
    const index = this.failures.findIndex((f) => f.verb === verb);
    if (index !== -1) throw this.failures.splice(index, 1)[0]!.error;
  }

  private refOf(obj: KubeObject): ObjectRef {
    return { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" };
  }

  private keyOf(resource: ResourceDescriptor, ref: ObjectRef): string {
    const namespace = resource.namespaced ? (ref.namespace ?? "") : "";
    if (resource.namespaced && !namespace) {
      throw new Error(`${resource.kind} ${ref.name}: a namespace is required`);
    }
    return `${kindKey(resource)}|${namespace}|${ref.name}`;
  }

  private select(resource: ResourceDescriptor, options: ListOptions | WatchOptions): KubeObject[] {
    const prefix =
      resource.namespaced && options.namespace
        ? `${kindKey(resource)}|${options.namespace}|`
        : `${kindKey(resource)}|`;
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .map(([, obj]) => obj)
      .filter((obj) => matchesLabels(obj, options.labelSelector) && matchesFields(obj, options.fieldSelector))
      .sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  }

  /** The stored object, after checking it exists and the resourceVersion precondition holds. */
  private current(
    resource: ResourceDescriptor,
    ref: ObjectRef,
    resourceVersion: string | undefined,
  ): KubeObject {
    const stored = this.objects.get(this.keyOf(resource, ref));
    if (!stored) throw notFound(resource.kind, ref.name);
    if (resourceVersion !== undefined && resourceVersion !== stored.metadata?.resourceVersion) {
      throw conflict(
        `Operation cannot be fulfilled on ${resource.plural} "${ref.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    return stored;
  }

  /** Stores a changed object (a no-op write keeps its resourceVersion, as the real server does). */
  private update(
    resource: ResourceDescriptor,
    ref: ObjectRef,
    current: KubeObject,
    next: KubeObject,
  ): KubeObject {
    const key = this.keyOf(resource, ref);
    const metadata = { ...next.metadata };
    // What the server owns is not the client's to change.
    metadata.uid = current.metadata?.uid;
    metadata.creationTimestamp = current.metadata?.creationTimestamp;
    metadata.resourceVersion = current.metadata?.resourceVersion;
    metadata.generation = current.metadata?.generation;
    if (current.metadata?.deletionTimestamp !== undefined) {
      metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    }
    const candidate = { ...next, metadata } as KubeObject & { spec?: unknown };
    if (jsonEqual(candidate, current)) return structuredClone(current);
    if (!jsonEqual(candidate.spec, (current as { spec?: unknown }).spec)) {
      metadata.generation = (current.metadata?.generation ?? 0) + 1;
    }
    if (metadata.deletionTimestamp !== undefined && (metadata.finalizers ?? []).length === 0) {
      this.objects.delete(key);
      this.revision++;
      metadata.resourceVersion = String(this.revision);
      this.watches.emit(kindKey(resource), this.revision, "DELETED", candidate);
      return structuredClone(candidate);
    }
    return this.store(resource, key, candidate, "MODIFIED");
  }

  private store(
    resource: ResourceDescriptor,
    key: string,
    obj: KubeObject,
    type: WatchEventType,
  ): KubeObject {
    this.revision++;
    obj.metadata = { ...obj.metadata, resourceVersion: String(this.revision) };
    this.objects.set(key, obj);
    this.watches.emit(kindKey(resource), this.revision, type, obj);
    return structuredClone(obj);
  }
}
