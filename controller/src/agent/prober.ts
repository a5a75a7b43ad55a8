/**
 * Health checks: one probe loop per Instance container, on its own timer (an injected
 * Clock), with initialDelay, per-check timeout and failure/success thresholds. A loop
 * reports back only when its verdict changes (Pending -> Passed/Failed, or a flip), so
 * the reconciler is woken to write status then, not on every check.
 *
 * A new container's first check usually comes before its server listens. Waiting the
 * full interval after that miss would make start-up latency mostly waiting, so until the
 * first verdict a loop checks at a short start-up interval, as a Kubernetes startup probe
 * would, and at intervalSeconds after that.
 */
import net from "node:net";
import http from "node:http";
import type { HealthCheck } from "../api/types.js";
import type { Clock, TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";

/** A health check with every default applied and its target resolved to a host:port. */
export interface ProbeTarget {
  type: "http" | "tcp" | "exec";
  /** Where http/tcp checks connect (the node address and the published port). */
  host: string;
  port: number;
  path: string;
  /** The HTTP status wanted; any 2xx or 3xx when absent. */
  expectedStatus?: number;
  command: string[];
  /** The container the check is for; exec checks run in it. */
  containerId: string;
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
  initialDelayMs: number;
}

/** The interval of a loop's start-up phase (never longer than its own interval). */
export const STARTUP_PROBE_INTERVAL_MS = 1000;

/** How long a loop waits between checks: short until the first verdict, then its interval. */
export function nextProbeDelayMs(target: Pick<ProbeTarget, "intervalMs">, verdict: ProbeVerdict): number {
  return verdict === "Pending" ? Math.min(target.intervalMs, STARTUP_PROBE_INTERVAL_MS) : target.intervalMs;
}

/**
 * The thresholds one check is judged by. Before the first verdict the checks come faster
 * than intervalSeconds, so failureThreshold failures in a row must also span as long as
 * they would at intervalSeconds: a slow starter is never declared failed sooner than the
 * health check's settings promise.
 */
export function thresholdsFor(target: ProbeTarget, verdict: ProbeVerdict): ProbeThresholds {
  const { successThreshold, failureThreshold } = target;
  return verdict === "Pending"
    ? { successThreshold, failureThreshold, minFailingMs: (failureThreshold - 1) * target.intervalMs }
    : { successThreshold, failureThreshold };
}

export interface ProbeOutcome {
  ok: boolean;
  /** What the check saw, for a person: goes into the Ready condition's message. */
  message: string;
}

/** Runs a command in a container and reports its exit code; the Docker part the exec check needs. */
export type ExecInContainer = (containerId: string, command: string[], timeoutMs: number) => Promise<number>;

/**
 * The probe target for a health check: defaults as the API documents them; without a
 * health check, a TCP connect to the service port.
 */
export function probeTargetFor(
  check: HealthCheck | undefined,
  where: { host: string; port: number; containerId: string },
): ProbeTarget {
  const seconds = (value: number | undefined, fallback: number): number => (value ?? fallback) * 1000;
  return {
    type: check?.type ?? "tcp",
    host: where.host,
    port: where.port,
    path: check?.path ?? "/",
    ...(check?.expectedStatus !== undefined ? { expectedStatus: check.expectedStatus } : {}),
    command: check?.command ?? [],
    containerId: where.containerId,
    intervalMs: seconds(check?.intervalSeconds, 10),
    timeoutMs: seconds(check?.timeoutSeconds, 1),
    failureThreshold: check?.failureThreshold ?? 3,
    successThreshold: check?.successThreshold ?? 1,
    initialDelayMs: seconds(check?.initialDelaySeconds, 0),
  };
}

/** Runs one check against the world. Never throws: a failure is an outcome. */
export async function runProbe(target: ProbeTarget, exec: ExecInContainer): Promise<ProbeOutcome> {
  try {
    switch (target.type) {
      case "tcp":
        return await tcpProbe(target.host, target.port, target.timeoutMs);
      case "http":
        return await httpProbe(target);
      case "exec": {
        const code = await exec(target.containerId, target.command, target.timeoutMs);
        return code === 0
          ? { ok: true, message: "health check command exited with 0" }
          : { ok: false, message: `health check command exited with ${code}` };
      }
    }
  } catch (err) {
    return { ok: false, message: `${target.type} health check failed: ${errorFields(err).error as string}` };
  }
}

function hostForUrl(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (outcome: ProbeOutcome): void => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(timeoutMs, () =>
      finish({
        ok: false,
        message: `TCP connect to ${hostForUrl(host)}:${port} timed out after ${timeoutMs} ms`,
      }),
    );
    socket.once("connect", () =>
      finish({ ok: true, message: `TCP connect to ${hostForUrl(host)}:${port} succeeded` }),
    );
    socket.once("error", (err) =>
      finish({ ok: false, message: `TCP connect to ${hostForUrl(host)}:${port} failed: ${err.message}` }),
    );
  });
}

