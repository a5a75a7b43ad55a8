/**
 * dockerd SIGKILLed under a running agent with 10 Instances on its machine, then started
 * again: the containers outlive it (live-restore; published ports are the namespace's DNAT
 * rules), so every address keeps answering, and the agent neither restarts nor duplicates a
 * container once the engine is back.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Scenario } from "../contract.js";
import {
  BOUNDS,
  applyDefinition,
  conclude,
  echoSpec,
  instancesOf,
  onMachine,
  waitWhole,
} from "../machine-kit.js";

const DOWN_MS = 5000;

export const dockerdKilled: Scenario = {
  name: "dockerd-killed",
  fault: `dockerd SIGKILLed on a machine running 10 Instances, started again ${DOWN_MS / 1000} s later`,
  async run(cluster) {
    const { c, machine, namespace, checker } = await onMachine(cluster, 0, "fx-dockerd-kill");
    await applyDefinition(c, namespace, "ten", echoSpec(10, { machine: machine.name }));
    await waitWhole(checker, "10 Instances running on one machine", 180_000);
    const before = new Map(
      (await instancesOf(c, namespace)).map((i) => [i.metadata.name, i.status?.containerId]),
    );
    await checker.start();
    await sleep(1000);
    await machine.killDockerd();
    await sleep(DOWN_MS);
    await machine.startDockerd();
    const faultAt = Date.now();
    const result = await conclude(checker, {
      scenario: this.name,
      faultAt,
      settleTimeoutMs: 60_000,
      boundedBy: [BOUNDS.resync, BOUNDS.lease, "the engine's own restart (live-restore)"],
    });
    const after = await instancesOf(c, namespace);
    const replaced = after.filter((i) => before.get(i.metadata.name) !== i.status?.containerId);
    if (replaced.length) {
      result.passed = false;
      result.notes.unshift(`${replaced.length} container(s) replaced although they kept running`);
    } else {
      result.notes.push("every container outlived its engine and was kept (same container IDs)");
    }
    return result;
  },
};
