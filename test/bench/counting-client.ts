/**
 * A KubeClient that counts what each call is for (verb, resource, and for Leases whose), then
 * passes it to the real client: the per-purpose view of the requests rest_client_requests_total
 * counts per method. For measurements only.
 */
import type {
  ApplyOptions,
  DeleteOptions,
  KubeClient,
  ListOptions,
  ListResult,
  ObjectRef,
  WatchEvent,
  WatchHandle,
  WatchOptions,
} from "../../controller/src/kube/client.js";
import type { JsonPatchOp } from "../../controller/src/kube/patch.js";
import type { KubeObject, ResourceDescriptor } from "../../controller/src/kube/resources.js";

/** Requests per minute, one decimal, from a count over a window. */
export function perMinute(count: number, windowMs: number): string {
  return ((count * 60_000) / windowMs).toFixed(1);
}

function purposeOf(verb: string, resource: ResourceDescriptor, name?: string): string {
  let whose = "";
  if (resource.plural === "leases" && name !== undefined) {
    whose = name.startsWith("berth-node-") ? " (node heartbeat Lease)" : " (leader election Lease)";
  }
  return `${verb} ${resource.plural}${whose}`;
}

export class CountingKubeClient implements KubeClient {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly inner: KubeClient,
    readonly role: string,
    /** Count status patches apart by the phase they write (where one is written). */
    private readonly byPhase = false,
  ) {}

  /** The counts so far, by purpose. */
  snapshot(): Map<string, number> {
    return new Map(this.counts);
  }

  private count(verb: string, resource: ResourceDescriptor, name?: string): void {
    this.add(purposeOf(verb, resource, name));
  }

  private add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** A refused write is counted once more apart, by its status code (409: a conflict). */
  private outcome<T>(
    request: Promise<T>,
    verb: string,
    resource: ResourceDescriptor,
    name?: string,
  ): Promise<T> {
    return request.catch((err: unknown) => {
      const code = (err as { statusCode?: number }).statusCode ?? "no answer";
      this.add(`${purposeOf(verb, resource, name)} refused (${code})`);
      throw err;
    });
  }

  get<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    this.count("GET", resource, ref.name);
    return this.inner.get(resource, ref);
  }
  list<T extends KubeObject>(resource: ResourceDescriptor<T>, options?: ListOptions): Promise<ListResult<T>> {
    this.count("LIST", resource);
    return this.inner.list(resource, options);
  }
  create<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    this.count("POST", resource, obj.metadata?.name);
    return this.outcome(this.inner.create(resource, obj), "POST", resource, obj.metadata?.name);
  }
  replace<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    this.count("PUT", resource, obj.metadata?.name);
    return this.outcome(this.inner.replace(resource, obj), "PUT", resource, obj.metadata?.name);
  }
  mergePatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    this.count("PATCH", resource, ref.name);
    return this.outcome(this.inner.mergePatch(resource, ref, patch), "PATCH", resource, ref.name);
  }
  jsonPatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    ops: JsonPatchOp[],
  ): Promise<T> {
    this.count("PATCH", resource, ref.name);
    return this.outcome(this.inner.jsonPatch(resource, ref, ops), "PATCH", resource, ref.name);
  }
  patchStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    const phase = (patch as { status?: { phase?: unknown } }).status?.phase;
    const written = this.byPhase && typeof phase === "string" ? ` (phase ${phase})` : "";
    this.count(`PATCH status${written} of`, resource, ref.name);
    return this.outcome(this.inner.patchStatus(resource, ref, patch), "PATCH status of", resource, ref.name);
  }
  applyStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    obj: T,
    options: ApplyOptions,
  ): Promise<T> {
    const name = obj.metadata?.name ?? "";
    this.count(`APPLY status (${options.fieldManager}) of`, resource, name);
    return this.outcome(this.inner.applyStatus(resource, obj, options), "APPLY status of", resource, name);
  }
  delete(resource: ResourceDescriptor, ref: ObjectRef, options?: DeleteOptions): Promise<void> {
    this.count("DELETE", resource, ref.name);
    return this.outcome(this.inner.delete(resource, ref, options), "DELETE", resource, ref.name);
  }
  watch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    onDone: (err: Error | undefined) => void,
  ): Promise<WatchHandle> {
    this.count("WATCH (opened)", resource);
    return this.inner.watch(resource, options, onEvent, onDone);
  }
}
