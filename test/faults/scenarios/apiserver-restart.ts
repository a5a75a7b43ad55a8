/**
 * The API server restarted in the middle of a rolling update: the controller, the agents
 * and the informers lose every watch and every write for the restart's length. The rollout
 * must finish (only the new deployment left, desired count met) without a second copy of
 * any Instance, and the service must never be without an answering address (the rollout
 * keeps maxUnavailable 0).
 */
import type { FaultCluster, Scenario, ScenarioResult } from "../contract.js";
import { httpGet, waitFor } from "../../harness/index.js";
import { CONDITIONS } from "../../../controller/src/api/vocabulary.js";
import type { KubeClient } from "../../../controller/src/kube/client.js";
import { TIMINGS } from "../cluster.js";
import {
  CONTROLLER_BOUNDS,
  closeScenario,
  kubeOf,
  openScenario,
  rollingEchoSpec,
  SETTLE_TIMEOUT_MS,
} from "../scenario-kit.js";
import { applyDefinition, instancesOf } from "../machine-kit.js";
import { DEFINITIONS } from "../../../controller/src/kube/resources.js";

const REPLICAS = 6;
const HEALTH_INTERVAL_S = 1;

/**
 * How long the rest of a rollout may take once the checker saw the desired count ready: the
 * one remaining new Instance becoming ready (health check), the last old one stopping, and the
 * controller's next status write, three times over and a margin for two loaded cores.
 */
const ROLLOUT_END_BOUND_MS =
  (HEALTH_INTERVAL_S + durationSeconds(TIMINGS.stopGracePeriod) + durationSeconds(TIMINGS.statusInterval)) *
    1000 *
    3 +
  30_000;

function durationSeconds(text: string): number {
  const match = /^(\d+)s$/.exec(text);
  if (!match) throw new Error(`a timing in whole seconds expected, not ${text}`);
  return Number(match[1]);
}

/** What the echo image at `address` answers (its second line: MESSAGE), undefined when silent. */
async function messageAt(address: string): Promise<string | undefined> {
  const answer = await httpGet(`${address}/`, 2_000);
  return answer?.status === 200 ? answer.body.split("\n")[1] : undefined;
}

/**
 * Waits until the Definition's status says its rollout is complete (Progressing, reason
 * RolloutComplete, for the current generation) with REPLICAS addresses that all answer
 * `message`; resolves with the milliseconds waited, or undefined after boundMs.
 */
async function rolloutServed(
  kube: KubeClient,
  namespace: string,
  message: string,
  boundMs: number,
): Promise<number | undefined> {
  const began = Date.now();
  while (Date.now() - began < boundMs) {
    const d = await kube.get(DEFINITIONS, { namespace, name: "web" }).catch(() => undefined);
    const status = d?.status;
    const complete =
      status?.observedGeneration === d?.metadata.generation &&
      (status?.conditions ?? []).some(
        (c) => c.type === CONDITIONS.progressing && c.reason === "RolloutComplete",
      );
    const addresses = status?.addresses ?? [];
    if (complete && addresses.length === REPLICAS) {
      const answers = await Promise.all(addresses.map(messageAt));
      if (answers.every((m) => m === message)) return Date.now() - began;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}

export const apiServerRestart: Scenario = {
  name: "apiserver-restart-mid-rollout",
  fault: `kube-apiserver stopped and started again while a Definition of ${REPLICAS} replicas rolls to a new template`,
  async run(cluster: FaultCluster): Promise<ScenarioResult> {
    const kube = kubeOf(cluster);
    const opened = await openScenario(
      cluster,
      "fx-apiserver",
      rollingEchoSpec(REPLICAS, "v1"),
      "the first deployment",
    );
    const { namespace, watch, notes, failures } = opened;
    const before = await kube.get(DEFINITIONS, { namespace, name: "web" });

    await applyDefinition(cluster, namespace, "web", rollingEchoSpec(REPLICAS, "v2"));
    // Mid-rollout: the new deployment has begun (an Instance of it exists) but not finished.
    await waitFor(
      "the rollout under way",
      async () => {
        const d = await kube.get(DEFINITIONS, { namespace, name: "web" });
        const newId = d.status?.deploymentId;
        if (!newId || newId === before.status?.deploymentId) return false;
        const instances = await instancesOf(cluster, namespace, "web");
        return instances.some((i) => i.spec.deploymentId === newId);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const progress = await instancesOf(cluster, namespace, "web");
    const faultAt = Date.now();
    await cluster.controlPlane.restartApiServer();
    const downMs = Date.now() - faultAt;
    notes.push(
      `restarted with ${progress.filter((i) => i.status?.ready).length} of ${progress.length} Instances ready; ` +
        `the API server was away ${downMs} ms`,
    );
    const waited = await watch.settle(SETTLE_TIMEOUT_MS);
    // The checker's "whole" (desired count ready and answering) can hold one step before the
    // rollout ends: with maxSurge 1 the last old Instance is ready and listed until its
    // replacement is. Recovery lasts until the status says the rollout is complete and every
    // address it lists answers the new template.
    const rolledOut =
      waited === undefined ? undefined : await rolloutServed(kube, namespace, "v2", ROLLOUT_END_BOUND_MS);
    const recoveryMs = rolledOut === undefined ? undefined : Date.now() - faultAt;
    if (waited !== undefined)
      notes.push(`settled, then the rollout's end took ${rolledOut ?? "over"} ms more`);
    const observations = await watch.stop();
    if (waited !== undefined && rolledOut === undefined) {
      const after = await kube.get(DEFINITIONS, { namespace, name: "web" });
      const answers = await Promise.all((after.status?.addresses ?? []).map(messageAt));
      failures.push(
        `${ROLLOUT_END_BOUND_MS} ms after settling the rollout is not complete or its addresses answer ` +
          `${JSON.stringify(answers)}, not ${REPLICAS} x v2`,
      );
    }
    const outcome = { recoveryMs, observations, alwaysAnswering: true };
    return await closeScenario(cluster, opened, this.name, outcome, [
      "the API server's restart time (stop up to 10 s, then until /readyz answers)",
      ...CONTROLLER_BOUNDS,
      "rollout maxSurge 1, maxUnavailable 0; health check every 1 s",
    ]);
  },
};
