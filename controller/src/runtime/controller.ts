import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import PQueue from "p-queue";
import { KubeApiError, isConflict, isNotFound, isPatchTestFailed } from "../kube/errors.js";
import type { KubeObject } from "../kube/resources.js";
import type { Clock } from "./clock.js";
import { realClock } from "./clock.js";
import { mapToSelf, type MapFunc, type WatchOptions } from "./event-mapping.js";
import type { EventHandlers, Informer } from "./informer.js";
import { parseKey } from "./informer.js";
import type { Logger } from "./log.js";
import { errorFields, nullLogger } from "./log.js";
import {
  activeWorkers,
  presetControllerMetrics,
  reconcileErrors,
  reconcilePanics,
  reconcileTime,
  reconcileTotal,
  terminalReconcileErrors,
} from "./metrics.js";
import type { RateLimiter } from "./workqueue.js";
import { WorkQueue, defaultRateLimiter } from "./workqueue.js";

/** What to reconcile: only a name. The reconciler reads the object itself, from a cache. */
export interface Request {
  key: string;
  namespace?: string;
  name: string;
}

export interface Result {
  /** Reconcile this key again after this long (time-based checks); the backoff is reset. */
  requeueAfterMs?: number;
  /** Reconcile again soon, with backoff, without counting an error. */
  requeue?: boolean;
}

/** An error that retrying will not fix (an invalid spec, say): logged, counted, not retried. */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TerminalError";
  }
}

export interface ReconcileContext {
  /** Carries controller, namespace, name and reconcileID. */
  log: Logger;
  reconcileID: string;
  /** Aborted when the controller must stop (lost leadership, shutdown deadline passed). */
  signal: AbortSignal;
  clock: Clock;
}

export interface Reconciler {
  reconcile(request: Request, context: ReconcileContext): Promise<Result | void>;
}

export interface ControllerOptions {
  name: string;
  reconciler: Reconciler;
  clock?: Clock;
  logger?: Logger;
  /** How many keys are reconciled at once (never the same key twice). Default 1. */
  workers?: number;
  rateLimiter?: RateLimiter;
  /** How long in-flight reconciles may take to finish on stop before their signal aborts. */
  shutdownDeadlineMs?: number;
}

export interface StopOptions {
  /** Abort in-flight reconciles at once (lost leadership) instead of letting them finish. */
  immediate?: boolean;
}

/**
 * A controller: event handlers put keys on a work queue; workers (a p-queue pool) take
 * keys and run the reconciler, after every watched cache has synced. Errors retry with
 * per-key backoff, conflicts retry quietly, TerminalErrors are not retried.
 */
