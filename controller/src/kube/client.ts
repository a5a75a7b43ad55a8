import type { KubeConfig } from "@kubernetes/client-node";
import type { ApiStatus } from "./errors.js";
import { KubeApiError } from "./errors.js";
import type { JsonPatchOp } from "./patch.js";
import type { KubeObject, ResourceDescriptor } from "./resources.js";
import type { RequestObserver } from "./transport.js";
import { ERROR_CODE, KubeTransport, requestHeaders } from "./transport.js";
import { openWatchStream } from "./watch-stream.js";

/** Names one object; namespace is ignored for cluster-scoped kinds. */
export interface ObjectRef {
  namespace?: string | undefined;
  name: string;
}

export interface ListOptions {
  /** Namespace to list in; all namespaces when absent. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Page size; the client follows continue tokens and returns every item. */
  pageSize?: number;
  /**
   * Only the first page, of at most this many items, and the server's remainingItemCount:
   * a count without reading every object.
   */
  limit?: number;
}

export interface ListResult<T> {
  items: T[];
  /** The list's resourceVersion: an opaque string, only ever handed back to the server. */
  resourceVersion: string;
  /** With ListOptions.limit: how many more items the server holds beyond the page. */
  remainingItemCount?: number;
}

export interface WatchOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  resourceVersion: string;
  allowWatchBookmarks?: boolean;
  /** The server ends the watch after this long; the informer then resumes it. */
  timeoutSeconds?: number;
  /** Aborting it ends the watch, also while it is still waiting for the server's answer. */
  signal?: AbortSignal;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchEvent<T> {
  type: WatchEventType;
  /** The object, or an ApiStatus for ERROR events. */
  object: T | ApiStatus;
}

export interface WatchHandle {
  stop(): void;
}

export interface ApplyOptions {
  /** Who owns the applied fields; each writer of an object's status has its own. */
  fieldManager: string;
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: "Foreground" | "Background" | "Orphan";
  gracePeriodSeconds?: number;
}

/**
 * The one way Berth talks to the API server. Every method throws KubeApiError on an error
 * answer; classify it with isNotFound/isConflict/isGone/isAlreadyExists.
 */
export interface KubeClient {
  get<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T>;
  list<T extends KubeObject>(resource: ResourceDescriptor<T>, options?: ListOptions): Promise<ListResult<T>>;
  create<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T>;
  /** PUT: replaces the object; metadata.resourceVersion, when set, is the precondition. */
  replace<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T>;
  /** RFC 7386 merge patch; put metadata.resourceVersion in the patch for a precondition. */
  mergePatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T>;
  /** RFC 6902 JSON patch; `test` operations are the precondition. */
  jsonPatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    ops: JsonPatchOp[],
  ): Promise<T>;
  /** Merge patch of the /status subresource. */
  patchStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T>;
  /**
   * Server-side apply of the /status subresource as `options.fieldManager`: the API server
   * merges `obj` (apiVersion, kind, name and the status fields this manager owns) into the
   * object by field ownership, with no resourceVersion precondition. Fields this manager
   * applied before and leaves out now are removed; fields of other managers stay. With a
   * listType=map list (conditions keyed by type), each manager owns its own entries.
   */
  applyStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    obj: T,
    options: ApplyOptions,
  ): Promise<T>;
  delete(resource: ResourceDescriptor, ref: ObjectRef, options?: DeleteOptions): Promise<void>;
  /**
   * Starts a watch. onDone is called exactly once when the stream ends for any reason
   * (error, server timeout, stop()).
   */
  watch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    onDone: (err: Error | undefined) => void,
  ): Promise<WatchHandle>;
}

export interface RestClientOptions {
  /**
   * Per-request timeout; for a watch, the longest wait for the server's first answer
   * (once streaming, a watch has no timeout of its own).
   */
  requestTimeoutMs?: number;
  /** Sent as the field manager on writes. */
  fieldManager?: string;
  /** Told of every request; the binary passes client-go's request metrics (runtime/metrics.ts). */
  observer?: RequestObserver;
}

