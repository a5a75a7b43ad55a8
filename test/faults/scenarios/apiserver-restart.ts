/**
 * The API server restarted in the middle of a rolling update: the controller, the agents
 * and the informers lose every watch and every write for the restart's length. The rollout
 * must finish (only the new deployment left, desired count met) without a second copy of
 * any Instance, and the service must never be without an answering address (the rollout
 * keeps maxUnavailable 0).
 */
import type { FaultCluster, Scenario, ScenarioResult } from "../contract.js";
import type { InvariantChecker } from "../invariants-api.js";
import { samplingChecker } from "../sampling-checker.js";
import { waitFor } from "../../harness/index.js";
import {
  CONTROLLER_BOUNDS,
  applyDefinition,
  cleanUp,
  echoSpec,
  instancesOf,
  kubeOf,
  result,
  settleOrThrow,
  SETTLE_TIMEOUT_MS,
} from "../scenario-kit.js";
import { DEFINITIONS } from "../../../controller/src/kube/resources.js";

const REPLICAS = 6;

export function apiServerRestartScenario(checker: InvariantChecker): Scenario {
  return {
    name: "apiserver-restart-mid-rollout",
    fault: `kube-apiserver stopped and started again while a Definition of ${REPLICAS} replicas rolls to a new template`,
    async run(cluster: FaultCluster): Promise<ScenarioResult> {
      const kube = kubeOf(cluster);
      const namespace = await cluster.namespace("fx-apiserver");
      const notes: string[] = [];
      const failures: string[] = [];
      const watch = await checker.start(cluster, namespace);
      await applyDefinition(kube, namespace, "web", echoSpec(REPLICAS, "v1"));
      await settleOrThrow(watch, "the first deployment");
      const before = await kube.get(DEFINITIONS, { namespace, name: "web" });

      await applyDefinition(kube, namespace, "web", echoSpec(REPLICAS, "v2"));
      // Mid-rollout: the new deployment has begun (an Instance of it exists) but not finished.
      await waitFor(
        "the rollout under way",
        async () => {
          const d = await kube.get(DEFINITIONS, { namespace, name: "web" });
          const newId = d.status?.deploymentId;
          if (!newId || newId === before.status?.deploymentId) return false;
          const instances = await instancesOf(kube, namespace, "web");
          return instances.some((i) => i.spec.deploymentId === newId);
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      const progress = await instancesOf(kube, namespace, "web");
      const faultAt = Date.now();
      await cluster.controlPlane.restartApiServer();
      const downMs = Date.now() - faultAt;
      notes.push(
        `restarted with ${progress.filter((i) => i.status?.ready).length} of ${progress.length} Instances ready; ` +
          `the API server was away ${downMs} ms`,
      );
      const waited = await watch.settle(SETTLE_TIMEOUT_MS);
      const recoveryMs = waited === undefined ? undefined : Date.now() - faultAt;
      const observations = await watch.stop();

      const after = await kube.get(DEFINITIONS, { namespace, name: "web" });
      const answers = await Promise.all(
        (after.status?.addresses ?? []).map(
          async (a) => (await fetch(`${a}/`).then((r) => r.text())).split("\n")[1],
        ),
      );
      if (answers.length !== REPLICAS || answers.some((m) => m !== "v2")) {
        failures.push(
          `after the rollout the addresses answer ${JSON.stringify(answers)}, not ${REPLICAS} x v2`,
        );
      }
      if (observations.longestNoCopyMs > 0) {
        failures.push(`the service had no answering address for ${observations.longestNoCopyMs} ms`);
      }
      await cleanUp(cluster, namespace, notes);
      return result(this.name, recoveryMs, observations, failures, notes, [
        "the API server's restart time (stop up to 10 s, then until /readyz answers)",
        ...CONTROLLER_BOUNDS,
        "rollout maxSurge 1, maxUnavailable 0; health check every 1 s",
      ]);
    },
  };
}

export const apiServerRestart = apiServerRestartScenario(samplingChecker);
