/**
 * Expectations, as the ReplicaSet controller keeps them: after creating or deleting
 * Instances, the informer cache lags behind for a moment. Planning again from that stale
 * cache would create a second time an Instance already asked for, delete a second old
 * Instance for the same ready new one, or delete one twice. So the Definition controller
 * notes each name before asking, and the watch events for those names (the Instance added;
 * the Instance terminating or gone) strike them off. Until every name is struck off, a pass
 * changes nothing; after a time to live with no answer (a watch event that never came), the
 * record is dropped and the controller trusts its cache again. A pass asks before it looks at
 * the cache, so what it plans from shows every change it was waiting for.
 */
import type { Instance } from "../../api/types.js";
import { AwaitedWrites } from "../../runtime/awaited-writes.js";
import { objectKey, parseKey, type Informer } from "../../runtime/informer.js";

/** What satisfied() reads of the Instance cache. */
export interface InstanceCache {
  get(namespace: string | undefined, name: string): Instance | undefined;
}

/** The ReplicaSet controller's time to live for expectations. */
export const EXPECTATIONS_TTL_MS = 5 * 60_000;
/** At most this many Definitions' records are kept; past it the oldest goes, and its pass trusts its cache. */
export const EXPECTATIONS_KEPT = 10_000;

interface Pending {
  creates: Set<string>;
  deletes: Set<string>;
}

export class Expectations {
  /** Per Definition key: the names it waits for, under one time to live. */
  private readonly pending: AwaitedWrites<Pending>;
  /** Which Definition key expects each Instance (namespace/name): what a watch event strikes off. */
  private readonly owners = new Map<string, string>();

  /** The Instance cache's watch events strike names off (none in a test of this alone). */
  constructor(
    instances?: Pick<Informer<Instance>, "addHandler">,
    ttlMs = EXPECTATIONS_TTL_MS,
    kept = EXPECTATIONS_KEPT,
  ) {
    this.pending = new AwaitedWrites({ ttlMs, kept, lapsed: (key, entry) => this.disown(key, entry) });
    if (instances) this.observe(instances);
  }

  private observe(instances: Pick<Informer<Instance>, "addHandler">): void {
    instances.addHandler({
      onAdd: (instance) => this.observed(objectKey(instance), "creates"),
      onUpdate: (_, instance) => {
        this.observed(objectKey(instance), "creates");
        if (instance.metadata.deletionTimestamp !== undefined) this.observed(objectKey(instance), "deletes");
      },
      onDelete: (instance) => {
        this.observed(objectKey(instance), "creates");
        this.observed(objectKey(instance), "deletes");
      },
    });
  }

  /** Notes, before asking, the Instances (namespace/name) a Definition key creates. */
  expectCreates(key: string, instances: readonly string[], now: number): void {
    this.expect(key, "creates", instances, now);
  }

  /** Notes, before asking, the Instances (namespace/name) a Definition key deletes. */
  expectDeletes(key: string, instances: readonly string[], now: number): void {
    this.expect(key, "deletes", instances, now);
  }

  /**
   * An answer came back: the time to live counts from the last answer, so an API server slow
   * to answer does not eat the time its watch has to show the change.
   */
  answered(key: string, now: number): void {
    const entry = this.pending.peek(key);
    if (entry) this.pending.wrote(key, entry, now);
  }

  /**
   * True when every change noted for the key has been seen, or the record expired (it is
   * dropped then, and the cache is the truth again). What the cache shows now counts as seen
   * too: a watch event that came between a pass's look at the cache and its note.
   */
  satisfied(key: string, cache: InstanceCache, now: number): boolean {
    const entry = this.pending.peek(key);
    if (!entry) return true;
    const cached = (instance: string): Instance | undefined => {
      const { namespace, name } = parseKey(instance);
      return cache.get(namespace, name);
    };
    for (const instance of entry.creates)
      if (cached(instance) !== undefined) this.observed(instance, "creates");
    for (const instance of entry.deletes) {
      const shown = cached(instance);
      if (shown === undefined || shown.metadata.deletionTimestamp !== undefined)
        this.observed(instance, "deletes");
    }
    return this.pending.waitMs(key, now) === 0;
  }

  /** Milliseconds until the record for the key expires (0 when there is none). */
  remainingMs(key: string, now: number): number {
    return this.pending.waitMs(key, now);
  }

  /** True while a delete asked for the Instance (namespace/name) has not been seen. */
  deleting(key: string, instance: string): boolean {
    return this.pending.peek(key)?.deletes.has(instance) ?? false;
  }

  /** Forgets one Instance whose request failed (no watch event will come), or a whole key. */
  lower(key: string, instance?: string): void {
    const entry = this.pending.peek(key);
    if (!entry) return;
    if (instance === undefined) {
      this.pending.forget(key);
      this.disown(key, entry);
      return;
    }
    entry.creates.delete(instance);
    entry.deletes.delete(instance);
    if (this.owners.get(instance) === key) this.owners.delete(instance);
    if (entry.creates.size === 0 && entry.deletes.size === 0) this.pending.forget(key);
  }

  /** Instances (namespace/name) noted as created but not yet seen. */
  pendingCreates(key: string): string[] {
    return [...(this.pending.peek(key)?.creates ?? [])];
  }

  private expect(key: string, kind: "creates" | "deletes", instances: readonly string[], now: number): void {
    if (instances.length === 0) return;
    const entry = this.pending.peek(key) ?? { creates: new Set(), deletes: new Set() };
    for (const instance of instances) {
      entry[kind].add(instance);
      this.owners.set(instance, key);
    }
    this.pending.wrote(key, entry, now);
  }

  private observed(instance: string, kind: "creates" | "deletes"): void {
    const key = this.owners.get(instance);
    if (key === undefined) return;
    const entry = this.pending.peek(key);
    if (!entry?.[kind].delete(instance)) return;
    if (!entry.creates.has(instance) && !entry.deletes.has(instance)) this.owners.delete(instance);
    if (entry.creates.size === 0 && entry.deletes.size === 0) this.pending.forget(key);
  }

  /** The names of a key's record that went no longer point to it. */
  private disown(key: string, entry: Pending): void {
    for (const name of [...entry.creates, ...entry.deletes]) {
      if (this.owners.get(name) === key) this.owners.delete(name);
    }
  }
}
