/**
 * A Node object deleted while its agent runs (by hand, or by a script cleaning up): the
 * agent registers the Node again within a heartbeat, and its Instances are not disturbed:
 * the same Instances, the same containers, no restart, and no copy started elsewhere.
 */
import type { Instance } from "../../../controller/src/api/types.js";
import { nodeIsReady } from "../../../controller/src/api/vocabulary.js";
import { getOrUndefined } from "../../../controller/src/kube/errors.js";
import { NODES } from "../../../controller/src/kube/resources.js";
import { waitFor } from "../../harness/index.js";
import type { FaultCluster, Scenario, ScenarioResult } from "../contract.js";
import {
  CONTROLLER_BOUNDS,
  closeScenario,
  kubeOf,
  openScenario,
  rollingEchoSpec,
  settleAfter,
} from "../scenario-kit.js";
import { instancesOf } from "../machine-kit.js";

const REPLICAS = 6;

/** What must not change about an Instance on the deleted Node. */
function identity(i: Instance): string {
  return `${i.metadata.uid}:${i.status?.containerId ?? "-"}:${i.status?.restarts ?? 0}`;
}

export const nodeDeleted: Scenario = {
  name: "node-object-deleted",
  fault: "a Node object deleted while its agent runs and its Instances serve",
  async run(cluster: FaultCluster): Promise<ScenarioResult> {
    const kube = kubeOf(cluster);
    const opened = await openScenario(
      cluster,
      "fx-nodedel",
      rollingEchoSpec(REPLICAS, "node"),
      "the Definition before the deletion",
    );
    const { namespace, watch, notes, failures } = opened;

    const all = await instancesOf(cluster, namespace, "web");
    const machine = cluster.machines.find((m) => all.some((i) => i.spec.nodeName === m.name));
    if (!machine) throw new Error("no machine runs an Instance of the scenario");
    const before = new Map(
      all.filter((i) => i.spec.nodeName === machine.name).map((i) => [i.metadata.name ?? "", identity(i)]),
    );
    const oldNode = await kube.get(NODES, { name: machine.name });

    const faultAt = Date.now();
    await kube.delete(NODES, { name: machine.name });
    try {
      const back = await waitFor(
        `${machine.name} registered again and Ready`,
        async () => {
          const node = await getOrUndefined(() => kube.get(NODES, { name: machine.name }));
          return node && node.metadata.uid !== oldNode.metadata.uid && nodeIsReady(node) ? node : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      notes.push(`the Node was back and Ready after ${Date.now() - faultAt} ms (uid ${back.metadata.uid})`);
    } catch (err) {
      failures.push((err as Error).message);
    }
    const outcome = await settleAfter(watch, faultAt);

    const after = new Map(
      (await instancesOf(cluster, namespace, "web")).map((i) => [i.metadata.name ?? "", identity(i)]),
    );
    for (const [name, was] of before) {
      const now = after.get(name);
      if (now !== was) failures.push(`${name} on ${machine.name} was disturbed: ${was} -> ${now ?? "gone"}`);
    }
    notes.push(`${before.size} Instances ran on ${machine.name}`);
    if (outcome.observations.longestNoAnswerMs > 0) {
      notes.push(`an address did not answer for ${outcome.observations.longestNoAnswerMs} ms`);
    }
    return await closeScenario(cluster, opened, this.name, outcome, [
      "the agent's heartbeat interval (it re-creates its Node on the next beat)",
      "node grace period (an Instance is only replaced once its Node is lost for that long)",
      ...CONTROLLER_BOUNDS,
    ]);
  },
};
