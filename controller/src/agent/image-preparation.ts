/**
 * Image work (pulls and builds) runs here, off the reconcile workers: a build can take most
 * of an hour, and a worker held that long is a worker no other Instance on the node gets.
 *
 * A reconcile asks for its Instance's image. Work that finishes at once (the image is
 * there) is answered in the same pass; work that has to pull or build goes on in the
 * background and the pass returns with the step to show (Pulling or Building). When the
 * work ends, `onSettled` wakes the Instance, whose next pass takes the result. Pulls and
 * builds hold one of `limit` slots per node while they run; the rest wait their turn in
 * order. Deleting the Instance cancels its work: the signal reaches git, the engine's
 * build and its pull.
 */
import type { Instance } from "../api/types.js";
import { Slots } from "../runtime/slots.js";
import { templateOf } from "./container-request.js";
import type { ImageStep } from "./images.js";

/** What an Instance's image work prepares: its image or repository source as the template says. */
export function imageIdentityOf(instance: Instance): string {
  const template = templateOf(instance);
  return JSON.stringify([template.image ?? null, template.repository ?? null]);
}

/** What the work is told while it runs. */
export interface PreparationContext {
  signal: AbortSignal;
  /** The step to show; the first one ends the reconcile pass that started the work. */
  report(step: ImageStep): void;
  /** Waits for a pull/build slot; call the returned function when done with it. */
  slot(): Promise<() => void>;
}

export type Preparation<T> = { done: T } | { preparing: ImageStep };

export interface ImagePreparationsOptions {
  /** Pulls and builds at once on this node. */
  limit: number;
  /** Work that went on in the background ended (or reports a new step): look at the Instance again. */
  onSettled: (key: string) => void;
}

interface Job {
  identity: string;
  controller: AbortController;
  step: ImageStep | undefined;
  /** Set once the work ended: its value or its error. */
  outcome: { value: unknown } | { error: unknown } | undefined;
  /** True once a pass returned without the result: its end must wake the Instance. */
  detached: boolean;
}

export class ImagePreparations {
  private readonly jobs = new Map<string, Job>();
  private readonly slots: Slots;

  constructor(private readonly options: ImagePreparationsOptions) {
    this.slots = new Slots(options.limit, "pull/build");
  }

  /**
   * The image work of the Instance `key`: its result when done (an error is thrown), or the
   * step it is at. `identity` names what is prepared; other work for the key is cancelled.
   */
  async prepare<T>(
    key: string,
    identity: string,
    work: (context: PreparationContext) => Promise<T>,
  ): Promise<Preparation<T>> {
    let job = this.jobs.get(key);
    if (job && job.identity !== identity) {
      this.cancel(key);
      job = undefined;
    }
    if (!job) {
      const started = this.start(key, identity, work);
      job = started.job;
      await Promise.race([started.ended, started.reported]);
    }
    if (job.outcome) {
      this.jobs.delete(key);
      if ("error" in job.outcome) throw job.outcome.error;
      return { done: job.outcome.value as T };
    }
    job.detached = true;
    return {
      preparing: job.step ?? { phase: "Building", reason: "Preparing", message: "preparing the image" },
    };
  }

  /** Cancels the Instance's work, if any (its deletion, or it left this node). */
  cancel(key: string): void {
    const job = this.jobs.get(key);
    if (!job) return;
    this.jobs.delete(key);
    job.controller.abort(new Error("the Instance's image is no longer wanted"));
  }

  cancelAll(): void {
    for (const key of [...this.jobs.keys()]) this.cancel(key);
  }

  /** Pulls and builds running, and waiting for a slot. */
  get load(): { running: number; waiting: number; limit: number } {
    return this.slots.load;
  }

  /** Instances with work under way. */
  keys(): string[] {
    return [...this.jobs.keys()];
  }

  private start<T>(key: string, identity: string, work: (context: PreparationContext) => Promise<T>) {
    const job: Job = {
      identity,
      controller: new AbortController(),
      step: undefined,
      outcome: undefined,
      detached: false,
    };
    this.jobs.set(key, job);
    const signal = job.controller.signal;
    let onReport: () => void = () => undefined;
    const reported = new Promise<void>((resolve) => (onReport = resolve));
    const wake = () => {
      if (this.jobs.get(key) === job && job.detached) this.options.onSettled(key);
    };
    const context: PreparationContext = {
      signal,
      report: (step) => {
        job.step = step;
        onReport();
        wake();
      },
      slot: async () => {
        const step = job.step;
        const busy = this.slots.full;
        if (busy && step) {
          const { limit } = this.options;
          context.report({
            ...step,
            message: `${step.message} (waiting: all ${limit} pull/build slots of this node are busy)`,
          });
        }
        const release = await this.slots.acquire(signal);
        if (busy && step) context.report(step);
        return release;
      },
    };
    const ended = (async () => {
      try {
        job.outcome = { value: await work(context) };
      } catch (error) {
        job.outcome = { error };
      }
      wake();
    })();
    return { job, ended, reported };
  }
}
