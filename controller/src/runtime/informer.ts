import type { KubeClient, WatchEvent } from "../kube/client.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import { CacheIndexes, type IndexFunction } from "./cache-indexes.js";
import type { Clock } from "./clock.js";
import { realClock } from "./clock.js";
import type { Logger } from "./log.js";
import { errorFields, nullLogger } from "./log.js";
import { informerRelists, informerWatchRestarts, presetInformerMetrics } from "./metrics.js";
import type { WatchOutcome } from "./watch-attempt.js";
import { WatchAttempt } from "./watch-attempt.js";

/**
 * Handlers run synchronously inside the informer, in event order. They should only
 * enqueue keys: the object they get is the cached one, frozen.
 */
export interface EventHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  clock?: Clock;
  logger?: Logger;
  /** The server closes each watch after this long (randomized up to twice it); default 300 s. */
  watchTimeoutSeconds?: number;
  /**
   * Restart a watch that has delivered nothing (not even a bookmark) for this long,
   * counted from when it was opened: a watch still waiting for the server's answer is
   * restarted too.
   */
  silenceTimeoutMs?: number;
  /**
   * Applied to every object before it is cached (and handed to handlers): keep only what
   * the readers need, so the cache does not hold, for example, every Secret's data.
   */
  transform?: (obj: T) => T;
  /** Backoff between failed lists/watches: doubling from initial up to max, with jitter. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

/** The built-in index behind list(namespace). */
const NAMESPACE_INDEX = "namespace";
const namespaceOf = (obj: KubeObject): string[] =>
  obj.metadata?.namespace === undefined ? [] : [obj.metadata.namespace];

/** The cache key of an object: "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name ?? "";
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

export function parseKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf("/");
  return slash === -1 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Freezes an object and everything inside it, so cached objects cannot be edited in place. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * A list+watch cache of one kind. It lists, then watches from the list's resourceVersion
 * (with bookmarks), resumes after a watch ends, relists after 410 Gone (reporting deletes
 * for objects that vanished meanwhile), backs off after errors and never ends the process.
 * Objects handed out are deep-frozen: structuredClone them before editing.
 */