function httpProbe(target: ProbeTarget): Promise<ProbeOutcome> {
  const url = `http://${hostForUrl(target.host)}:${target.port}${target.path}`;
  const wanted = target.expectedStatus !== undefined ? String(target.expectedStatus) : "2xx or 3xx";
  return new Promise((resolve) => {
    // A fresh connection per check (no keep-alive): a check must see the server as a new client does.
    const req = http.get(url, {
      agent: false,
      timeout: target.timeoutMs,
      headers: { "User-Agent": "berth-probe" },
    });
    req.once("response", (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      const ok =
        target.expectedStatus !== undefined
          ? status === target.expectedStatus
          : status >= 200 && status < 400;
      resolve({ ok, message: `GET ${url} answered ${status}${ok ? "" : `, want ${wanted}`}` });
    });
    req.once("timeout", () => req.destroy(new Error(`timed out after ${target.timeoutMs} ms`)));
    req.once("error", (err) => resolve({ ok: false, message: `GET ${url} failed: ${err.message}` }));
  });
}

// ---------------------------------------------------------------- thresholds

/** Pending: no verdict yet. Passed: ready. Failed: failureThreshold checks in a row failed. */
export type ProbeVerdict = "Pending" | "Passed" | "Failed";

export interface ProbeState {
  verdict: ProbeVerdict;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  /** The last check's message. */
  message: string;
  /** When the last check finished (ms since the epoch); undefined before the first. */
  lastProbeTime?: number;
  /** When the verdict last changed. */
  verdictSince?: number;
  /** When the current run of failures began; undefined after a success. */
  failingSince?: number;
}

export interface ProbeThresholds {
  successThreshold: number;
  failureThreshold: number;
  /** The run of failures must have lasted at least this long, too (start-up phase). */
  minFailingMs?: number;
}

export const initialProbeState: ProbeState = {
  verdict: "Pending",
  consecutiveSuccesses: 0,
  consecutiveFailures: 0,
  message: "waiting for the first health check",
};

/**
 * Folds one check into the state: successThreshold passes in a row make it Passed,
 * failureThreshold failures in a row make it Failed; anything between keeps the verdict,
 * so one odd result does not flap readiness.
 */
export function recordOutcome(
  state: ProbeState,
  outcome: ProbeOutcome,
  thresholds: ProbeThresholds,
  now: number,
): ProbeState {
  const consecutiveSuccesses = outcome.ok ? state.consecutiveSuccesses + 1 : 0;
  const consecutiveFailures = outcome.ok ? 0 : state.consecutiveFailures + 1;
  const failingSince = outcome.ok ? undefined : (state.failingSince ?? now);
  let verdict = state.verdict;
  if (consecutiveSuccesses >= thresholds.successThreshold) verdict = "Passed";
  else if (
    consecutiveFailures >= thresholds.failureThreshold &&
    now - (failingSince ?? now) >= (thresholds.minFailingMs ?? 0)
  )
    verdict = "Failed";
  const next: ProbeState = {
    verdict,
    consecutiveSuccesses,
    consecutiveFailures,
    message: outcome.message,
    lastProbeTime: now,
  };
  const since = verdict !== state.verdict ? now : state.verdictSince;
  if (since !== undefined) next.verdictSince = since;
  if (failingSince !== undefined) next.failingSince = failingSince;
  return next;
}

// ---------------------------------------------------------------- loops

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
}

export interface ProberOptions {
  clock: Clock;
  logger: Logger;
  probe: ProbeFn;
  /** Called with the loop's key when its verdict changes. */
  onVerdictChange: (key: string) => void;
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
    const loop: ProbeLoop = { target, signature, state, stopped: false };
    this.loops.set(key, loop);
    this.schedule(key, loop, resume ? 0 : target.initialDelayMs);
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
    if (loop.timer) this.options.clock.clearTimeout(loop.timer);
  }

  private schedule(key: string, loop: ProbeLoop, delayMs: number): void {
    loop.timer = this.options.clock.setTimeout(() => {
      void this.tick(key, loop);
    }, delayMs);
  }

  private async tick(key: string, loop: ProbeLoop): Promise<void> {
    if (loop.stopped) return;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.options.probe(loop.target);
    } catch (err) {
      outcome = { ok: false, message: `health check could not run: ${errorFields(err).error as string}` };
    }
    if (loop.stopped) return;
    const before = loop.state.verdict;
    loop.state = recordOutcome(
      loop.state,
      outcome,
      thresholdsFor(loop.target, before),
      this.options.clock.now(),
    );
    if (loop.state.verdict !== before) {
      this.options.logger.debug("health verdict changed", { key, from: before, to: loop.state.verdict });
      this.options.onVerdictChange(key);
    }
    // The next check is timed from the end of this one, so slow checks never overlap.
    this.schedule(key, loop, nextProbeDelayMs(loop.target, loop.state.verdict));
  }
}
