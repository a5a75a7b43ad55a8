/**
 * The controller SIGKILLed in the middle of a scale-up from 0 to 30 and started again: the
 * new process takes the leader Lease once it expires and finishes the scale-up from what
 * the API server holds. Never more than 30 Instances, never two copies of one, every one of
 * the 30 running and answering in the end.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { waitFor } from "../../harness/index.js";
import type { FaultCluster, Scenario, ScenarioResult } from "../contract.js";
import {
  CONTROLLER_BOUNDS,
  closeScenario,
  openScenario,
  rollingEchoSpec,
  settleAfter,
} from "../scenario-kit.js";
import { applyDefinition, instancesOf } from "../machine-kit.js";

const REPLICAS = 30;
/** Killed once this many Instances exist: the scale-up is under way, far from done. */
const KILL_AFTER = 5;

export const controllerKill: Scenario = {
  name: "controller-kill-mid-scale-up",
  fault: `the controller SIGKILLed while a Definition scales from 0 to ${REPLICAS}, then started again`,
  async run(cluster: FaultCluster): Promise<ScenarioResult> {
    const opened = await openScenario(
      cluster,
      "fx-ctrlkill",
      rollingEchoSpec(0, "scale"),
      "the Definition at 0 replicas",
    );
    const { namespace, watch, notes, failures } = opened;

    // Counts every Instance ever seen at once, to catch a second controller's extras.
    let most = 0;
    let counting = true;
    const counter = (async () => {
      while (counting) {
        const live = await instancesOf(cluster, namespace, "web").catch(() => undefined);
        if (live) most = Math.max(most, live.filter((i) => !i.metadata.deletionTimestamp).length);
        await sleep(100);
      }
    })();

    await applyDefinition(cluster, namespace, "web", rollingEchoSpec(REPLICAS, "scale"));
    const atKill = await waitFor(
      `${KILL_AFTER} Instances created`,
      async () => {
        const instances = await instancesOf(cluster, namespace, "web");
        return instances.length >= KILL_AFTER ? instances : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const faultAt = Date.now();
    await cluster.controlPlane.killController();
    const killed = await instancesOf(cluster, namespace, "web");
    notes.push(
      `killed with ${atKill.length} Instances seen (${killed.length} right after the kill, ` +
        `${killed.filter((i) => i.status?.ready).length} ready)`,
    );
    await cluster.controlPlane.startController();
    const outcome = await settleAfter(watch, faultAt);
    counting = false;
    await counter;
    notes.push(`most Instances at once: ${most}`);
    if (most > REPLICAS) failures.push(`${most} Instances existed at once for ${REPLICAS} replicas`);
    const names = (await instancesOf(cluster, namespace, "web")).map((i) => i.metadata.name ?? "");
    if (new Set(names).size !== REPLICAS)
      failures.push(`${new Set(names).size} distinct Instances in the end`);
    return await closeScenario(cluster, opened, this.name, outcome, [
      ...CONTROLLER_BOUNDS,
      "the new process waits out the killed leader's Lease before it reconciles",
      `image start and first health check of ${REPLICAS} containers on the machines`,
    ]);
  },
};
