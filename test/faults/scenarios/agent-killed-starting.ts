/**
 * An agent SIGKILLed while Instances are starting on its machine, and started again: the
 * restarted agent adopts what its predecessor created (no second container for an Instance,
 * no orphan), and every Instance ends up running.
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
  waitFor,
} from "../machine-kit.js";

const REPLICAS = 8;
const STARTING = new Set(["Scheduled", "Pulling", "Starting"]);
/**
 * Each copy waits 0-4 s before it serves, so the Instances turn ready one by one over a few
 * seconds and the kill lands while some run and others start (an agent with many workers
 * brings 8 plain copies to ready within one poll otherwise).
 */
const STAGGERED = ["/bin/sh", "-c", "sleep $((RANDOM % 5)); exec /bin/sh /serve.sh"];

export const agentKilledStarting: Scenario = {
  name: "agent-killed-while-starting",
  fault: `the agent SIGKILLed while ${REPLICAS} Instances were starting on its machine, started again 2 s later`,
  async run(cluster) {
    const { c, machine, namespace, checker } = await onMachine(cluster, 0, "fx-agent-kill");
    await checker.start();
    await applyDefinition(
      c,
      namespace,
      "starting",
      echoSpec(REPLICAS, { machine: machine.name, command: STAGGERED }),
    );
    const phases = await waitFor(
      "Instances starting on the machine",
      async () => {
        const instances = await instancesOf(c, namespace, "starting");
        const phases = instances.map((i) => i.status?.phase ?? "");
        const starting = phases.filter((p) => STARTING.has(p)).length;
        const running = phases.filter((p) => p === "Running").length;
        return starting > 0 && running > 0 ? phases : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const faultAt = Date.now();
    await machine.killAgent();
    await sleep(2000);
    await machine.startAgent();
    return await conclude(checker, {
      scenario: this.name,
      faultAt,
      settleTimeoutMs: 90_000,
      notes: [`killed with Instance phases: ${phases.sort().join(", ")}`],
      boundedBy: [BOUNDS.lease, BOUNDS.resync, BOUNDS.retry, BOUNDS.health],
    });
  },
};
