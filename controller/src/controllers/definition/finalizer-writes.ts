/**
 * Finalizer patches whose watch event has not come yet. The patch that puts a new
 * Definition's finalizer on tests that the Definition has no finalizer list (runtime/
 * finalizers.ts). A pass that runs before the cache shows that patch (woken by the
 * Instances the first pass created) would send the same patch again, and the API server
 * would refuse it (422: the list is there now), failing the pass for a retry. So each
 * accepted patch is noted, and until the cache shows the finalizer on that Definition
 * (same uid) a pass sends none. A note whose event never came (a relist skipped it and
 * someone took the finalizer off meanwhile) is dropped after a time to live, and the cache
 * is the truth again.
 */
import { DEFINITION_FINALIZER } from "../../api/vocabulary.js";
import type { Definition, Instance } from "../../api/types.js";
import { isConflict, isPatchTestFailed } from "../../kube/errors.js";
import { DEFINITIONS } from "../../kube/resources.js";
import { AwaitedWrites } from "../../runtime/awaited-writes.js";
import type { ReconcileContext } from "../../runtime/controller.js";
import { addFinalizer, hasFinalizer } from "../../runtime/finalizers.js";
import { objectKey, type Informer } from "../../runtime/informer.js";
import type { ControllerContext } from "../context.js";
import { deleteInstances } from "./deletion.js";

/** How long a finalizer patch waits for its event before a pass may send it again. */
export const FINALIZER_WRITE_TTL_MS = 30_000;
/** At most this many patches are awaited; past it the oldest goes, at worst costing one refused patch. */
export const FINALIZER_WRITES_KEPT = 10_000;

export class FinalizerWrites {
  /** Per Definition key: the uid the finalizer was put on. */
  private readonly pending: AwaitedWrites<string>;

  constructor(
    definitions: Pick<Informer<Definition>, "addHandler">,
    private readonly finalizer: string,
    ttlMs = FINALIZER_WRITE_TTL_MS,
    kept = FINALIZER_WRITES_KEPT,
  ) {
    this.pending = new AwaitedWrites({ ttlMs, kept });
    this.pending.observe(definitions, (definition) => hasFinalizer(definition, this.finalizer));
  }

  /** The API server accepted the patch that put the finalizer on `stored`, at `now`. */
  wrote(stored: Definition, now: number): void {
    const uid = stored.metadata.uid;
    if (!uid || !hasFinalizer(stored, this.finalizer)) return;
    this.pending.wrote(objectKey(stored), uid, now);
  }

  /** Whether the finalizer is on `cached` or on its way there (then no patch is sent). */
  onOrOnItsWay(cached: Definition, now: number): boolean {
    if (hasFinalizer(cached, this.finalizer)) return true;
    const key = objectKey(cached);
    const uid = this.pending.awaited(key, now);
    if (uid === undefined) return false;
    if (uid !== cached.metadata.uid) {
      this.pending.forget(key);
      return false;
    }
    return true;
  }

  forget(key: string): void {
    this.pending.forget(key);
  }

  /** How many patches are awaited (for tests). */
  get size(): number {
    return this.pending.size;
  }
}

/** A new Definition's finalizer, put on while its pass creates its first Instances. */
export class NewDefinitionFinalizer {
  private readonly writes: FinalizerWrites;

  constructor(private readonly context: ControllerContext) {
    this.writes = new FinalizerWrites(context.caches.definitions, DEFINITION_FINALIZER);
  }

  /**
   * Sends the patch that puts the finalizer on, unless the cache shows it or an earlier
   * pass's patch the cache has yet to show put it on: then the cached Definition, which the
   * pass plans from anyway.
   */
  async putOn(cached: Definition): Promise<Definition> {
    if (this.writes.onOrOnItsWay(cached, this.context.clock.now())) return cached;
    const stored = await addFinalizer(this.context.client, DEFINITIONS, cached, DEFINITION_FINALIZER);
    this.writes.wrote(stored, this.context.clock.now());
    return stored;
  }

  /**
   * The Definition with its finalizer on, once the patch that puts it there returned. A
   * conflict (the finalizer list changed since the cache showed it) fails the pass, whose
   * retry puts the finalizer on. Any other failure may mean the Definition is going (deleted
   * before the finalizer was there to hold it): the Instances the pass created are deleted
   * again, so nothing of it runs on; a retry creates them anew if it stays.
   */
  async awaitOn(
    finalized: Promise<Definition>,
    created: readonly Instance[],
    ctx: ReconcileContext,
  ): Promise<Definition> {
    try {
      return await finalized;
    } catch (err) {
      if (created.length > 0 && !isConflict(err) && !isPatchTestFailed(err)) {
        ctx.log.info("the Definition's finalizer could not be put on: deleting its new Instances", {
          instances: created.map((i) => i.metadata.name ?? ""),
        });
        await deleteInstances(this.context, created);
      }
      throw err;
    }
  }

  forget(key: string): void {
    this.writes.forget(key);
  }
}
