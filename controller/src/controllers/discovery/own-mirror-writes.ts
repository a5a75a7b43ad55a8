/**
 * Discovery's own writes of its Services and EndpointSlices, until their watch events come.
 * Each write comes back as a watch event of the object it wrote, and a pass it woke would
 * find nothing to do: the pass that wrote went on from what it wrote. So, as the Definition
 * controller does for its status writes (definition/own-status-writes.ts), the event that
 * merely echoes a write of discovery's wakes no pass: it shows the content written (what a
 * pass reads of it), at or after the version the write made. A write is noted before it is
 * sent, so an event that comes before the answer is known too; a note is its event's once.
 * Anyone else's change (a hand edit, another writer, a deletion) shows other content or
 * comes with no note, and wakes a pass that puts it right.
 *
 * Until its event comes, a note also keeps the object a create made: a pass in between
 * (woken by an Instance) finds no Service in the cache and would create it again, to be
 * refused as AlreadyExists.
 */
import type { KubeObject } from "../../kube/resources.js";
import { AwaitedWrites } from "../../runtime/awaited-writes.js";
import { objectKey, type Informer } from "../../runtime/informer.js";
import { isOlderVersion } from "../../runtime/lagging-cache.js";

/** One write: the object as sent, and the server's answer once it came. */
interface OwnWrite<T> {
  sent: T;
  answer?: T;
}

/** A note lapses after this long: an event a relist skipped must not make one last. */
const OWN_WRITE_TTL_MS = 30_000;
/** At most this many notes are kept, as for the other controllers' awaited writes. */
const OWN_WRITES_KEPT = 10_000;

export class OwnMirrorWrites<T extends KubeObject> {
  private readonly writes = new AwaitedWrites<OwnWrite<T>>({
    ttlMs: OWN_WRITE_TTL_MS,
    kept: OWN_WRITES_KEPT,
  });

  /** `sameContent`: whether two versions of an object say the same to a discovery pass. */
  constructor(private readonly sameContent: (a: T, b: T) => boolean) {}

  /** A write of `object` is about to be sent (its event can come before the answer). */
  writing(object: T, now: number): void {
    this.writes.wrote(objectKey(object), { sent: object }, now);
  }

  /** The server's answer to the write being sent; ignored when its event came already. */
  wrote(sent: T, answer: T): void {
    const note = this.writes.peek(objectKey(sent));
    if (note?.sent === sent) note.answer = answer;
  }

  /** The write being sent was refused: no event will come for it. */
  refused(sent: T): void {
    if (this.writes.peek(objectKey(sent))?.sent === sent) this.writes.forget(objectKey(sent));
  }

  /**
   * Whether an add or update event showing `object` only echoes a write of discovery's: the
   * content sent, at or after the version the write made. An event older than the write
   * leaves its note for the write's own event; any other takes it.
   */
  echoes(object: T, now: number): boolean {
    const key = objectKey(object);
    const note = this.writes.awaited(key, now);
    if (!note) return false;
    const made = note.answer?.metadata?.resourceVersion;
    if (isOlderVersion(object.metadata?.resourceVersion, made)) return false;
    this.writes.forget(key);
    return this.sameContent(object, note.sent);
  }

  /** The object a create of discovery's made, while its event has yet to come. */
  created(key: string, now: number): T | undefined {
    return this.writes.awaited(key, now)?.answer;
  }

  /** A deletion, by anyone, leaves no write of discovery's to wait for. */
  observeDeletions(informer: Pick<Informer<T>, "addHandler">): void {
    informer.addHandler({ onDelete: (object) => this.writes.forget(objectKey(object)) });
  }
}
