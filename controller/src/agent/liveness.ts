/**
 * Liveness checks: for an Instance with a livenessCheck, a second probe loop runs beside
 * the health check's, under its own key. When it fails (failureThreshold checks in a row;
 * before a first pass, spanning failureThreshold intervals too, as for readiness) the
 * reconciler stops the container. From there it is an exit like any other: the next pass
 * counts the restart and waits out the crash-loop back-off before starting a new one. What
 * this module keeps is why the agent stopped the container, so that the exit is reported
 * as the liveness failure it was and not as the signal that ended it.
 */

/** The liveness loop's key beside its Instance's key (`namespace/name`: no name has a space). */
const LIVENESS_KEY_SUFFIX = " liveness";

export function livenessProbeKey(instanceKey: string): string {
  return `${instanceKey}${LIVENESS_KEY_SUFFIX}`;
}

/** The Instance key a probe loop's key belongs to (a readiness loop's key is the Instance's). */
export function instanceKeyOfProbe(probeKey: string): string {
  return probeKey.endsWith(LIVENESS_KEY_SUFFIX) ? probeKey.slice(0, -LIVENESS_KEY_SUFFIX.length) : probeKey;
}

/** The Event reason, and the words of an exit, of a container stopped for failing its liveness check. */
export const LIVENESS_CHECK_FAILED = "LivenessCheckFailed";

/** The message of a liveness failure: how many checks failed and what the last one saw. */
export function livenessFailureMessage(consecutiveFailures: number, lastCheck: string): string {
  return `liveness check failed ${consecutiveFailures} time${consecutiveFailures === 1 ? "" : "s"} in a row (${lastCheck})`;
}

/** Containers this agent stopped because their liveness check failed, one per Instance. */
export class LivenessKills {
  private readonly kills = new Map<string, { containerId: string; message: string }>();

  record(instanceKey: string, containerId: string, message: string): void {
    this.kills.set(instanceKey, { containerId, message });
  }

  /** Why this container exited, when it was stopped for failing its liveness check. */
  exitOf(instanceKey: string, containerId: string): string | undefined {
    const kill = this.kills.get(instanceKey);
    return kill?.containerId === containerId ? `stopped: ${kill.message}` : undefined;
  }

  forget(instanceKey: string): void {
    this.kills.delete(instanceKey);
  }
}

/** Stops both probe loops of an Instance: its health check's and its liveness check's. */
export function stopProbeLoops(prober: { stop(key: string): void }, instanceKey: string): void {
  prober.stop(instanceKey);
  prober.stop(livenessProbeKey(instanceKey));
}
