/**
 * etcd compacted past every informer's resourceVersion, so a real 410 Gone reaches them:
 * the API server's own watches on etcd are refused ("required revision has been compacted"),
 * its caches list again and end their clients' watches, and a client resuming from what it
 * held gets 410. The informers must relist, and a change made after the compaction (a scale
 * from 3 to 5) must be carried out as if nothing happened.
 *
 * Proof that the 410 is real: a watch opened here from the resourceVersion an informer held
 * before the compaction is answered 410; an informer run here (the runtime's own) logs its
 * relist; and when the control plane exposes the controller's metrics, its Definition and
 * Instance informers' relist counters grew.
 */
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Definition } from "../../../controller/src/api/types.js";
import type { KubeClient } from "../../../controller/src/kube/client.js";
import { isGone } from "../../../controller/src/kube/errors.js";
import { DEFINITIONS } from "../../../controller/src/kube/resources.js";
import { Informer } from "../../../controller/src/runtime/informer.js";
import { createLogger } from "../../../controller/src/runtime/log.js";
import { waitFor } from "../../harness/index.js";
import type { FaultCluster, FaultControlPlane, Scenario, ScenarioResult } from "../contract.js";
import {
  CONTROLLER_BOUNDS,
  closeScenario,
  kubeOf,
  metricValue,
  openScenario,
  rollingEchoSpec,
  settleAfter,
} from "../scenario-kit.js";
import { applyDefinition } from "../machine-kit.js";

const RELISTED_KINDS = ["definitions.berth.dev", "instances.berth.dev"];

async function controllerRelists(plane: FaultControlPlane): Promise<Map<string, number>> {
  const text = await plane.controllerMetrics();
  return new Map(
    RELISTED_KINDS.map((kind) => [
      kind,
      metricValue(text, "berth_informer_relists_total", { resource: kind }),
    ]),
  );
}

/** Opens a watch from `resourceVersion`; resolves "gone" on a 410, else with what happened. */
function watchAnswer(kube: KubeClient, namespace: string, resourceVersion: string): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("no answer in 10 s"), 10_000);
    const done = (answer: string): void => {
      clearTimeout(timer);
      resolve(answer);
    };
    kube
      .watch(
        DEFINITIONS,
        { namespace, resourceVersion, allowWatchBookmarks: false, timeoutSeconds: 5 },
        (event) => {
          const code = (event.object as { code?: number }).code;
          done(event.type === "ERROR" && code === 410 ? "gone" : `a ${event.type} event`);
        },
        (err) => done(err && isGone(err) ? "gone" : `ended: ${err?.message ?? "closed"}`),
      )
      .then((handle) => setTimeout(() => handle.stop(), 10_000).unref())
      .catch((err: unknown) => done(err instanceof Error && isGone(err) ? "gone" : `failed: ${String(err)}`));
  });
}

export const etcdCompaction: Scenario = {
  name: "etcd-compacted-410",
  fault:
    "etcd compacted past the informers' resourceVersion (and its watches re-made), so a real 410 Gone reaches them",
  async run(cluster: FaultCluster): Promise<ScenarioResult> {
    const kube = kubeOf(cluster);
    const opened = await openScenario(
      cluster,
      "fx-compact",
      rollingEchoSpec(3, "compact"),
      "the Definition before the compaction",
    );
    const { namespace, watch, notes, failures } = opened;

    const log = new PassThrough();
    const logged: string[] = [];
    log.on("data", (chunk: Buffer) => logged.push(chunk.toString()));
    const informer = new Informer<Definition>(kube, DEFINITIONS, {
      namespace,
      logger: createLogger({ level: "info", stream: log }),
      backoffMaxMs: 2000,
    });
    informer.start();
    // Stopped however the scenario ends: a running informer would keep the test process alive.
    try {
      await informer.waitForSync();
      const heldVersion = informer.lastResourceVersion();
      const relistsBefore = await controllerRelists(cluster.controlPlane);

      const faultAt = Date.now();
      const { compactedRevision } = await cluster.controlPlane.compactEtcd();
      notes.push(
        `compacted at revision ${compactedRevision} in ${Date.now() - faultAt} ms; an informer held ${heldVersion}`,
      );
      // While the API server's caches initialize again a watch may be refused for a moment.
      let answer = "";
      for (let attempt = 0; attempt < 20; attempt++) {
        answer = await watchAnswer(kube, namespace, heldVersion);
        if (answer === "gone" || answer.startsWith("a ")) break;
        await sleep(500);
      }
      if (answer !== "gone")
        failures.push(`a watch from the held resourceVersion got ${answer}, not 410 Gone`);

      await applyDefinition(cluster, namespace, "web", rollingEchoSpec(5, "compact"));
      const outcome = await settleAfter(watch, faultAt);

      try {
        await waitFor(
          "the test's informer to see the scale to 5",
          () => informer.get(namespace, "web")?.spec.replicas === 5,
          { timeoutMs: 30_000 },
        );
      } catch (err) {
        failures.push(`the test's informer: ${(err as Error).message}`);
      }
      await informer.stop();
      if (!logged.join("").includes("watch expired, relisting")) {
        failures.push("the test's informer never logged a relist after 410");
      }
      const relistsAfter = await controllerRelists(cluster.controlPlane);
      for (const kind of RELISTED_KINDS) {
        const grew = (relistsAfter.get(kind) ?? 0) - (relistsBefore.get(kind) ?? 0);
        notes.push(`controller ${kind} relists: +${grew}`);
        if (grew < 1) failures.push(`the controller's ${kind} informer did not relist`);
      }
      return await closeScenario(cluster, opened, this.name, { ...outcome, alwaysAnswering: true }, [
        "etcd's restart (its watches are re-made from a compacted revision)",
        ...CONTROLLER_BOUNDS,
      ]);
    } finally {
      await informer.stop();
    }
  },
};
