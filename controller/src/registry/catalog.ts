/**
 * The registry's view of every service, kept current from the informer caches, with a
 * change index per service for blocking queries and streams.
 *
 * The index is etcd's revision as the API server reports it in resourceVersion: every
 * change to a service's lookup answer takes the resourceVersion of the object event that
 * caused it. kube-apiserver backed by etcd hands out resourceVersions from one increasing
 * counter (the revision), so the index is the same on every replica for the same change and
 * grows with every change; this is the only place Berth reads a resourceVersion as a
 * number. Two rules keep it from going backwards for a client:
 *  - after a (re)start, every service's index starts at the resourceVersion of the first
 *    lists, which is newer than any change an earlier process or another replica can have
 *    reported before it;
 *  - an answer never carries an index below the one the client sent (a replica whose cache
 *    is behind waits for its next change instead of answering with an older index).
 */
import type { Definition, Instance, Node } from "../api/types.js";
import type { Informer } from "../runtime/informer.js";
import { serviceEntries, summarizeServices, type InstanceEntry, type ServiceSummary } from "./view.js";

export interface CatalogCaches {
  definitions: Informer<Definition>;
  instances: Informer<Instance>;
  nodes: Informer<Node>;
}

/** "namespace/slug". */
export type ServiceKey = string;

export function serviceKey(namespace: string, slug: string): ServiceKey {
  return `${namespace}/${slug}`;
}

/** The resourceVersion as an index; undefined for one that is not a decimal integer. */
export function indexOf(resourceVersion: string | undefined): number | undefined {
  if (!resourceVersion || !/^\d{1,15}$/.test(resourceVersion)) return undefined;
  return Number(resourceVersion);
}

interface ServiceState {
  index: number;
  /** The last answer, serialized: a change of it is a change of the service. */
  fingerprint: string;
  listeners: Set<() => void>;
  /** The service changed while this process watched it. */
  changed: boolean;
}

export interface ServiceAnswer {
  slug: string;
  namespace: string;
  index: number;
  /** Every Instance of the slug, ready or not. */
  instances: InstanceEntry[];
  /** A Definition of this slug exists. */
  defined: boolean;
}

export class ServiceCatalog {
  private readonly states = new Map<ServiceKey, ServiceState>();
  /** The index of the first complete lists: the lowest index any answer carries. */
  private floor = 0;
  private synced = false;

  constructor(private readonly caches: CatalogCaches) {
    caches.definitions.addHandler({
      onAdd: (d) => this.touch([keyOfDefinition(d)], d),
      onUpdate: (_old, d) => this.touch([keyOfDefinition(d)], d),
      onDelete: (d) => this.touch([keyOfDefinition(d)], d),
    });
    caches.instances.addHandler({
      onAdd: (i) => this.touch([keyOfInstance(i)], i),
      onUpdate: (old, i) => this.touch([keyOfInstance(old), keyOfInstance(i)], i),
      onDelete: (i) => this.touch([keyOfInstance(i)], i),
    });
    // A Node's readiness decides whether the Instances on it are ready.
    const onNode = (node: Node): void => {
      const keys = this.caches.instances
        .list()
        .filter((i) => i.spec.nodeName === node.metadata.name)
        .map(keyOfInstance);
      this.touch(keys, node);
    };
    caches.nodes.addHandler({ onAdd: onNode, onUpdate: (_old, n) => onNode(n), onDelete: onNode });
  }

  hasSynced(): boolean {
    if (this.synced) return true;
    const { definitions, instances, nodes } = this.caches;
    if (!definitions.hasSynced() || !instances.hasSynced() || !nodes.hasSynced()) return false;
    this.synced = true;
    this.floor = Math.max(
      0,
      ...[definitions, instances, nodes].map((c) => indexOf(c.lastResourceVersion()) ?? 0),
    );
    for (const state of this.states.values()) state.index = Math.max(state.index, this.floor);
    return true;
  }

  /** The answer for one slug (every instance, ready or not). */
  service(namespace: string, slug: string): ServiceAnswer {
    const key = serviceKey(namespace, slug);
    return {
      slug,
      namespace,
      index: this.indexOfKey(key),
      instances: serviceEntries(slug, this.caches.instances.list(namespace), this.nodeOf),
      defined: this.caches.definitions.get(namespace, slug) !== undefined,
    };
  }

