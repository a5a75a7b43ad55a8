/**
 * A controller's own writes whose watch events are still to come, each recorded before it
 * is sent under the resourceVersion it goes over: the watch event of a write can arrive
 * before the write's answer, so a record made after the answer would miss it. The event
 * that moves the cache from that version is the one to hold against the write; whoever
 * keeps the records says what the write must show for the event to be its alone.
 */
interface Pending<W> {
  base: string;
  write: W;
}

export class PendingWrites<W> {
  private readonly byKey = new Map<string, Array<Pending<W>>>();

  /** `kept`: how many are kept per object; a relist may skip some events, so the oldest go. */
  constructor(private readonly kept: number) {}

  /**
   * Records a write over version `base` of the object `key`, before it is sent. Returns
   * what withdraws it, for a write that failed (and so makes no event).
   */
  add(key: string, base: string, write: W): () => void {
    const pending = this.byKey.get(key) ?? [];
    const entry = { base, write };
    pending.push(entry);
    if (pending.length > this.kept) pending.shift();
    this.byKey.set(key, pending);
    return () => this.remove(key, (candidate) => candidate === entry);
  }

  /** The write that went over version `base`, taken off the record: its event is the one come. */
  take(key: string, base: string | undefined): W | undefined {
    return this.remove(key, (candidate) => candidate.base === base)?.write;
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }

  private remove(key: string, matches: (candidate: Pending<W>) => boolean): Pending<W> | undefined {
    const pending = this.byKey.get(key);
    if (!pending) return undefined;
    const index = pending.findIndex(matches);
    const [found] = index < 0 ? [] : pending.splice(index, 1);
    if (pending.length === 0) this.byKey.delete(key);
    return found;
  }
}
