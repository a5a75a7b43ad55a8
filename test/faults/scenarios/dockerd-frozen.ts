/**
 * dockerd (and its containerd) SIGSTOPped for 30 s on a machine with Instances, then
 * SIGCONTed: the agent's calls time out (the Node says so), its containers keep serving, no
 * Instance is run twice, and the machine recovers after SIGCONT.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { NODES } from "../../../controller/src/kube/resources.js";
import type { Scenario } from "../contract.js";
import { BOUNDS, applyDefinition, conclude, echoSpec, onMachine, waitWhole } from "../machine-kit.js";

const FROZEN_MS = 30_000;

export const dockerdFrozen: Scenario = {
  name: "dockerd-frozen",
  fault: `dockerd and its containerd SIGSTOPped for ${FROZEN_MS / 1000} s on a machine running 3 Instances, then SIGCONTed`,
  async run(cluster) {
    const { c, machine, namespace, checker } = await onMachine(cluster, 1, "fx-dockerd-freeze");
    await applyDefinition(c, namespace, "frozen", echoSpec(3, { machine: machine.name }));
    await waitWhole(checker, "3 Instances on one machine");
    await checker.start();
    await sleep(500);
    await machine.freezeDockerd();
    const reasons = new Set<string>();
    const frozenUntil = Date.now() + FROZEN_MS;
    while (Date.now() < frozenUntil) {
      const node = await c.client.get(NODES, { name: machine.name }).catch(() => undefined);
      const docker = node?.status?.conditions?.find((cond) => cond.type === "DockerReachable");
      if (docker && docker.status !== "True") reasons.add(`${docker.status}/${docker.reason ?? ""}`);
      await sleep(500);
    }
    await machine.thawDockerd();
    const faultAt = Date.now();
    const notes = [
      reasons.size
        ? `while frozen the Node said DockerReachable ${[...reasons].join(", ")}`
        : "the Node never reported the frozen engine",
    ];
    return await conclude(checker, {
      scenario: this.name,
      faultAt,
      settleTimeoutMs: 90_000,
      notes,
      failures: reasons.size ? [] : ["the frozen engine was never reported on the Node"],
      boundedBy: [
        "Docker call timeouts (docker/options.ts DEFAULT_DOCKER_TIMEOUTS): how soon a frozen engine is noticed",
        BOUNDS.eviction,
        BOUNDS.resync,
      ],
    });
  },
};