  /** Every service of the namespace, and the highest index among them. */
  services(namespace: string): { index: number; services: ServiceSummary[] } {
    const services = summarizeServices(
      this.caches.definitions.list(namespace),
      this.caches.instances.list(namespace),
      this.nodeOf,
    );
    let index = this.floor;
    for (const [key, state] of this.states) {
      if (key.startsWith(`${namespace}/`)) index = Math.max(index, state.index);
    }
    return { index, services };
  }

  /** The service's current index. */
  indexOfKey(key: ServiceKey): number {
    return Math.max(this.states.get(key)?.index ?? 0, this.floor);
  }

  /**
   * Calls listener after every change of the service until the returned function is
   * called. Listeners run synchronously inside the informer: they must only wake waiters.
   */
  subscribe(key: ServiceKey, listener: () => void): () => void {
    const state = this.stateOf(key);
    state.listeners.add(listener);
    return () => {
      state.listeners.delete(listener);
      this.forgetIfIdle(key, state);
    };
  }

  /**
   * Resolves once the service's index is above `index`, or when the signal aborts
   * (timeout, client gone); true when it changed.
   */
  waitForChange(key: ServiceKey, index: number, signal: AbortSignal): Promise<boolean> {
    if (this.indexOfKey(key) > index) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (changed: boolean): void => {
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
        resolve(changed);
      };
      const onAbort = (): void => done(false);
      const unsubscribe = this.subscribe(key, () => {
        if (this.indexOfKey(key) > index) done(true);
      });
      if (signal.aborted) done(false);
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private readonly nodeOf = (name: string): Node | undefined => this.caches.nodes.get(undefined, name);

  /** Recomputes the services an event touched; a changed answer takes the event's index. */
  private touch(keys: ServiceKey[], cause: { metadata?: { resourceVersion?: string } }): void {
    const eventIndex = indexOf(cause.metadata?.resourceVersion);
    for (const key of new Set(keys)) {
      const state = this.states.get(key) ?? this.newState(key, "");
      const fingerprint = this.fingerprintOf(key);
      if (fingerprint === state.fingerprint) continue;
      state.fingerprint = fingerprint;
      state.changed = true;
      // An event replayed by a relist carries an older resourceVersion: still move forward.
      state.index = Math.max(state.index + 1, eventIndex ?? 0, this.floor);
      for (const listener of [...state.listeners]) listener();
      this.forgetIfIdle(key, state);
    }
  }

  private stateOf(key: ServiceKey): ServiceState {
    return this.states.get(key) ?? this.newState(key, this.fingerprintOf(key));
  }

  private newState(key: ServiceKey, fingerprint: string): ServiceState {
    const state: ServiceState = { index: this.floor, fingerprint, listeners: new Set(), changed: false };
    this.states.set(key, state);
    return state;
  }

  private fingerprintOf(key: ServiceKey): string {
    const slash = key.indexOf("/");
    const namespace = key.slice(0, slash);
    const slug = key.slice(slash + 1);
    return JSON.stringify([
      serviceEntries(slug, this.caches.instances.list(namespace), this.nodeOf),
      this.caches.definitions.get(namespace, slug)?.metadata.uid ?? null,
    ]);
  }

  /**
   * A state made only for a waiter on a slug that never changed is dropped with its last
   * waiter, so lookups of made-up slugs hold no memory. A service that changed keeps its
   * state (and index) even after it is gone: its index must not fall back to the floor.
   */
  private forgetIfIdle(key: ServiceKey, state: ServiceState): void {
    if (state.listeners.size === 0 && !state.changed) this.states.delete(key);
  }
}

function keyOfDefinition(definition: Definition): ServiceKey {
  return serviceKey(definition.metadata.namespace ?? "default", definition.metadata.name ?? "");
}

function keyOfInstance(instance: Instance): ServiceKey {
  return serviceKey(instance.metadata.namespace ?? "default", instance.spec.definition);
}