export function resourcePath(resource: ResourceDescriptor, namespace?: string, name?: string): string {
  const root =
    resource.group === "" ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  let path = root;
  if (resource.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${resource.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  return path;
}

function objectPath(resource: ResourceDescriptor, ref: ObjectRef): string {
  if (resource.namespaced && !ref.namespace) {
    throw new Error(`${resource.kind} ${ref.name}: a namespace is required`);
  }
  return resourcePath(resource, ref.namespace, ref.name);
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The REST client over a KubeConfig: client-node does auth and TLS, this does the verbs. */
export class RestKubeClient implements KubeClient {
  private readonly transport: KubeTransport;
  private readonly fieldManager: string;

  constructor(
    private readonly kc: KubeConfig,
    options: RestClientOptions = {},
  ) {
    this.transport = new KubeTransport(kc, options.requestTimeoutMs ?? 30_000, options.observer);
    this.fieldManager = options.fieldManager ?? "berth";
  }

  async get<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    return (await this.transport.request("GET", objectPath(resource, ref))) as T;
  }

  async list<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    options: ListOptions = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = "";
    let remainingItemCount: number | undefined;
    do {
      const path =
        resourcePath(resource, options.namespace) +
        query({
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          limit: options.limit ?? options.pageSize ?? 500,
          continue: continueToken,
        });
      const page = (await this.transport.request("GET", path)) as {
        items?: T[];
        metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
      };
      // A List's items carry no apiVersion/kind; fill them in so callers see whole objects.
      for (const item of page.items ?? []) {
        items.push({ apiVersion: apiVersionText(resource), kind: resource.kind, ...item });
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      continueToken = page.metadata?.continue || undefined;
      remainingItemCount = page.metadata?.remainingItemCount;
    } while (continueToken && options.limit === undefined);
    return {
      items,
      resourceVersion,
      ...(options.limit !== undefined ? { remainingItemCount: remainingItemCount ?? 0 } : {}),
    };
  }

  async create<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    const namespace = obj.metadata?.namespace;
    if (resource.namespaced && !namespace)
      throw new Error(`${resource.kind}: metadata.namespace is required`);
    const path = resourcePath(resource, namespace) + query({ fieldManager: this.fieldManager });
    return (await this.transport.request("POST", path, obj)) as T;
  }

  async replace<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    const ref = { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" };
    const path = objectPath(resource, ref) + query({ fieldManager: this.fieldManager });
    return (await this.transport.request("PUT", path, obj)) as T;
  }

  async mergePatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    const path = objectPath(resource, ref) + query({ fieldManager: this.fieldManager });
    return (await this.transport.request("PATCH", path, patch, "application/merge-patch+json")) as T;
  }

  async jsonPatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    ops: JsonPatchOp[],
  ): Promise<T> {
    const path = objectPath(resource, ref) + query({ fieldManager: this.fieldManager });
    try {
      return (await this.transport.request("PATCH", path, ops, "application/json-patch+json")) as T;
    } catch (err) {
      throw markFailedTest(err, ops);
    }
  }

  async patchStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    const path = `${objectPath(resource, ref)}/status` + query({ fieldManager: this.fieldManager });
    return (await this.transport.request("PATCH", path, patch, "application/merge-patch+json")) as T;
  }

  async applyStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    obj: T,
    options: ApplyOptions,
  ): Promise<T> {
    const ref = { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" };
    // force: a field another manager (such as an earlier merge-patch writer) also owns is
    // taken over rather than refused; each writer applies only what is its own.
    const path =
      `${objectPath(resource, ref)}/status` + query({ fieldManager: options.fieldManager, force: true });
    // JSON is YAML: the apply content type takes it as it is.
    return (await this.transport.request("PATCH", path, obj, "application/apply-patch+yaml")) as T;
  }

  async delete(resource: ResourceDescriptor, ref: ObjectRef, options: DeleteOptions = {}): Promise<void> {
    const body = { apiVersion: "v1", kind: "DeleteOptions", ...options };
    await this.transport.request("DELETE", objectPath(resource, ref), body);
  }

  async watch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    onDone: (err: Error | undefined) => void,
  ): Promise<WatchHandle> {
    const url = this.transport.url(
      resourcePath(resource, options.namespace) +
        query({
          watch: true,
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: options.allowWatchBookmarks ?? true,
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          timeoutSeconds: options.timeoutSeconds,
        }),
    );
    const requestOptions = await this.transport.requestOptions();
    const headers = requestHeaders(requestOptions);
    const startedAt = performance.now();
    const stream = openWatchStream({
      url,
      options: { headers, agent: requestOptions.agent, auth: requestOptions.auth },
      connectTimeoutMs: this.transport.requestTimeoutMs,
      signal: options.signal,
      onEvent: (event) =>
        onEvent({ type: event.type as WatchEventType, object: event.object as T | ApiStatus }),
      onDone,
    });
    // A watch is counted once, when the server answers it (or it fails to), as client-go
    // counts it, however long it then runs.
    const code = await stream.connected;
    this.transport.recordRequest("GET", url.host, code ?? ERROR_CODE, startedAt);
    return { stop: () => stream.stop() };
  }
}

/**
 * The API server answers a failed `test` operation with a bare 422 Invalid (no field
 * causes), unlike a validation failure, which names the fields. Mark it so callers can
 * treat it as the optimistic-lock conflict it is.
 */
function markFailedTest(err: unknown, ops: JsonPatchOp[]): unknown {
  if (!(err instanceof KubeApiError) || err.statusCode !== 422) return err;
  if (!ops.some((op) => op.op === "test")) return err;
  if ((err.status?.details?.causes ?? []).length > 0) return err;
  return new KubeApiError(422, `${err.message} (a patch precondition failed)`, err.status, true);
}

function apiVersionText(resource: ResourceDescriptor): string {
  return resource.group === "" ? resource.version : `${resource.group}/${resource.version}`;
}

export function newKubeClient(kc: KubeConfig, options?: RestClientOptions): KubeClient {
  return new RestKubeClient(kc, options);
}
