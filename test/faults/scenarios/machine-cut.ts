/**
 * A machine cut off from the API server (its packets to the API server's port dropped in its
 * namespace) while its containers keep serving: its Node goes Unknown, its Instance is
 * replaced on another machine; on heal, its agent removes the superseded container. The
 * window with two copies (old one still serving beside the replacement) and the window with
 * none are what the report shows.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Scenario } from "../contract.js";
import {
  BOUNDS,
  applyDefinition,
  conclude,
  echoSpec,
  instancesOf,
  nodeReady,
  onMachine,
  waitFor,
  waitWhole,
} from "../machine-kit.js";
import { DEFINITIONS } from "../../../controller/src/kube/resources.js";
import { httpGet } from "../../harness/index.js";

export const machineCut: Scenario = {
  name: "machine-cut-off",
  fault:
    "a machine's traffic to the API server dropped (its containers still reachable), healed once its Instance was replaced elsewhere",
  async run(cluster) {
    const { c, machine: victim, namespace, checker } = await onMachine(cluster, 2, "fx-machine-cut");
    await applyDefinition(c, namespace, "web", echoSpec(3));
    await waitWhole(checker, "3 Instances spread over the machines");
    const [held] = (await instancesOf(c, namespace, "web")).filter((i) => i.spec.nodeName === victim.name);
    if (!held) throw new Error(`no Instance on ${victim.name} to cut off`);
    const oldAddress = held.status?.address?.url ?? "";
    await checker.start();
    await sleep(500);
    const faultAt = Date.now();
    await victim.cutFromApiServer();
    const failures: string[] = [];
    const notes: string[] = [];
    const unknownAt = await waitFor(
      `${victim.name} Ready=Unknown`,
      async () => ((await nodeReady(c, victim.name)) === "Unknown" ? Date.now() : undefined),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    notes.push(`Node Ready=Unknown ${((unknownAt - faultAt) / 1000).toFixed(1)} s after the cut`);
    const replacedAt = await waitFor(
      "the cut machine's Instance replaced on another machine",
      async () => {
        const web = await c.client.get(DEFINITIONS, { namespace, name: "web" });
        const addresses = web.status?.addresses ?? [];
        const moved = addresses.length === 3 && addresses.every((a) => !a.includes(`//${victim.address}:`));
        return moved ? Date.now() : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    notes.push(`replaced elsewhere ${((replacedAt - faultAt) / 1000).toFixed(1)} s after the cut`);
    // The cut machine's container is superseded but still serves: a real partition.
    const stillServing = (await httpGet(`${oldAddress}/`, 1000))?.status === 200;
    if (stillServing) notes.push("the cut-off copy kept serving until heal");
    else failures.push(`the cut-off copy at ${oldAddress} stopped answering while cut off`);
    await sleep(2000);
    await victim.heal();
    const healedAt = Date.now();
    const result = await conclude(checker, {
      scenario: this.name,
      faultAt,
      settleTimeoutMs: 90_000,
      duplicatesExpected: true,
      notes,
      failures,
      boundedBy: [BOUNDS.lease, BOUNDS.grace, BOUNDS.eviction, BOUNDS.resync, BOUNDS.stopGrace],
    });
    if (result.recoveryMs >= 0) {
      result.notes.push(
        `healed ${((healedAt - faultAt) / 1000).toFixed(1)} s after the cut; whole again ${((faultAt + result.recoveryMs - healedAt) / 1000).toFixed(1)} s after heal`,
      );
    }
    return result;
  },
};
