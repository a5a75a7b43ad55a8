/**
 * Secondary indexes over an informer's cache, the client-go way: an index function names the
 * values an object is filed under, and a lookup by value answers the keys filed there without
 * scanning the cache. The informer keeps them current on every add, update, delete and relist.
 */

/** The values an object is filed under in one index (none: it is not in that index). */
export type IndexFunction<T> = (obj: T) => readonly string[];

interface Index<T> {
  fn: IndexFunction<T>;
  /** value -> the keys filed under it, in the order they were filed. */
  byValue: Map<string, Set<string>>;
  /** key -> the values it is filed under, so an update or delete finds the old buckets. */
  byKey: Map<string, readonly string[]>;
}

export class CacheIndexes<T> {
  private readonly indexes = new Map<string, Index<T>>();

  /**
   * Adds an index and files what is cached already. The same name with the same function is
   * a no-op (readers sharing one cache may each ask for it); with another function it is a bug.
   */
  add(name: string, fn: IndexFunction<T>, cached: Iterable<[string, T]>): void {
    const existing = this.indexes.get(name);
    if (existing) {
      if (existing.fn !== fn) throw new Error(`index ${name} already exists with another function`);
      return;
    }
    const index: Index<T> = { fn, byValue: new Map(), byKey: new Map() };
    this.indexes.set(name, index);
    for (const [key, obj] of cached) this.file(index, key, undefined, obj);
  }

  has(name: string): boolean {
    return this.indexes.has(name);
  }

  /** Refiles one key under what the cache holds for it now (undefined: it was deleted). */
  update(key: string, next: T | undefined): void {
    for (const index of this.indexes.values()) this.file(index, key, index.byKey.get(key), next);
  }

  /** The keys filed under value in the named index: a copy, in filing order. */
  keys(name: string, value: string): string[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index named ${name}`);
    return [...(index.byValue.get(value) ?? [])];
  }

  /** The values at least one object is filed under in the named index. */
  values(name: string): string[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index named ${name}`);
    return [...index.byValue.keys()];
  }

  /** How many distinct values the named index holds (for tests: emptied values leave nothing behind). */
  valueCount(name: string): number {
    return this.indexes.get(name)?.byValue.size ?? 0;
  }

  private file(
    index: Index<T>,
    key: string,
    oldValues: readonly string[] | undefined,
    next: T | undefined,
  ): void {
    const newValues = next === undefined ? [] : [...new Set(index.fn(next))];
    const before = oldValues ?? [];
    // Unchanged values keep their place, so a lookup keeps the cache's order for most updates.
    for (const value of before) {
      if (newValues.includes(value)) continue;
      const bucket = index.byValue.get(value);
      bucket?.delete(key);
      if (bucket?.size === 0) index.byValue.delete(value);
    }
    for (const value of newValues) {
      if (before.includes(value)) continue;
      let bucket = index.byValue.get(value);
      if (!bucket) index.byValue.set(value, (bucket = new Set()));
      bucket.add(key);
    }
    if (newValues.length === 0) index.byKey.delete(key);
    else index.byKey.set(key, newValues);
  }
}
