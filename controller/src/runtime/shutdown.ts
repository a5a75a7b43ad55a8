import type { Clock } from "./clock.js";
import { realClock, withDeadline } from "./clock.js";
import type { Logger } from "./log.js";
import { errorFields, nullLogger } from "./log.js";

export interface ShutdownOptions {
  logger?: Logger;
  /** The whole shutdown must finish within this; then the process exits with status 1. Default 30 s. */
  deadlineMs?: number;
  /** What ends the process once shutdown is complete; injected so tests don't exit. */
  exit?: (code: number) => void;
  clock?: Clock;
}

/**
 * Graceful shutdown on SIGTERM/SIGINT: aborts `signal` (intake stops everywhere that
 * watches it), then runs the registered steps in reverse order of registration (the last
 * started stops first), each awaited, all within the deadline.
 */
export class Shutdown {
  private readonly controller = new AbortController();
  private readonly steps: Array<{ name: string; run: () => Promise<void> | void }> = [];
  private readonly log: Logger;
  private readonly deadlineMs: number;
  private readonly exit: (code: number) => void;
  private readonly clock: Clock;
  private running: Promise<void> | undefined;

  constructor(options: ShutdownOptions = {}) {
    this.log = (options.logger ?? nullLogger).child({ component: "shutdown" });
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.exit = options.exit ?? ((code) => process.exit(code));
    this.clock = options.clock ?? realClock;
  }

  /** Aborted when shutdown begins. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  onShutdown(name: string, run: () => Promise<void> | void): void {
    this.steps.push({ name, run });
  }

  installSignalHandlers(): void {
    const onSignal = (signalName: NodeJS.Signals): void => {
      if (this.running) {
        this.log.warn("second signal, exiting now", { signal: signalName });
        this.exit(1);
        return;
      }
      this.shutdown(signalName).then(
        () => this.exit(0),
        (err: unknown) => {
          this.log.error("shutdown failed", errorFields(err));
          this.exit(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }

  /** Runs the shutdown once; later calls return the same promise. Rejects past the deadline. */
  shutdown(reason: string): Promise<void> {
    this.running ??= this.runSteps(reason);
    return this.running;
  }

  private async runSteps(reason: string): Promise<void> {
    this.log.info("shutting down", { reason, deadlineMs: this.deadlineMs });
    this.controller.abort();
    const steps = (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await step.run();
          this.log.info("shutdown step done", { step: step.name });
        } catch (err) {
          // One failed step must not keep the others (such as releasing the lease) from running.
          this.log.error("shutdown step failed", { step: step.name, ...errorFields(err) });
        }
      }
    })();
    await withDeadline(
      this.clock,
      this.deadlineMs,
      steps,
      () => new Error(`shutdown did not finish within ${this.deadlineMs} ms`),
    );
    this.log.info("shutdown complete", {});
  }
}
