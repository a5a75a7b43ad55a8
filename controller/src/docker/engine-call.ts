/**
 * One call to a Docker engine: bounded by a deadline (a hung engine must not hang a
 * reconcile), given up when the caller gives up, reported to the observer, and failing
 * with a classified DockerError.
 */
import type { Clock, TimerHandle } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";
import type { ErrorContext } from "./error-classification.js";
import { classifyDockerError } from "./error-classification.js";
import type { DockerOperation } from "./errors.js";
import { DockerTimeoutError } from "./errors.js";
import type { DockerObserver } from "./metrics.js";
import type { CallOptions } from "./options.js";

export interface EngineCall {
  operation: DockerOperation;
  /** What the call is about, to name it in the error. */
  context: Omit<ErrorContext, "operation" | "engineUrl">;
  engineUrl: string;
  timeoutMs: number;
  call: CallOptions | undefined;
  observer: DockerObserver;
  /** Where the deadline is timed; the real clock by default. */
  clock?: Clock;
}

/**
 * Runs `fn` with a signal that aborts at the deadline or when the caller's does. The race
 * with the deadline keeps the promise bounded even where the client ignores the signal.
 * A caller that gave up gets its own abort reason back, which is not counted as the
 * engine's failure.
 */
export async function runEngineCall<T>(
  engineCall: EngineCall,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { operation, engineUrl, timeoutMs, call, observer } = engineCall;
  const started = performance.now();
  const controller = new AbortController();
  const clock = engineCall.clock ?? realClock;
  let timer: TimerHandle | undefined;
  let onCallerAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      const timeout = new DockerTimeoutError(operation, engineUrl, timeoutMs);
      controller.abort(timeout);
      reject(timeout);
    }, timeoutMs);
    const callerSignal = call?.signal;
    if (callerSignal) {
      onCallerAbort = () => {
        controller.abort(callerSignal.reason);
        reject(callerSignal.reason);
      };
      if (callerSignal.aborted) onCallerAbort();
      else callerSignal.addEventListener("abort", onCallerAbort, { once: true });
    }
  });
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const result = await Promise.race([fn(controller.signal), deadline]);
    observer.operationFinished(operation, seconds());
    return result;
  } catch (err) {
    if (call?.signal?.aborted) {
      // The caller gave up (shutdown, a newer reconcile): not the engine's failure.
      observer.operationFinished(operation, seconds());
      throw call.signal.reason;
    }
    const classified = classifyDockerError(err, { ...engineCall.context, operation, engineUrl });
    observer.operationFinished(operation, seconds(), classified.reason);
    throw classified;
  } finally {
    if (timer) clock.clearTimeout(timer);
    if (onCallerAbort) call?.signal?.removeEventListener("abort", onCallerAbort);
  }
}
