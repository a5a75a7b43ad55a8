/**
 * What the control-plane scenarios share: the Definition they deploy (the echo test image,
 * health-checked), writes through the control plane's kubeconfig, and the end of every
 * scenario (its Definitions deleted and their containers gone, the figures assembled).
 */
import type { DefinitionSpec } from "../../controller/src/api/types.js";
import type { KubeClient } from "../../controller/src/kube/client.js";
import { DEFINITIONS, INSTANCES } from "../../controller/src/kube/resources.js";
import { waitFor } from "../harness/index.js";
import type { FaultCluster, InvariantObservations, ScenarioResult } from "./contract.js";
import { type CheckerWatch, machineChecker } from "./checker.js";
import { TIMINGS } from "./cluster.js";
import { applyDefinition, echoSpec } from "./machine-kit.js";

/** How long a scenario waits for the system to settle, before and after its fault. */
export const SETTLE_TIMEOUT_MS = 180_000;

export function kubeOf(cluster: FaultCluster): KubeClient {
  return cluster.client;
}

/** The echo image answering MESSAGE, health-checked every second, rolled one at a time. */
export function rollingEchoSpec(replicas: number, message: string): DefinitionSpec {
  return echoSpec(replicas, {
    env: [{ name: "MESSAGE", value: message }],
    rollout: { maxSurge: 1, maxUnavailable: 0 },
  });
}

/** Waits for the watch to settle; throws with what is unmet when it does not. */
export async function settleOrThrow(watch: CheckerWatch, what: string): Promise<void> {
  const waited = await watch.settle(SETTLE_TIMEOUT_MS);
  if (waited === undefined) {
    const seen = await watch.stop();
    throw new Error(`${what} did not settle in ${SETTLE_TIMEOUT_MS} ms: ${JSON.stringify(seen)}`);
  }
}

/** A control-plane scenario under way: its namespace, the checker watching it, what it found. */
export interface ScenarioRun {
  namespace: string;
  watch: CheckerWatch;
  notes: string[];
  failures: string[];
}

/** The opening: a namespace watched by the checker, and Definition `web` applied and settled. */
export async function openScenario(
  cluster: FaultCluster,
  namespacePrefix: string,
  web: DefinitionSpec,
  what: string,
): Promise<ScenarioRun> {
  const namespace = await cluster.namespace(namespacePrefix);
  const watch = await machineChecker.start(cluster, namespace);
  await applyDefinition(cluster, namespace, "web", web);
  await settleOrThrow(watch, what);
  return { namespace, watch, notes: [], failures: [] };
}

/** Waits for the watch to settle after the fault and stops it: recovery counts from faultAt. */
export async function settleAfter(
  watch: CheckerWatch,
  faultAt: number,
): Promise<{ recoveryMs: number | undefined; observations: InvariantObservations }> {
  const waited = await watch.settle(SETTLE_TIMEOUT_MS);
  const recoveryMs = waited === undefined ? undefined : Date.now() - faultAt;
  return { recoveryMs, observations: await watch.stop() };
}

/**
 * The closing: a scenario whose service must always answer fails on any moment without an
 * answering address; then its Definitions are cleaned up and the result assembled.
 */
export async function closeScenario(
  cluster: FaultCluster,
  run: ScenarioRun,
  scenario: string,
  outcome: { recoveryMs: number | undefined; observations: InvariantObservations; alwaysAnswering?: boolean },
  boundedBy: string[],
): Promise<ScenarioResult> {
  const { observations } = outcome;
  if (outcome.alwaysAnswering && observations.longestNoCopyMs > 0) {
    run.failures.push(`the service had no answering address for ${observations.longestNoCopyMs} ms`);
  }
  await cleanUp(cluster, run.namespace, run.notes);
  return result(scenario, outcome.recoveryMs, observations, run.failures, run.notes, boundedBy);
}

/**
 * Deletes the scenario's Definitions and waits until they and their containers are gone
 * (the finalizers see to it): a scenario leaves nothing behind, and deletion after the fault
 * is itself checked.
 */
export async function cleanUp(cluster: FaultCluster, namespace: string, notes: string[]): Promise<void> {
  const kube = kubeOf(cluster);
  const definitions = await kube.list(DEFINITIONS, { namespace });
  for (const d of definitions.items)
    await kube.delete(DEFINITIONS, { namespace, name: d.metadata.name ?? "" });
  try {
    await waitFor(
      "the scenario's Definitions and Instances gone",
      async () =>
        (await kube.list(DEFINITIONS, { namespace })).items.length === 0 &&
        (await kube.list(INSTANCES, { namespace })).items.length === 0,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  } catch (err) {
    notes.push(`clean-up: ${(err as Error).message}`);
  }
}

/** The result: passed when it settled, no hard invariant broke and no extra check failed. */
export function result(
  scenario: string,
  recoveryMs: number | undefined,
  observations: InvariantObservations,
  failures: string[],
  notes: string[],
  boundedBy: string[],
): ScenarioResult {
  const broken = [...hardViolations(observations), ...failures];
  if (recoveryMs === undefined) broken.unshift(`did not settle within ${SETTLE_TIMEOUT_MS} ms of the fault`);
  return {
    scenario,
    recoveryMs: recoveryMs ?? SETTLE_TIMEOUT_MS,
    observations,
    passed: broken.length === 0,
    notes: [...broken, ...notes],
    boundedBy,
  };
}

/** What bounds every control-plane scenario's recovery: the controller's and informers' timings. */
export const CONTROLLER_BOUNDS = [
  `leader lease ${TIMINGS.leaderLeaseDuration} (renew deadline ${TIMINGS.leaderRenewDeadline}, retry ${TIMINGS.leaderRetryPeriod})`,
  "informer retry backoff: 0.8 s doubling up to 30 s (runtime/informer.ts)",
];

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

/** The value of one sample of a Prometheus text exposition, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf("}"));
    const matches = Object.entries(labels).every(([key, value]) => inside.includes(`${key}="${value}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}
