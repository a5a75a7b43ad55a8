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
 *
 * A namespace has an index too (the key "namespace/", which no slug can make): it moves
 * with every change of one of its services and of what the service list shows of a
 * Definition (replicas, deploymentId), so the list can be watched with blocking queries.
 *
 * Cost: the catalog keeps the Instances of each service and the services on each Node, so
 * an event recomputes one service from its own members, and a Node's heartbeat touches
 * nothing unless its readiness flips.
 */
import type { Definition, Instance, Node } from "../api/types.js";
import { nodeIsReady } from "../api/vocabulary.js";
import type { Informer } from "../runtime/informer.js";
import { serviceEntries, summarizeServices, type InstanceEntry, type ServiceSummary } from "./view.js";

export interface CatalogCaches {
  definitions: Informer<Definition>;
  instances: Informer<Instance>;
  nodes: Informer<Node>;
}

/** "namespace/slug", or "namespace/" for the namespace's service list. */
export type ServiceKey = string;

export function serviceKey(namespace: string, slug: string): ServiceKey {
  return `${namespace}/${slug}`;
}

/** The key whose index moves with every change of the namespace's service list. */
export function namespaceKey(namespace: string): ServiceKey {
  return `${namespace}/`;
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
  /** The Instances of each service, by name. */
  private readonly members = new Map<ServiceKey, Map<string, Instance>>();
  /** How many Instances of each service each Node holds. */
  private readonly servicesOnNode = new Map<string, Map<ServiceKey, number>>();
  /** The index of the first complete lists: the lowest index any answer carries. */
  private floor = 0;
  private synced = false;

  constructor(private readonly caches: CatalogCaches) {
    caches.definitions.addHandler({
      onAdd: (d) => this.touch([keyOfDefinition(d)], d, true),
      onUpdate: (old, d) => this.touch([keyOfDefinition(d)], d, listedChanged(old, d)),
      onDelete: (d) => this.touch([keyOfDefinition(d)], d, true),
    });
    caches.instances.addHandler({
      onAdd: (i) => {
        this.remember(i);
        this.touch([keyOfInstance(i)], i);
      },
      onUpdate: (old, i) => {
        this.forget(old);
        this.remember(i);
        this.touch([keyOfInstance(old), keyOfInstance(i)], i);
      },
      onDelete: (i) => {
        this.forget(i);
        this.touch([keyOfInstance(i)], i);
      },
    });
    // A Node's readiness decides whether the Instances on it are ready; nothing else of it
    // shows in an answer, so a heartbeat that leaves readiness as it was touches nothing.
    const onNode = (node: Node): void => {
      const keys = this.servicesOnNode.get(node.metadata.name ?? "");
      if (keys) this.touch([...keys.keys()], node);
    };
    caches.nodes.addHandler({
      onAdd: onNode,
      onUpdate: (old, n) => {
        if (nodeIsReady(old) !== nodeIsReady(n)) onNode(n);
      },
      onDelete: onNode,
    });
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
      instances: this.entriesOf(key),
      defined: this.caches.definitions.get(namespace, slug) !== undefined,
    };
  }

  /** Every service of the namespace, and the namespace's index. */
  services(namespace: string): { index: number; services: ServiceSummary[] } {
    const services = summarizeServices(
      this.caches.definitions.list(namespace),
      this.caches.instances.list(namespace),
      this.nodeOf,
    );
    return { index: this.indexOfKey(namespaceKey(namespace)), services };
  }

  /** The service's (or, for a namespaceKey, the namespace's) current index. */
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

  private entriesOf(key: ServiceKey): InstanceEntry[] {
    const slug = key.slice(key.indexOf("/") + 1);
    return serviceEntries(slug, [...(this.members.get(key)?.values() ?? [])], this.nodeOf);
  }

  private remember(instance: Instance): void {
    const key = keyOfInstance(instance);
    let members = this.members.get(key);
    if (!members) this.members.set(key, (members = new Map()));
    members.set(instance.metadata.name ?? "", instance);
    const node = instance.spec.nodeName;
    if (node) {
      let keys = this.servicesOnNode.get(node);
      if (!keys) this.servicesOnNode.set(node, (keys = new Map()));
      keys.set(key, (keys.get(key) ?? 0) + 1);
    }
  }

  private forget(instance: Instance): void {
    const key = keyOfInstance(instance);
    const members = this.members.get(key);
    if (members?.delete(instance.metadata.name ?? "") && members.size === 0) this.members.delete(key);
    const node = instance.spec.nodeName;
    const keys = node ? this.servicesOnNode.get(node) : undefined;
    if (node && keys) {
      const left = (keys.get(key) ?? 1) - 1;
      if (left > 0) keys.set(key, left);
      else keys.delete(key);
      if (keys.size === 0) this.servicesOnNode.delete(node);
    }
  }

  /**
   * Recomputes the services an event touched; a changed answer takes the event's index, and
   * so does its namespace's list (also when `listed` says the event changed only the list).
   */
  private touch(
    keys: ServiceKey[],
    cause: { metadata?: { resourceVersion?: string } },
    listed = false,
  ): void {
    const eventIndex = indexOf(cause.metadata?.resourceVersion);
    const namespaces = new Set<string>();
    for (const key of new Set(keys)) {
      const state = this.states.get(key) ?? this.newState(key, "");
      const fingerprint = this.fingerprintOf(key);
      if (fingerprint !== state.fingerprint) {
        state.fingerprint = fingerprint;
        this.advance(key, state, eventIndex);
        namespaces.add(key.slice(0, key.indexOf("/")));
      } else if (listed) {
        namespaces.add(key.slice(0, key.indexOf("/")));
      }
      this.forgetIfIdle(key, state);
    }
    for (const namespace of namespaces) {
      const key = namespaceKey(namespace);
      const state = this.states.get(key) ?? this.newState(key, "");
      this.advance(key, state, eventIndex);
    }
  }

  private advance(key: ServiceKey, state: ServiceState, eventIndex: number | undefined): void {
    state.changed = true;
    // An event replayed by a relist carries an older resourceVersion: still move forward.
    state.index = Math.max(state.index + 1, eventIndex ?? 0, this.floor);
    for (const listener of [...state.listeners]) listener();
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
    if (key.endsWith("/")) return "";
    const slash = key.indexOf("/");
    return JSON.stringify([
      this.entriesOf(key),
      this.caches.definitions.get(key.slice(0, slash), key.slice(slash + 1))?.metadata.uid ?? null,
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

/** Whether the service list shows a change of the Definition (its desired count, its deploymentId). */
function listedChanged(old: Definition, current: Definition): boolean {
  return (
    (old.spec.replicas ?? 1) !== (current.spec.replicas ?? 1) ||
    old.status?.deploymentId !== current.status?.deploymentId
  );
}

function keyOfDefinition(definition: Definition): ServiceKey {
  return serviceKey(definition.metadata.namespace ?? "default", definition.metadata.name ?? "");
}

function keyOfInstance(instance: Instance): ServiceKey {
  return serviceKey(instance.metadata.namespace ?? "default", instance.spec.definition);
}
