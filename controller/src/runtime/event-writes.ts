/**
 * The Event recorder's writes: a bounded backlog worked off a few at a time. Events are
 * best effort, so when the API server cannot keep up the backlog stays bounded and new
 * writes are dropped (counted, and logged once per interval) rather than piling up in
 * memory; a reconcile that records an Event never waits for any of it.
 */
import type { Clock } from "./clock.js";
import type { Logger } from "./log.js";
import { errorFields } from "./log.js";
import { eventBacklog, eventsTotal } from "./metrics.js";

export interface EventWriteQueueOptions {
  /** The reportingController, as the metrics' reporter label. */
  reporter: string;
  clock: Clock;
  log: Logger;
  /** Writes in flight at once. */
  concurrency: number;
  /** Writes waiting for a slot at most; past it, a write is dropped. */
  maxBacklog: number;
  /** Drops are logged at most once per this interval, with how many there were. */
  dropLogIntervalMs: number;
}

/** One write to the API server (an Event's create or its series update). */
export type EventWrite = () => Promise<void>;

export class EventWriteQueue {
  private readonly backlog: EventWrite[] = [];
  private inFlight = 0;
  private pumpScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private droppedSinceLog = 0;
  private lastDropLog = -Infinity;

  constructor(private readonly options: EventWriteQueueOptions) {}

  /** Queues a write; false (and the write is dropped, counted) when the backlog is full. */
  push(write: EventWrite): boolean {
    if (this.backlog.length >= this.options.maxBacklog) {
      this.dropped();
      return false;
    }
    this.backlog.push(write);
    eventBacklog.inc({ reporter: this.options.reporter });
    // The writes start after the caller's turn of the event loop: recording costs a push.
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
    return true;
  }

  /** Writes waiting for a slot and in flight. */
  pending(): { waiting: number; inFlight: number } {
    return { waiting: this.backlog.length, inFlight: this.inFlight };
  }

  /** Resolves once nothing waits and nothing is in flight. */
  async idle(): Promise<void> {
    if (this.backlog.length === 0 && this.inFlight === 0 && !this.pumpScheduled) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.backlog.length > 0) {
      const write = this.backlog.shift()!;
      eventBacklog.dec({ reporter: this.options.reporter });
      this.inFlight++;
      void this.run(write);
    }
    this.notifyIfIdle();
  }

  private async run(write: EventWrite): Promise<void> {
    try {
      await write();
    } catch (err) {
      // An Event is best effort: a failed write is counted and logged, never thrown.
      eventsTotal.inc({ reporter: this.options.reporter, outcome: "failed" });
      this.options.log.warn("event write failed", errorFields(err));
    } finally {
      this.inFlight--;
      this.pump();
    }
  }

  private notifyIfIdle(): void {
    if (this.backlog.length > 0 || this.inFlight > 0 || this.pumpScheduled) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private dropped(): void {
    eventsTotal.inc({ reporter: this.options.reporter, outcome: "dropped" });
    this.droppedSinceLog++;
    const now = this.options.clock.now();
    if (now - this.lastDropLog < this.options.dropLogIntervalMs) return;
    this.options.log.warn("events dropped: the write backlog is full", {
      dropped: this.droppedSinceLog,
      backlog: this.options.maxBacklog,
    });
    this.lastDropLog = now;
    this.droppedSinceLog = 0;
  }
}
