/**
 * What a scenario needs of the invariant checker: start it on the scenario's namespace
 * before the fault, wait for the system to settle after it, stop it for the figures. The
 * checker samples the machines' engines and the Definitions' addresses (every ~100 ms) and
 * fills in the contract's InvariantObservations.
 */
import type { FaultCluster, InvariantObservations } from "./contract.js";

export interface InvariantWatch {
  /**
   * Resolves with the milliseconds it waited once every invariant holds at once (desired
   * counts met and ready, one container per Instance on its own Node's engine, no orphan,
   * every listed address answering), or with undefined when timeoutMs passed first.
   */
  settle(timeoutMs: number): Promise<number | undefined>;
  /** Stops sampling; the observations cover the whole watch, the after-settling lists the last check. */
  stop(): Promise<InvariantObservations>;
}

export interface InvariantChecker {
  start(cluster: FaultCluster, namespace: string): Promise<InvariantWatch>;
}

/** The observations a scenario without any fault-specific allowance must meet. */
export function hardViolations(observations: InvariantObservations): string[] {
  const found: string[] = [];
  if (observations.maxContainersPerInstance > 1) {
    found.push(`${observations.maxContainersPerInstance} containers of one Instance on one engine`);
  }
  if (observations.duplicateInstancesSeen > 0) {
    found.push(`${observations.duplicateInstancesSeen} Instances ran on two engines at once`);
  }
  const lists: Array<[string, string[]]> = [
    ["orphan containers", observations.orphanContainers],
    ["Instances without a container or reason", observations.instancesWithoutContainer],
    ["lost Instances", observations.lostInstances],
    ["Definitions below their desired count", observations.unmetDefinitions],
  ];
  for (const [what, names] of lists) if (names.length > 0) found.push(`${what}: ${names.join(", ")}`);
  return found;
}
