import type { KubeClient } from "../kube/client.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import type { Clock } from "./clock.js";
import { realClock } from "./clock.js";
import type { Controller } from "./controller.js";
import type { InformerOptions } from "./informer.js";
import { Informer } from "./informer.js";
import type { LeaderElectionOptions, StoppedLeadingReason } from "./leader.js";
import { LeaderElector } from "./leader.js";
import type { Logger } from "./log.js";
import { errorFields, nullLogger } from "./log.js";
import type { Runnable } from "./runnable.js";

export type ManagerLeaderElection = Omit<
  LeaderElectionOptions,
  "client" | "clock" | "logger" | "onStartedLeading" | "onStoppedLeading"
>;

export interface ManagerOptions {
  client: KubeClient;
  clock?: Clock;
  logger?: Logger;
  /** When set, controllers run only while this process holds the Lease. */
  leaderElection?: ManagerLeaderElection;
}

type InformerSettings<T extends KubeObject> = Omit<InformerOptions<T>, "clock" | "logger">;

/**
 * Runs informers (always, so a standby's caches are warm), runnables (always, in the order
 * added) and controllers (only while leader, when leader election is on). Stopping:
 * controllers drain first, then the lease is released, then runnables stop in reverse
 * order, then informers.
 */
export class Manager {
  private readonly client: KubeClient;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly transforms = new Map<string, ((obj: never) => unknown) | undefined>();
  private readonly controllers: Controller[] = [];
  private readonly runnables: Runnable[] = [];
  private readonly elector: LeaderElector | undefined;
  private runningControllers: Promise<void> | undefined;
  private controllersAbort = new AbortController();
  private markStarted: (err?: unknown) => void = () => undefined;
  /**
   * Settles once start() has started every runnable (and the controllers, or the leader
   * election): rejects with the error of a runnable that failed to start.
   */
  readonly started: Promise<void> = new Promise<void>((resolve, reject) => {
    this.markStarted = (err) => (err === undefined ? resolve() : reject(err));
  });

  constructor(private readonly options: ManagerOptions) {
    this.client = options.client;
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? nullLogger;
    // start() rethrows a failure too: whoever only awaits that must not see it unhandled here.
    this.started.catch(() => undefined);
    if (options.leaderElection) {
      this.elector = new LeaderElector({
        ...options.leaderElection,
        client: this.client,
        clock: this.clock,
        logger: this.log,
        onStartedLeading: () => this.startControllers(),
        onStoppedLeading: (reason) => this.stopControllers(reason),
      });
    }
  }

  /** The shared informer for this kind and selection, created on first use. */
  informer<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    settings: InformerSettings<T> = {},
  ): Informer<T> {
    const key = JSON.stringify([
      resource.group,
      resource.version,
      resource.plural,
      settings.namespace ?? "",
      settings.labelSelector ?? "",
      settings.fieldSelector ?? "",
    ]);
    let informer = this.informers.get(key);
    if (!informer) {
      informer = new Informer(this.client, resource, {
        ...settings,
        clock: this.clock,
        logger: this.log,
      }) as unknown as Informer<KubeObject>;
      this.informers.set(key, informer);
      this.transforms.set(key, settings.transform);
    } else if (this.transforms.get(key) !== settings.transform) {
      // One cache per selection: two readers wanting different shapes of it is a bug.
      throw new Error(`the ${resource.plural} informer is already shared with another transform`);
    }
    return informer as unknown as Informer<T>;
  }

  add(controller: Controller): void {
    this.controllers.push(controller);
  }

  /** A part that runs beside the controllers whether or not this process leads. */
  addRunnable(runnable: Runnable): void {
    this.runnables.push(runnable);
  }

  hasSynced(): boolean {
    return [...this.informers.values()].every((informer) => informer.hasSynced());
  }

  /** True while controllers may run: always without leader election. */
  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : true;
  }

  /**
   * Runs until the signal aborts, then stops everything in order. When a runnable fails to
   * start, the ones started before it are stopped and the error is thrown.
   */
  async start(signal: AbortSignal): Promise<void> {
    for (const informer of this.informers.values()) informer.start();
    const started: Runnable[] = [];
    try {
      try {
        for (const runnable of this.runnables) {
          await runnable.start();
          started.push(runnable);
        }
      } catch (err) {
        this.markStarted(err);
        throw err;
      }
      if (signal.aborted) {
        this.markStarted();
        return;
      }
      if (this.elector) {
        const elected = this.elector.run(signal);
        this.markStarted();
        await elected;
      } else {
        this.startControllers();
        this.markStarted();
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener("abort", () => resolve(), { once: true });
        });
        await this.stopControllers("shutdown");
      }
    } finally {
      for (const runnable of started.reverse()) {
        await runnable.stop().catch((err: unknown) => {
          this.log.error("runnable failed to stop", { runnable: runnable.name, ...errorFields(err) });
        });
      }
      await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
    }
  }

  private startControllers(): void {
    this.controllersAbort = new AbortController();
    const signal = this.controllersAbort.signal;
    this.runningControllers = Promise.all(
      this.controllers.map((controller) =>
        controller.start(signal).catch((err: unknown) => {
          this.log.error("controller stopped with an error", {
            controller: controller.name,
            ...errorFields(err),
          });
        }),
      ),
    ).then(() => undefined);
  }

  private async stopControllers(reason: StoppedLeadingReason): Promise<void> {
    const immediate = reason === "lost";
    await Promise.all(this.controllers.map((controller) => controller.stop({ immediate })));
    this.controllersAbort.abort();
    await this.runningControllers;
    this.runningControllers = undefined;
  }
}