export class Controller {
  readonly name: string;
  private readonly reconciler: Reconciler;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly workers: number;
  private readonly rateLimiter: RateLimiter;
  private readonly shutdownDeadlineMs: number;
  private readonly informers: Array<Informer<KubeObject>> = [];
  /** Informers whose every object is worth a look on (re)start, with the keys each maps to. */
  private readonly primaries: Array<{ informer: Informer<KubeObject>; map: MapFunc<KubeObject> }> = [];
  private queue: WorkQueue;
  private running: Promise<void> | undefined;
  private reconcileAbort = this.newReconcileAbort();
  private pumpStopped = false;
  private runAbort = new AbortController();

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconciler = options.reconciler;
    this.clock = options.clock ?? realClock;
    this.log = (options.logger ?? nullLogger).child({ controller: options.name });
    this.workers = Math.max(1, options.workers ?? 1);
    this.rateLimiter = options.rateLimiter ?? defaultRateLimiter(this.clock);
    this.shutdownDeadlineMs = options.shutdownDeadlineMs ?? 30_000;
    this.queue = this.newQueue();
    presetControllerMetrics(this.name, this.workers);
  }

  /** Reconciles objects of this informer's kind, by their own key. */
  for<T extends KubeObject>(
    informer: Informer<T>,
    options: { updatePredicate?: (oldObj: T, newObj: T) => boolean } = {},
  ): this {
    return this.reconcilesFrom(informer, mapToSelf, options.updatePredicate);
  }

  /**
   * Like watches(), and every cached object's keys are enqueued on (re)start too, as for
   * for(): for a reconciler whose keys are not the objects' own (a service slug shared by
   * Definitions and Instances, say).
   */
  reconcilesFrom<T extends KubeObject>(
    informer: Informer<T>,
    map: MapFunc<T>,
    updatePredicate?: (oldObj: T, newObj: T) => boolean,
    options: WatchOptions<T> = {},
  ): this {
    this.primaries.push({
      informer: informer as unknown as Informer<KubeObject>,
      map: map as unknown as MapFunc<KubeObject>,
    });
    return this.watches(informer, map, updatePredicate, options);
  }

  /**
   * Reconciles the keys `map` returns for each event of a related kind (children, references).
   */
  watches<T extends KubeObject>(
    informer: Informer<T>,
    map: MapFunc<T>,
    updatePredicate?: (oldObj: T, newObj: T) => boolean,
    options: WatchOptions<T> = {},
  ): this {
    this.informers.push(informer as unknown as Informer<KubeObject>);
    const enqueueAll = (obj: T): void => {
      for (const key of map(obj)) this.enqueue(key);
    };
    const onAdd = (obj: T): void => {
      if (options.addPredicate?.(obj) !== false) enqueueAll(obj);
    };
    const handlers: EventHandlers<T> = {
      ...(options.ignoreAdds ? {} : { onAdd }),
      onUpdate: (oldObj, newObj) => {
        if (updatePredicate && !updatePredicate(oldObj, newObj)) return;
        // A change can move a child from one owner to another: both need a look. Each key
        // once: an idle worker takes a key as it is added, so a second add of it would
        // count as a change during that pass and run the key once more.
        for (const key of new Set([...map(oldObj), ...map(newObj)])) this.enqueue(key);
      },
      onDelete: enqueueAll,
    };
    informer.addHandler(handlers);
    return this;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  /**
   * The signal every in-flight reconcile gets: each of their requests listens on it, so many
   * workers mean many listeners, which is no leak.
   */
  private newReconcileAbort(): AbortController {
    const abort = new AbortController();
    setMaxListeners(0, abort.signal);
    return abort;
  }

  /** Waits for the caches, then runs workers until the signal aborts; resolves once stopped. */
  start(signal: AbortSignal): Promise<void> {
    if (this.running) return this.running;
    this.running = this.run(signal).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(signal: AbortSignal): Promise<void> {
    if (this.queue.isShuttingDown()) this.queue = this.newQueue();
    this.reconcileAbort = this.newReconcileAbort();
    this.pumpStopped = false;
    this.runAbort = new AbortController();
    const syncSignal = AbortSignal.any([signal, this.runAbort.signal]);
    const stopWith = (options: StopOptions): void => this.beginStop(options);
    const onAbort = (): void => stopWith({});
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (const informer of this.informers) {
        if (!(await informer.waitForSync(syncSignal))) return;
      }
      // Everything cached is worth a look after (re)starting: the queue may be new.
      for (const { informer, map } of this.primaries) {
        for (const obj of informer.list()) for (const key of map(obj)) this.enqueue(key);
      }
      this.log.info("starting workers", { workers: this.workers });
      await this.pump();
      this.log.info("workers stopped", {});
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Stops intake and waits for in-flight reconciles (aborting them at the deadline or at once). */
  async stop(options: StopOptions = {}): Promise<void> {
    this.beginStop(options);
    await this.running;
  }

  private stopTimer: ReturnType<Clock["setTimeout"]> | undefined;

  private beginStop(options: StopOptions): void {
    this.pumpStopped = true;
    this.runAbort.abort();
    this.queue.shutDown();
    if (options.immediate) {
      this.reconcileAbort.abort();
      return;
    }
    if (this.stopTimer) return;
    this.stopTimer = this.clock.setTimeout(() => {
      this.stopTimer = undefined;
      if (this.running) {
        this.log.warn("shutdown deadline passed, aborting in-flight reconciles", {});
        this.reconcileAbort.abort();
      }
    }, this.shutdownDeadlineMs);
  }

  private async pump(): Promise<void> {
    const pool = new PQueue({ concurrency: this.workers });
    const queue = this.queue;
    for (;;) {
      // Take a key only when a worker is about to be free, so keys wait (deduplicated) in the queue.
      await pool.onSizeLessThan(1);
      const key = await queue.get();
      if (key === undefined || this.pumpStopped) {
        if (key !== undefined) queue.done(key);
        break;
      }
      void pool.add(() => this.processItem(queue, key));
    }
    // Stop intake done; let what is in flight finish (the deadline timer aborts stragglers).
    await pool.onIdle();
    if (this.stopTimer) {
      this.clock.clearTimeout(this.stopTimer);
      this.stopTimer = undefined;
    }
  }

  private async processItem(queue: WorkQueue, key: string): Promise<void> {
    const { namespace, name } = parseKey(key);
    const reconcileID = randomUUID();
    const log = this.log.child({ ...(namespace ? { namespace } : {}), name, reconcileID });
    const labels = { controller: this.name };
    const started = this.clock.now();
    activeWorkers.inc(labels);
    try {
      const request: Request = namespace ? { key, namespace, name } : { key, name };
      const result = await this.reconciler.reconcile(request, {
        log,
        reconcileID,
        signal: this.reconcileAbort.signal,
        clock: this.clock,
      });
      if (result && result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        queue.forget(key);
        queue.addAfter(key, result.requeueAfterMs);
        reconcileTotal.inc({ ...labels, result: "requeue_after" });
      } else if (result?.requeue) {
        queue.addRateLimited(key);
        reconcileTotal.inc({ ...labels, result: "requeue" });
      } else {
        queue.forget(key);
        reconcileTotal.inc({ ...labels, result: "success" });
      }
    } catch (err) {
      this.handleError(queue, key, err, log);
    } finally {
      const seconds = (this.clock.now() - started) / 1000;
      reconcileTime.observe(labels, seconds);
      // Every pass, at debug level: with --log-level=debug a person can follow each key.
      log.debug("reconciled", { seconds });
      activeWorkers.dec(labels);
      queue.done(key);
    }
  }

  private handleError(queue: WorkQueue, key: string, err: unknown, log: Logger): void {
    const labels = { controller: this.name };
    if (err instanceof TerminalError) {
      queue.forget(key);
      reconcileErrors.inc(labels);
      terminalReconcileErrors.inc(labels);
      reconcileTotal.inc({ ...labels, result: "error" });
      log.error("reconcile failed terminally, not retrying", errorFields(err));
      return;
    }
    if (isConflict(err) || isPatchTestFailed(err)) {
      // Someone else changed the object since our cache saw it: try again with fresh data.
      queue.addRateLimited(key);
      reconcileTotal.inc({ ...labels, result: "requeue" });
      log.debug("conflict, requeueing", errorFields(err));
      return;
    }
    if (isNotFound(err) && this.primaryGone(key)) {
      // A write to the object itself, which went away while the pass ran: its delete event
      // has ended (or will end) the key, and a retry would only fail the same way.
      queue.forget(key);
      reconcileTotal.inc({ ...labels, result: "success" });
      log.debug("the object went away during the pass", errorFields(err));
      return;
    }
    if (isNotFound(err) && this.namesPrimary(key, err)) {
      // The API server no longer has the object the cache still shows: its delete event is
      // on its way and will end the key. Until then, retry quietly with backoff.
      queue.addRateLimited(key);
      reconcileTotal.inc({ ...labels, result: "requeue" });
      log.debug("the object is gone from the API server ahead of the cache", errorFields(err));
      return;
    }
    if (!(err instanceof Error)) reconcilePanics.inc(labels);
    queue.addRateLimited(key);
    reconcileErrors.inc(labels);
    reconcileTotal.inc({ ...labels, result: "error" });
    log.error("reconcile failed", { ...errorFields(err), retries: queue.numRequeues(key) });
  }

  /**
   * Whether the key names an object of this controller's own kind (for()) that its cache no
   * longer holds. False for a controller whose keys are not its objects' own.
   */
  private primaryGone(key: string): boolean {
    const own = this.primaries.filter((p) => p.map === mapToSelf);
    if (own.length === 0) return false;
    const { namespace, name } = parseKey(key);
    return own.every((p) => p.informer.get(namespace, name) === undefined);
  }

  /** Whether a 404's details name the key's own object (same name, the for() resource). */
  private namesPrimary(key: string, err: unknown): boolean {
    const details = err instanceof KubeApiError ? err.status?.details : undefined;
    if (details?.name !== parseKey(key).name) return false;
    return this.primaries.some((p) => p.map === mapToSelf && p.informer.resource.plural === details.kind);
  }

  private newQueue(): WorkQueue {
    return new WorkQueue(this.name, {
      clock: this.clock,
      rateLimiter: this.rateLimiter,
      controller: this.name,
    });
  }
}
