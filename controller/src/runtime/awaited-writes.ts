/**
 * Writes the API server accepted that the informer cache does not show yet (client-go's
 * "expectations"). The watch event of a write comes a moment after its answer; a pass in
 * between plans from the object as it was and would ask again, to be refused (a create as
 * AlreadyExists, a replace as a conflict, a patch whose test fails) or to do twice what is
 * done once. So a controller notes each accepted write under the key it waits on, and acts
 * as if the write had landed while the note stands. The note goes:
 * - when the cache shows the write: the key's watch event (observe()), or what the
 *   controller itself sees in the cache (forget());
 * - when its time to live runs out, for an event that never came (a relist skipped it):
 *   the cache is the truth again;
 * - past a bound on how many are kept, the note written longest ago first (a note lives
 *   from a write to its event, a moment unless the watch is down), at worst costing one
 *   refused write.
 * What a note holds (the uid written to, the names asked for) is its user's.
 */
import type { KubeObject } from "../kube/resources.js";
import { objectKey, type Informer } from "./informer.js";

export interface AwaitedWritesOptions<Note> {
  /** How long a note waits for the cache: it lapses at the write's time plus this. */
  ttlMs: number;
  /** At most this many notes are kept; one more pushes out the note written longest ago. */
  kept: number;
  /** Told of each note that lapsed (time ran out, or the bound pushed it out); not of one forgotten or replaced. */
  lapsed?: (key: string, note: Note) => void;
}

interface Entry<Note> {
  note: Note;
  expiresAt: number;
}

export class AwaitedWrites<Note = true> {
  /** Per key, in the order of their last write (the oldest first, for the bound). */
  private readonly notes = new Map<string, Entry<Note>>();

  constructor(private readonly options: AwaitedWritesOptions<Note>) {
    if (!(options.ttlMs > 0)) throw new RangeError(`ttlMs must be above 0, not ${options.ttlMs}`);
    if (!Number.isInteger(options.kept) || options.kept < 1) {
      throw new RangeError(`kept must be a whole number above 0, not ${options.kept}`);
    }
  }

  /** An accepted write of the key at `now`: its note, replacing any before, waits a whole time to live. */
  wrote(key: string, note: Note, now: number): void {
    this.notes.delete(key);
    this.notes.set(key, { note, expiresAt: now + this.options.ttlMs });
    if (this.notes.size <= this.options.kept) return;
    const [oldest] = this.notes;
    if (oldest) this.lapse(oldest[0], oldest[1].note);
  }

  /** The key's note while it waits; undefined when there is none or its time ran out (it lapses then). */
  awaited(key: string, now: number): Note | undefined {
    return this.waitMs(key, now) > 0 ? this.notes.get(key)?.note : undefined;
  }

  /** Milliseconds until the key's note lapses: 0 when there is none or its time ran out (it lapses then). */
  waitMs(key: string, now: number): number {
    const entry = this.notes.get(key);
    if (!entry) return 0;
    if (entry.expiresAt <= now) {
      this.lapse(key, entry.note);
      return 0;
    }
    return entry.expiresAt - now;
  }

  /** The key's note whether or not its time ran out, for a look within a pass that asked waitMs() first. */
  peek(key: string): Note | undefined {
    return this.notes.get(key)?.note;
  }

  /** The cache shows the key's write, or no event will come for it (the write failed, the object went). */
  forget(key: string): void {
    this.notes.delete(key);
  }

  /**
   * The informer's events of a key show its write: a delete always, an add or update when
   * `shows` says so. By default any does: the cache showed the latest version when the write
   * was made, so a later event is the write's own or one after it.
   */
  observe<T extends KubeObject>(
    informer: Pick<Informer<T>, "addHandler">,
    shows: (object: T) => boolean = () => true,
  ): void {
    const seen = (object: T): void => {
      if (shows(object)) this.forget(objectKey(object));
    };
    informer.addHandler({
      onAdd: seen,
      onUpdate: (_, object) => seen(object),
      onDelete: (object) => this.forget(objectKey(object)),
    });
  }

  /** How many notes are kept. */
  get size(): number {
    return this.notes.size;
  }

  private lapse(key: string, note: Note): void {
    this.notes.delete(key);
    this.options.lapsed?.(key, note);
  }
}
