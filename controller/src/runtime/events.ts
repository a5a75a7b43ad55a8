import { randomBytes } from "node:crypto";
import os from "node:os";
import type { KubeClient } from "../kube/client.js";
import type { KubeEvent, KubeObject } from "../kube/resources.js";
import { EVENTS } from "../kube/resources.js";
import type { Clock, TimerHandle } from "./clock.js";
import { realClock } from "./clock.js";
import type { Logger } from "./log.js";
import { nullLogger } from "./log.js";
import { capMessage } from "./conditions.js";
import { EventWriteQueue } from "./event-writes.js";
import { type EVENT_OUTCOMES, eventsTotal } from "./metrics.js";

export type EventType = "Normal" | "Warning";

/** Records what a person should see in `kubectl describe` for an object. Never throws. */
export interface EventRecorder {
  event(obj: KubeObject, type: EventType, reason: string, message: string, action?: string): void;
}

export const NoopEventRecorder: EventRecorder = { event: () => undefined };

export interface KubeEventRecorderOptions {
  client: KubeClient;
  /** reportingController, such as berth.dev/controller. */
  component: string;
  /** reportingInstance: this process; the host name by default. */
  instance?: string;
  clock?: Clock;
  logger?: Logger;
  /** Repeats of the same event within this window become one event with a growing series count. */
  seriesWindowMs?: number;
  /** A repeat updates the series count at most this often. */
  seriesUpdateIntervalMs?: number;
  /** Per-object token bucket: this many events at once, then one per refillMs. */
  burst?: number;
  refillMs?: number;
  /** How often expired series and idle buckets are dropped from memory. Default 60 s. */
  sweepIntervalMs?: number;
  /** Writes in flight at once. Default 8. */
  maxConcurrentWrites?: number;
  /** Writes waiting for a slot at most; past it an Event is dropped. Default 1000. */
  maxBacklog?: number;
  /** Drops are logged at most once per this interval. Default 60 s. */
  dropLogIntervalMs?: number;
}

interface SeriesEntry {
  namespace: string;
  name: string;
  count: number;
  lastObserved: number;
  lastWritten: number;
  writtenCount: number;
  /** Until its create is answered, a series has nothing to patch yet. */
  created: boolean;
  /** A repeat asked for a series update before the create was answered. */
  updateDue: boolean;
  /** A series update is waiting for a slot or in flight (one at a time per series). */
  updating: boolean;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/** events.k8s.io refuses a note over 1 KiB (in bytes): keep the message's start and its end. */
function eventNote(message: string): string {
  let limit = NOTE_LIMIT_BYTES;
  let note = capMessage(message, limit);
  while (Buffer.byteLength(note) > NOTE_LIMIT_BYTES) note = capMessage(message, (limit -= 64));
  return note;
}

const NOTE_LIMIT_BYTES = 1024;

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/**
 * Writes events.k8s.io/v1 Events. Repeats of one event (same object, type, reason and
 * message) are aggregated into a series; each object gets a token bucket so a hot loop
 * cannot flood the API server. Writes happen in the background, a few at a time, from a
 * bounded backlog (event-writes.ts); flush() waits for them.
 */
export class KubeEventRecorder implements EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly instance: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly seriesWindowMs: number;
  private readonly seriesUpdateIntervalMs: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly series = new Map<string, SeriesEntry>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweepIntervalMs: number;
  private sweepTimer: TimerHandle | undefined;
  private readonly writes: EventWriteQueue;

  constructor(options: KubeEventRecorderOptions) {
    this.client = options.client;
    this.component = options.component;
    this.instance = (options.instance ?? os.hostname()).slice(0, 128);
    this.clock = options.clock ?? realClock;
    this.log = (options.logger ?? nullLogger).child({ component: "events" });
    this.seriesWindowMs = options.seriesWindowMs ?? 10 * 60_000;
    this.seriesUpdateIntervalMs = options.seriesUpdateIntervalMs ?? 30_000;
    this.burst = options.burst ?? 25;
    this.refillMs = options.refillMs ?? 5 * 60_000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.writes = new EventWriteQueue({
      reporter: this.component,
      clock: this.clock,
      log: this.log,
      concurrency: options.maxConcurrentWrites ?? 8,
      maxBacklog: options.maxBacklog ?? 1000,
      dropLogIntervalMs: options.dropLogIntervalMs ?? 60_000,
    });
  }

