/**
 * What the control-plane scenarios share: the Definition they deploy (the echo test image,
 * health-checked), writes through the control plane's kubeconfig, and the end of every
 * scenario (its Definitions deleted and their containers gone, the figures assembled).
 */
import {
  API_VERSION,
  type Definition,
  type DefinitionSpec,
  type Instance,
} from "../../controller/src/api/types.js";
import { getOrUndefined } from "../../controller/src/kube/errors.js";
import type { KubeClient } from "../../controller/src/kube/client.js";
import { DEFINITIONS, INSTANCES } from "../../controller/src/kube/resources.js";
import { waitFor } from "../harness/index.js";
import type { FaultCluster, InvariantObservations, ScenarioResult } from "./contract.js";
import { kubeClientFor } from "./dev-cluster.js";
import { CONTROLLER_TIMINGS } from "./control-plane.js";
import { hardViolations, type InvariantWatch } from "./invariants-api.js";

/** How long a scenario waits for the system to settle, before and after its fault. */
export const SETTLE_TIMEOUT_MS = 180_000;

export function kubeOf(cluster: FaultCluster): KubeClient {
  return kubeClientFor(cluster.controlPlane.kubeconfig);
}

/** The echo image answering MESSAGE, health-checked every second, rolled one at a time. */
export function echoSpec(replicas: number, message: string): DefinitionSpec {
  return {
    image: { name: "berth-test/echo:1", port: 8080 },
    replicas,
    env: [{ name: "MESSAGE", value: message }],
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
    rollout: { maxSurge: 1, maxUnavailable: 0 },
  };
}

export async function applyDefinition(
  kube: KubeClient,
  namespace: string,
  name: string,
  spec: DefinitionSpec,
): Promise<Definition> {
  const current = await getOrUndefined(() => kube.get(DEFINITIONS, { namespace, name }));
  if (current) return await kube.replace(DEFINITIONS, { ...current, spec });
  return await kube.create(DEFINITIONS, {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace },
    spec,
  });
}

/** apply, retried while the API server does not answer (a scenario may have just restarted it). */
export async function applyWhenAnswering(
  kube: KubeClient,
  namespace: string,
  name: string,
  spec: DefinitionSpec,
): Promise<void> {
  await waitFor(`${name} applied`, async () => Boolean(await applyDefinition(kube, namespace, name, spec)), {
    timeoutMs: 60_000,
    intervalMs: 500,
  });
}

export async function instancesOf(
  kube: KubeClient,
  namespace: string,
  definition: string,
): Promise<Instance[]> {
  const all = await kube.list(INSTANCES, { namespace });
  return all.items.filter((i) => i.spec.definition === definition);
}

/** Waits for the watch to settle; throws with what is unmet when it does not. */
export async function settleOrThrow(watch: InvariantWatch, what: string): Promise<void> {
  const waited = await watch.settle(SETTLE_TIMEOUT_MS);
  if (waited === undefined) {
    const seen = await watch.stop();
    throw new Error(`${what} did not settle in ${SETTLE_TIMEOUT_MS} ms: ${JSON.stringify(seen)}`);
  }
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
  `leader lease ${CONTROLLER_TIMINGS.leaderLeaseDuration} (renew deadline ${CONTROLLER_TIMINGS.leaderRenewDeadline}, retry ${CONTROLLER_TIMINGS.leaderRetryPeriod})`,
  "informer retry backoff: 0.8 s doubling up to 30 s (runtime/informer.ts)",
];
