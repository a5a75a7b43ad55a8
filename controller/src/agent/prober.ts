/**
 * Health checks: one probe loop per Instance container, on its own timer (an injected
 * Clock), with initialDelay, per-check timeout and failure/success thresholds. A loop
 * reports back only when its verdict changes (Pending -> Passed/Failed, or a flip), so
 * the reconciler is woken to write status then, not on every check. A change that comes while
 * a pass waits for the loop's first outcome (firstOutcome) is reported as awaited: that pass
 * reads the verdict itself once its wait ends, so it needs no pass woken for it.
 *
 * A new container's first check runs as soon as it is running, and often comes before its
 * server listens. Waiting the full interval after that miss would make start-up latency
 * mostly waiting, so until the first verdict a loop checks on a short, growing schedule
 * (probe-verdict.ts), as a Kubernetes startup probe would, and at intervalSeconds after
 * that. In that start-up phase the checks overlap: each starts on schedule without waiting
 * for the ones before it (up to a few at once), because a connection to a port published a
 * moment ago can stall for about a second inside the engine's port proxy, and a loop that
 * waited on it would report the stall, not the moment the server answers. Outcomes are
 * folded in the order their checks started; one overtaken by a newer check's is dropped.
 */
import type { Clock, TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import type { ProbeOutcome, ProbeTarget } from "./probe-checks.js";
import {
  initialProbeState,
  nextProbeDelayMs,
  recordOutcome,
  thresholdsFor,
  type ProbeState,
} from "./probe-verdict.js";

export type ProbeFn = (target: ProbeTarget) => Promise<ProbeOutcome>;

/**
 * A verdict a loop starts from: what an earlier agent process had concluded about the same
 * container (its Instance's status). Failing checks still need failureThreshold in a row to
 * overturn it, as they would have had the agent not restarted.
 */
export interface ResumedVerdict {
  verdict: "Passed";
  message: string;
}

interface ProbeLoop {
  target: ProbeTarget;
  signature: string;
  state: ProbeState;
  timer?: TimerHandle;
  stopped: boolean;
  /** Checks started so far; each check's number is the count when it started. */
  started: number;
  /** The number of the newest check whose outcome is in the state. */
  folded: number;
  inFlight: number;
  /** Called once the first outcome is in, or the loop stops. */
  firstOutcomeWaiters: Array<() => void>;
  /** Started from a ResumedVerdict that no check of this loop's has confirmed yet. */
  resumed: boolean;
  /** Passes in firstOutcome for this loop right now: each reads the state when its wait ends. */
  awaitedBy: number;
}

/** Start-up checks in flight at once for one loop, at most. */
export const MAX_STARTUP_CHECKS_IN_FLIGHT = 3;

export interface ProberOptions {
  clock: Clock;
  logger: Logger;
  probe: ProbeFn;
  /**
   * Called with the loop's key when its verdict changes. `awaited`: a pass is inside
   * firstOutcome for this loop and reads the new verdict when its wait ends (the change
   * needs no wake-up); false for every other change.
   */
  onVerdictChange: (key: string, awaited: boolean) => void;
}

/**
 * One probe loop per key (an Instance's namespace/name). ensure() starts or replaces a
 * loop when the container or the check changed, and leaves a matching loop alone.
 */
export class Prober {
  private readonly loops = new Map<string, ProbeLoop>();

  constructor(private readonly options: ProberOptions) {}

  /**
   * `resume` starts a new loop from a verdict reached before it (see ResumedVerdict) instead
   * of Pending; its first check then runs at once, as the container is past any initial delay.
   */
  ensure(key: string, target: ProbeTarget, resume?: ResumedVerdict): void {
    const signature = JSON.stringify(target);
    const existing = this.loops.get(key);
    if (existing && existing.signature === signature) return;
    if (existing) this.stopLoop(existing);
    const state: ProbeState = resume
      ? { ...initialProbeState, verdict: resume.verdict, message: resume.message }
      : initialProbeState;
    const loop: ProbeLoop = {
      target,
      signature,
      state,
      stopped: false,
      started: 0,
      folded: 0,
      inFlight: 0,
      firstOutcomeWaiters: [],
      resumed: resume !== undefined,
      awaitedBy: 0,
    };
    this.loops.set(key, loop);
    const delayMs = resume ? 0 : target.initialDelayMs;
    // Without an initial delay the first check starts now, not a timer tick later.
    if (delayMs === 0) void this.tick(key, loop);
    else this.schedule(key, loop, delayMs);
  }

  /**
   * Resolves once the key's loop has the outcome of its first check, or after withinMs on
   * the clock, or when no loop runs. A new container's server usually answers the first
   * check within milliseconds: its status can say Ready in the same write as Running.
   * Verdict changes during the wait are reported as awaited (see ProberOptions): the caller
   * must read state() after this resolves, and changes after that are reported as usual.
   */
  async firstOutcome(key: string, withinMs: number): Promise<void> {
    const loop = this.loops.get(key);
    if (!loop || loop.stopped || loop.folded > 0) return;
    const outcome = new Promise<void>((resolve) => loop.firstOutcomeWaiters.push(resolve));
    let timer: TimerHandle | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.options.clock.setTimeout(resolve, withinMs);
    });
    loop.awaitedBy += 1;
    try {
      await Promise.race([outcome, timeout]);
    } finally {
      // A timer, not an abortable sleep: aborting one builds a DOMException with a stack
      // trace for every new container, which showed in a burst's CPU profile.
      if (timer) this.options.clock.clearTimeout(timer);
      loop.awaitedBy -= 1;
    }
  }

  /** The current state, or undefined when no loop runs for the key. */
  state(key: string): ProbeState | undefined {
    return this.loops.get(key)?.state;
  }

  /** The container id the key's loop checks, if any. */
  containerOf(key: string): string | undefined {
    return this.loops.get(key)?.target.containerId;
  }

  stop(key: string): void {
    const loop = this.loops.get(key);
    if (!loop) return;
    this.stopLoop(loop);
    this.loops.delete(key);
  }

  stopAll(): void {
    for (const key of [...this.loops.keys()]) this.stop(key);
  }

  keys(): string[] {
    return [...this.loops.keys()];
  }

  private stopLoop(loop: ProbeLoop): void {
    loop.stopped = true;
    this.releaseFirstOutcomeWaiters(loop);
    if (loop.timer) this.options.clock.clearTimeout(loop.timer);
  }

  private schedule(key: string, loop: ProbeLoop, delayMs: number): void {
    loop.timer = this.options.clock.setTimeout(() => {
      void this.tick(key, loop);
    }, delayMs);
  }

  private async tick(key: string, loop: ProbeLoop): Promise<void> {
    if (loop.stopped) return;
    if (loop.state.verdict === "Pending") {
      // Start-up: the next check is on the growing schedule whatever this one does.
      if (loop.inFlight < MAX_STARTUP_CHECKS_IN_FLIGHT) void this.check(key, loop);
      this.schedule(key, loop, nextProbeDelayMs(loop.target, "Pending", loop.started));
      return;
    }
    await this.check(key, loop);
    // The next check is timed from the end of this one, so slow checks never overlap.
    if (!loop.stopped) this.schedule(key, loop, nextProbeDelayMs(loop.target, loop.state.verdict));
  }

  /** Runs one check and folds its outcome in, unless a newer check's outcome is in already. */
  private async check(key: string, loop: ProbeLoop): Promise<void> {
    const number = ++loop.started;
    loop.inFlight += 1;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.options.probe(loop.target);
    } catch (err) {
      outcome = { ok: false, message: `health check could not run: ${errorFields(err).error as string}` };
    } finally {
      loop.inFlight -= 1;
    }
    if (loop.stopped || number < loop.folded) return;
    loop.folded = number;
    this.releaseFirstOutcomeWaiters(loop);
    const before = loop.state.verdict;
    loop.state = recordOutcome(
      loop.state,
      outcome,
      thresholdsFor(loop.target, before),
      this.options.clock.now(),
    );
    // A resumed verdict's first own check is news even when it agrees: the agent then writes
    // a probe time of its own, so the status shows this process has looked.
    const confirmsResumed = loop.resumed;
    loop.resumed = false;
    const awaited = loop.awaitedBy > 0;
    if (loop.state.verdict === before) {
      if (confirmsResumed) this.options.onVerdictChange(key, awaited);
      return;
    }
    this.options.logger.debug("health verdict changed", { key, from: before, to: loop.state.verdict });
    if (before === "Pending") {
      // Start-up is over: from now on, a check every interval, timed from this one's end.
      if (loop.timer) this.options.clock.clearTimeout(loop.timer);
      this.schedule(key, loop, nextProbeDelayMs(loop.target, loop.state.verdict));
    }
    this.options.onVerdictChange(key, awaited);
  }

  private releaseFirstOutcomeWaiters(loop: ProbeLoop): void {
    for (const resolve of loop.firstOutcomeWaiters.splice(0)) resolve();
  }
}