  event(obj: KubeObject, type: EventType, reason: string, message: string, action?: string): void {
    const now = this.clock.now();
    const uid =
      obj.metadata?.uid ?? `${obj.kind ?? ""}/${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
    const note = eventNote(message);
    const seriesKey = [uid, type, reason, note].join("\u0000");
    const existing = this.series.get(seriesKey);
    // An expired series still in memory (the sweep has not come by yet) starts a new one.
    if (existing && now - existing.lastObserved <= this.seriesWindowMs) {
      this.count("aggregated");
      existing.count++;
      existing.lastObserved = now;
      if (now - existing.lastWritten < this.seriesUpdateIntervalMs) return;
      existing.lastWritten = now;
      this.updateSeries(existing);
      return;
    }
    if (!this.takeToken(uid, now)) {
      this.count("rate_limited");
      this.log.debug("event dropped by rate limit", { reason, object: obj.metadata?.name });
      return;
    }
    const namespace = obj.metadata?.namespace || "default";
    const name = `${obj.metadata?.name ?? "object"}.${now.toString(16)}${randomBytes(3).toString("hex")}`;
    const entry: SeriesEntry = {
      namespace,
      name,
      count: 1,
      lastObserved: now,
      lastWritten: now,
      writtenCount: 0,
      created: false,
      updateDue: false,
      updating: false,
    };
    this.series.set(seriesKey, entry);
    this.armSweep();
    const body: KubeEvent = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name, namespace },
      eventTime: microTime(now),
      reportingController: this.component,
      reportingInstance: this.instance,
      action: (action ?? reason).slice(0, 128),
      reason: reason.slice(0, 128),
      note,
      type,
      regarding: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata?.name,
        ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
        ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}),
        ...(obj.metadata?.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
      },
    };
    const queued = this.writes.push(async () => await this.create(seriesKey, entry, body));
    // A series whose Event was never written is forgotten: its next repeat is a new Event.
    if (!queued) this.forgetSeries(seriesKey, entry);
  }

  /** Series and rate-limit buckets held in memory: bounded by the objects recently reported on. */
  trackedEntries(): { series: number; buckets: number } {
    return { series: this.series.size, buckets: this.buckets.size };
  }

  /** Event writes waiting for a slot, and in flight. */
  pendingWrites(): { waiting: number; inFlight: number } {
    return this.writes.pending();
  }

  /** Waits until every event recorded so far was written (or failed and was logged). */
  async flush(): Promise<void> {
    await this.writes.idle();
  }

  private count(outcome: (typeof EVENT_OUTCOMES)[number]): void {
    eventsTotal.inc({ reporter: this.component, outcome });
  }

  /**
   * Creates the Event; repeats seen while it waited in the backlog go into it as its series,
   * so they cost no write of their own.
   */
  private async create(seriesKey: string, entry: SeriesEntry, body: KubeEvent): Promise<void> {
    const count = entry.count;
    const series = count > 1 ? { series: { count, lastObservedTime: microTime(entry.lastObserved) } } : {};
    try {
      await this.client.create(EVENTS, { ...body, ...series });
    } catch (err) {
      this.forgetSeries(seriesKey, entry);
      throw err;
    }
    this.count("created");
    entry.created = true;
    entry.writtenCount = count;
    // A repeat that asked for an update while the create was on its way gets it now.
    if (entry.updateDue) this.updateSeries(entry);
  }

  private forgetSeries(seriesKey: string, entry: SeriesEntry): void {
    if (this.series.get(seriesKey) === entry) this.series.delete(seriesKey);
  }

  /**
   * Queues a series update unless one is queued or in flight; while the Event is still being
   * created, the update waits for it.
   */
  private updateSeries(entry: SeriesEntry): void {
    entry.updateDue = !entry.created;
    if (!entry.created || entry.updating) return;
    entry.updating = true;
    const queued = this.writes.push(async () => {
      try {
        await this.writeSeries(entry);
      } finally {
        entry.updating = false;
      }
    });
    if (!queued) entry.updating = false;
  }

  private async writeSeries(entry: SeriesEntry): Promise<void> {
    if (entry.count === entry.writtenCount) return;
    const count = entry.count;
    await this.client.mergePatch(
      EVENTS,
      { namespace: entry.namespace, name: entry.name },
      { series: { count, lastObservedTime: microTime(entry.lastObserved) } },
    );
    entry.writtenCount = count;
    this.count("series_updated");
  }

  private refilled(bucket: Bucket, now: number): number {
    return Math.min(this.burst, bucket.tokens + (now - bucket.updated) / this.refillMs);
  }

  private takeToken(uid: string, now: number): boolean {
    const bucket = this.buckets.get(uid) ?? { tokens: this.burst, updated: now };
    bucket.tokens = this.refilled(bucket, now);
    bucket.updated = now;
    this.buckets.set(uid, bucket);
    this.armSweep();
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /**
   * Memory is swept on a timer, never while recording: an event costs the same however many
   * objects were ever reported on. The timer runs only while something is held, in the
   * background (it never keeps the process alive).
   */
  private armSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = this.clock.setTimeout(() => this.sweep(), this.sweepIntervalMs, { background: true });
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    const now = this.clock.now();
    for (const [key, entry] of this.series) {
      if (now - entry.lastObserved > this.seriesWindowMs) this.series.delete(key);
    }
    // A bucket that has refilled by now is what a new one would be: forget it. (Its stored
    // level is the one after its last take, always below the burst; judging by that kept
    // every bucket of every object ever seen.)
    for (const [uid, bucket] of this.buckets) {
      if (this.refilled(bucket, now) >= this.burst) this.buckets.delete(uid);
    }
    if (this.series.size > 0 || this.buckets.size > 0) this.armSweep();
  }
}
