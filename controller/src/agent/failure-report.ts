/**
 * A failed deployment step of an Instance (pull, build, create, start, an engine call): its
 * status (one Event per new reason, from the status change), one log line, and the next try
 * on the retry policy's back-off, or none until the Instance changes (failure-policy.ts
 * classifies the failure).
 */
import type { Instance } from "../api/types.js";
import { CONDITIONS } from "../api/vocabulary.js";
import { getCondition } from "../runtime/conditions.js";
import type { Clock } from "../runtime/clock.js";
import type { ReconcileContext, Result } from "../runtime/controller.js";
import { TerminalError } from "../runtime/controller.js";
import { errorFields } from "../runtime/log.js";
import type { DeploymentFailure, FailureClassification } from "./failure-policy.js";
import {
  ENVIRONMENT_DELIVERY_GRACE_MS,
  WAITING_RECHECK_MS,
  classifyFailure,
  describeWait,
  isDeploymentFailure,
} from "./failure-policy.js";
import { ENVIRONMENT_NOT_DELIVERED } from "./environment.js";
import { failureMessage } from "./images.js";
import { deploymentFailed } from "./instance-observations.js";
import type { InstanceStatusWriter } from "./instance-status-writer.js";
import { stopProbeLoops } from "./liveness.js";
import type { Prober } from "./prober.js";
import type { FailureStep, RetryBackoff } from "./retry-backoff.js";

export interface FailureReporterOptions {
  clock: Clock;
  prober: Pick<Prober, "stop">;
  retries: RetryBackoff;
  status: InstanceStatusWriter;
}

export class FailureReporter {
  /** When each Instance was first found without its delivered environment (unsaid yet). */
  private readonly environmentAwaitedSince = new Map<string, number>();

  constructor(private readonly options: FailureReporterOptions) {}

  /** Reports `err` on the Instance; anything not a deployment step's failure is rethrown, for the work queue. */
  async report(
    key: string,
    instance: Instance,
    err: unknown,
    context: ReconcileContext,
  ): Promise<Result | void> {
    // API errors (a conflict on a status write, say) are the work queue's to retry.
    if (context.signal.aborted || !isDeploymentFailure(err)) throw err;
    if (err.reason === ENVIRONMENT_NOT_DELIVERED) {
      const graceLeftMs = this.environmentGraceLeft(key, instance);
      if (graceLeftMs > 0) return { requeueAfterMs: graceLeftMs };
    } else {
      this.environmentAwaitedSince.delete(key);
    }
    const failure = classifyFailure(err, instance.status?.containerId);
    const { retries, clock } = this.options;
    const generation = instance.metadata.generation;
    // The same failure again after a retry (which showed Pulling or Building) is no new Event.
    const repeated = retries.lastReason(key) === failure.reason;
    const step: FailureStep | undefined =
      failure.handling === "retry" ? retries.failed(key, clock.now(), failure.reason, generation) : undefined;
    const message = step
      ? `${failureMessage(err)}; retrying in ${describeWait(step.waitMs)}`
      : failureMessage(err);
    stopProbeLoops(this.options.prober, key);
    await this.writeFailure(instance, failure, message, repeated, context);
    if (failure.handling === "wait") return { requeueAfterMs: WAITING_RECHECK_MS };
    if (failure.handling === "terminal") {
      retries.stop(key, failure.reason, generation);
      throw new TerminalError(err.message, { cause: err });
    }
    this.logRetry(failure, err, step, context);
    return { requeueAfterMs: step?.waitMs ?? WAITING_RECHECK_MS };
  }

  forget(key: string): void {
    this.environmentAwaitedSince.delete(key);
  }

  /**
   * How much longer a missing environment goes unsaid for this Instance: none once its
   * status says it already, or once the grace since it was first found missing has passed.
   */
  private environmentGraceLeft(key: string, instance: Instance): number {
    const said = getCondition(instance.status?.conditions, CONDITIONS.containerReady)?.reason;
    if (said === ENVIRONMENT_NOT_DELIVERED) return 0;
    const now = this.options.clock.now();
    const since = this.environmentAwaitedSince.get(key) ?? now;
    this.environmentAwaitedSince.set(key, since);
    return Math.max(0, since + ENVIRONMENT_DELIVERY_GRACE_MS - now);
  }

  private async writeFailure(
    instance: Instance,
    failure: FailureClassification,
    message: string,
    repeated: boolean,
    context: ReconcileContext,
  ): Promise<void> {
    try {
      await this.options.status.write(
        instance,
        deploymentFailed(failure, message, instance.status?.restarts ?? 0),
        { quiet: repeated },
      );
    } catch (writeErr) {
      // A terminal failure is said once and never retried: unsaid, it must be found again
      // (the work queue retries; a command failure's container is still there to show it).
      if (failure.handling === "terminal") throw writeErr;
      context.log.warn("could not write failure status", errorFields(writeErr));
    }
  }

  private logRetry(
    failure: FailureClassification,
    err: DeploymentFailure,
    step: FailureStep | undefined,
    context: ReconcileContext,
  ): void {
    context.log.warn("deployment step failed, retrying later", {
      reason: failure.reason,
      error: err.message,
      failures: step?.failures,
      retryInMs: step?.waitMs,
    });
  }
}
