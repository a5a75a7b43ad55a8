/**
 * One watch of an informer, from opening to its end. It restarts nothing itself: it says
 * how the watch ended (closed by the server, an error, 410 Gone, silent past its watchdog,
 * or stopped) and how many events it delivered, and the informer decides what follows.
 */
import type { ApiStatus } from "../kube/errors.js";
import { isGone } from "../kube/errors.js";
import type { KubeClient, WatchEvent, WatchHandle, WatchOptions } from "../kube/client.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { Logger } from "./log.js";

export type WatchEnd = "closed" | "error" | "gone" | "silent" | "stopped";

export interface WatchOutcome {
  end: WatchEnd;
  /** Events delivered, bookmarks included: a watch that delivered something was healthy. */
  delivered: number;
  err?: Error;
}

export interface WatchAttemptOptions<T extends KubeObject> {
  client: KubeClient;
  resource: ResourceDescriptor<T>;
  watch: Omit<WatchOptions, "signal">;
  clock: Clock;
  /**
   * The watch ends as silent once nothing (not even a bookmark) arrived for this long,
   * counted from its opening and from each event: also while it still waits for the
   * server's answer.
   */
  watchdogMs: number;
  logger: Logger;
  /** Every event but ERROR, in order (an ERROR event ends the watch). */
  onEvent(event: WatchEvent<T>): void;
}

export class WatchAttempt<T extends KubeObject> {
  private delivered = 0;
  private end: WatchEnd | undefined;
  private settled = false;
  private handle: WatchHandle | undefined;
  /** Aborts the watch also while it is still connecting. */
  private readonly connection = new AbortController();
  private watchdog: TimerHandle | undefined;
  private signal: AbortSignal | undefined;
  private resolve: (outcome: WatchOutcome) => void = () => undefined;

  constructor(private readonly options: WatchAttemptOptions<T>) {}

  /** Opens the watch; resolves once it has ended. The signal stops it. */
  run(signal: AbortSignal): Promise<WatchOutcome> {
    const outcome = new Promise<WatchOutcome>((resolve) => (this.resolve = resolve));
    this.signal = signal;
    this.armWatchdog();
    signal.addEventListener("abort", this.onAbort, { once: true });
    const { client, resource, watch } = this.options;
    client
      .watch(
        resource,
        { ...watch, signal: this.connection.signal },
        (event) => this.onEvent(event),
        (err) => this.finish(err),
      )
      .then((handle) => {
        if (this.settled || signal.aborted || this.end) {
          handle.stop();
          return;
        }
        this.handle = handle;
      })
      .catch((err: unknown) => this.finish(err instanceof Error ? err : new Error(String(err))));
    return outcome;
  }

  private armWatchdog(): void {
    if (this.watchdog) this.options.clock.clearTimeout(this.watchdog);
    // A server that accepted the connection but never answers must not hold the cache forever.
    this.watchdog = this.options.clock.setTimeout(() => this.cut("silent"), this.options.watchdogMs);
  }

  private readonly onAbort = (): void => {
    this.end = "stopped";
    this.connection.abort();
    this.handle?.stop();
  };

  private cut(end: WatchEnd): void {
    this.end ??= end;
    this.connection.abort();
    this.handle?.stop();
  }

  private onEvent(event: WatchEvent<T>): void {
    if (this.end) return;
    this.armWatchdog();
    if (event.type === "ERROR") {
      const status = event.object as ApiStatus;
      this.end = status.code === 410 ? "gone" : "error";
      if (this.end === "error")
        this.options.logger.warn("watch error event", { code: status.code, reason: status.reason });
      this.handle?.stop();
      return;
    }
    this.delivered++;
    this.options.onEvent(event);
  }

  private finish(err: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    if (this.watchdog) this.options.clock.clearTimeout(this.watchdog);
    this.signal?.removeEventListener("abort", this.onAbort);
    this.handle = undefined;
    if (this.signal?.aborted) this.end = "stopped";
    else if (!this.end && err) this.end = isGone(err) ? "gone" : "error";
    this.resolve({ end: this.end ?? "closed", delivered: this.delivered, ...(err ? { err } : {}) });
  }
}
