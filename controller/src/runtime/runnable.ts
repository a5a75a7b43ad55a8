/**
 * Runnables: the long-running parts a Manager starts and stops beside its informers and
 * controllers, as controller-runtime's `mgr.Add(runnable)`. A role lists its parts, and the
 * Manager owns the order: informers, then runnables in the order added, then controllers;
 * stopping runs the other way round.
 */
import type { Clock } from "./clock.js";
import type { Logger } from "./log.js";
import { errorFields, nullLogger } from "./log.js";

export interface Runnable {
  /** For logs. */
  readonly name: string;
  /** Starts the part; resolves once it runs. A rejection ends the Manager's start. */
  start(): Promise<void>;
  /** Stops the part; resolves once nothing of it runs any more. */
  stop(): Promise<void>;
}

/**
 * A task that runs until it is stopped: start() launches run(signal); stop() aborts the
 * signal and waits for run to return. A throw from run is logged, not rethrown.
 */
export function backgroundTask(
  name: string,
  run: (signal: AbortSignal) => Promise<void>,
  logger: Logger = nullLogger,
): Runnable {
  const abort = new AbortController();
  let running: Promise<void> = Promise.resolve();
  return {
    name,
    start: () => {
      running = run(abort.signal).catch((err: unknown) => {
        logger.error("background task failed", { task: name, ...errorFields(err) });
      });
      return Promise.resolve();
    },
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

export interface PeriodicOptions {
  name: string;
  clock: Clock;
  intervalMs: number;
  /** Once this resolves true, the loop starts; false (stopped first) ends it unrun. */
  ready?: (signal: AbortSignal) => Promise<boolean>;
  logger?: Logger;
}

/**
 * Runs a task when ready, then again intervalMs after each run ends, on the injected clock.
 * runNow() asks for a run out of turn; runs never overlap.
 */
export class PeriodicTask implements Runnable {
  readonly name: string;
  private readonly abort = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private last: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: PeriodicOptions,
    private readonly task: (signal: AbortSignal) => Promise<void>,
  ) {
    this.name = options.name;
  }

  start(): Promise<void> {
    this.loop = this.run(this.abort.signal);
    return Promise.resolve();
  }

  /** Runs the task after the run in progress, if any; resolves when it has run. */
  runNow(): Promise<void> {
    const signal = this.abort.signal;
    this.last = this.last.then(async () => {
      if (signal.aborted) return;
      try {
        await this.task(signal);
      } catch (err) {
        (this.options.logger ?? nullLogger).warn("periodic task failed", {
          task: this.name,
          ...errorFields(err),
        });
      }
    });
    return this.last;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.last;
  }

  private async run(signal: AbortSignal): Promise<void> {
    if (this.options.ready && !(await this.options.ready(signal))) return;
    while (!signal.aborted) {
      await this.runNow();
      await this.options.clock.sleep(this.options.intervalMs, signal);
    }
  }
}
