/**
 * An informer's cache over a plain list the test edits, for code that reads an informer's
 * cache or listens to it, but never starts one: `get`, `list` and `byIndex` answer from `items`, and
 * `addHandler` only collects the handlers, so a test plays events by calling them itself.
 */
import type { KubeObject } from "../kube/resources.js";
import type { IndexFunction } from "../runtime/cache-indexes.js";
import type { EventHandlers, Informer } from "../runtime/informer.js";

export class ListInformer<T extends KubeObject> {
  readonly handlers: Array<EventHandlers<T>> = [];
  private readonly indexes = new Map<string, IndexFunction<T>>();

  constructor(readonly items: T[] = []) {}

  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.find((o) => o.metadata?.namespace === namespace && o.metadata?.name === name);
  }

  list(namespace?: string): T[] {
    return this.items.filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }

  addIndex(name: string, fn: IndexFunction<T>): void {
    this.indexes.set(name, fn);
  }

  /** The items the named index files under value, by scanning (the real one keeps buckets). */
  byIndex(name: string, value: string): T[] {
    const fn = this.indexes.get(name);
    if (!fn) throw new Error(`no index named ${name}`);
    return this.items.filter((o) => fn(o).includes(value));
  }

  addHandler(handlers: EventHandlers<T>): void {
    this.handlers.push(handlers);
  }

  /** This, typed as the informer the code under test takes (it reads no more than the above). */
  asInformer(): Informer<T> {
    return this as unknown as Informer<T>;
  }
}