export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly indexes = new CacheIndexes<T>();
  private readonly handlers: Array<EventHandlers<T>> = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly resourceLabel: string;
  private resourceVersion = "";
  private synced = false;
  private readonly syncWaiters = new Set<() => void>();
  private abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceDescriptor<T>,
    private readonly options: InformerOptions<T> = {},
  ) {
    this.clock = options.clock ?? realClock;
    this.resourceLabel = resource.group ? `${resource.plural}.${resource.group}` : resource.plural;
    this.log = (options.logger ?? nullLogger).child({ informer: this.resourceLabel });
    presetInformerMetrics(this.resourceLabel);
    this.indexes.add(NAMESPACE_INDEX, namespaceOf, []);
  }

  /**
   * Files every cached object under the values fn names, kept current from then on, so
   * byIndex answers without scanning the cache. Adding the same name and function again is
   * a no-op (readers of a shared cache each ask for what they use).
   */
  addIndex(name: string, fn: IndexFunction<T>): void {
    this.indexes.add(name, fn, this.store.entries());
  }

  /** The cached objects filed under value in the named index: a new array, in cache order. */
  byIndex(name: string, value: string): T[] {
    return this.fromKeys(this.indexes.keys(name, value));
  }

  /** How many distinct values the named index holds: nothing is left of values no object has. */
  indexValueCount(name: string): number {
    return this.indexes.valueCount(name);
  }

  addHandler(handlers: EventHandlers<T>): void {
    this.handlers.push(handlers);
    // A handler added late still hears about what is already cached, as client-go does.
    if (this.synced) for (const obj of this.store.values()) this.dispatch(() => handlers.onAdd?.(obj));
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal).catch((err: unknown) => {
      // run() handles its own errors; reaching this is a bug, and it is logged, not hidden.
      this.log.error("informer loop ended unexpectedly", errorFields(err));
    });
  }

  async stop(): Promise<void> {
    // The watch in progress ends with the signal, connected or not.
    this.abort.abort();
    for (const wake of this.syncWaiters) wake();
    await this.loop;
    this.loop = undefined;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once the first list is in the cache, false if stopped or aborted first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (): void => {
        this.syncWaiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve(this.synced);
      };
      this.syncWaiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): T | undefined {
    return this.store.get(key);
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.store.values()];
    return this.fromKeys(this.indexes.keys(NAMESPACE_INDEX, namespace));
  }

  /** The namespaces at least one cached object is in. */
  namespaces(): string[] {
    return this.indexes.values(NAMESPACE_INDEX);
  }

  /** How many objects are cached. */
  size(): number {
    return this.store.size;
  }

  private fromKeys(keys: readonly string[]): T[] {
    const found: T[] = [];
    for (const key of keys) {
      const obj = this.store.get(key);
      if (obj) found.push(obj);
    }
    return found;
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  /** The last resourceVersion seen: opaque, only handed back to the server. */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.relist();
          needList = false;
          failures = 0;
        } catch (err) {
          failures++;
          this.log.warn("list failed", { ...errorFields(err), attempt: failures });
          await this.clock.sleep(this.backoff(failures), signal);
          continue;
        }
      }
      const startedAt = this.clock.now();
      const { end, delivered, err } = await this.watchOnce(signal);
      if (end === "stopped") break;
      informerWatchRestarts.inc({ resource: this.resourceLabel, reason: end });
      if (end === "gone") {
        this.log.info("watch expired, relisting", { resourceVersion: this.resourceVersion });
        needList = true;
        continue;
      }
      // A watch that delivered something, or lived a while, was healthy: resume at once.
      const healthy = delivered > 0 || this.clock.now() - startedAt >= 1000;
      if (end === "closed" && healthy) {
        failures = 0;
        this.log.debug("watch closed, resuming", { resourceVersion: this.resourceVersion });
        continue;
      }
      failures = healthy ? 1 : failures + 1;
      if (end === "silent") {
        this.log.warn("watch went silent, restarting", { resourceVersion: this.resourceVersion });
      } else {
        this.log.warn("watch failed, retrying", {
          ...(err ? errorFields(err) : {}),
          reason: end,
          attempt: failures,
        });
      }
      await this.clock.sleep(this.backoff(failures), signal);
    }
  }

  private backoff(failures: number): number {
    const initial = this.options.backoffInitialMs ?? 800;
    const max = this.options.backoffMaxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.max(0, failures - 1));
    return base / 2 + Math.random() * (base / 2);
  }

  private async relist(): Promise<void> {
    const listed = await this.client.list(this.resource, {
      namespace: this.options.namespace,
      labelSelector: this.options.labelSelector,
      fieldSelector: this.options.fieldSelector,
    });
    informerRelists.inc({ resource: this.resourceLabel });
    const seen = new Set<string>();
    for (const listedItem of listed.items) {
      const item = this.shape(listedItem);
      const key = objectKey(item);
      seen.add(key);
      this.upsert(key, item);
    }
    for (const [key, old] of [...this.store.entries()]) {
      if (!seen.has(key)) {
        this.remove(key);
        this.dispatchAll((h) => h.onDelete?.(old));
      }
    }
    this.resourceVersion = listed.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      this.log.info("cache synced", { objects: this.store.size, resourceVersion: this.resourceVersion });
      for (const wake of [...this.syncWaiters]) wake();
    }
  }

  private shape(obj: T): T {
    return this.options.transform ? this.options.transform(obj) : obj;
  }

  private upsert(key: string, item: T): void {
    const old = this.store.get(key);
    if (old && old.metadata?.resourceVersion === item.metadata?.resourceVersion) return;
    const frozen = deepFreeze(item);
    this.store.set(key, frozen);
    this.indexes.update(key, frozen);
    if (old) this.dispatchAll((h) => h.onUpdate?.(old, frozen));
    else this.dispatchAll((h) => h.onAdd?.(frozen));
  }

  private remove(key: string): void {
    this.store.delete(key);
    this.indexes.update(key, undefined);
  }

  private watchOnce(signal: AbortSignal): Promise<WatchOutcome> {
    const timeoutSeconds = Math.round((this.options.watchTimeoutSeconds ?? 300) * (1 + Math.random()));
    const attempt = new WatchAttempt<T>({
      client: this.client,
      resource: this.resource,
      watch: {
        namespace: this.options.namespace,
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      },
      clock: this.clock,
      // Without an explicit silence limit, a watch is dead once it outlives its server timeout.
      watchdogMs: this.options.silenceTimeoutMs ?? (timeoutSeconds + 60) * 1000,
      logger: this.log,
      onEvent: (event) => this.apply(event),
    });
    return attempt.run(signal);
  }

  /** A watch event into the cache: the resourceVersion it carries, and the object it changes. */
  private apply(event: WatchEvent<T>): void {
    const rv = (event.object as T).metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (event.type === "BOOKMARK") return;
    const obj = this.shape(event.object as T);
    const key = objectKey(obj);
    if (event.type === "DELETED") {
      const old = this.store.get(key) ?? deepFreeze(obj);
      this.remove(key);
      this.dispatchAll((h) => h.onDelete?.(old));
    } else {
      this.upsert(key, obj);
    }
  }

  private dispatchAll(call: (handlers: EventHandlers<T>) => void): void {
    for (const handlers of this.handlers) this.dispatch(() => call(handlers));
  }

  private dispatch(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.log.error("event handler failed", errorFields(err));
    }
  }
}
