/**
 * The disk of a machine's Docker data root (a size-limited tmpfs) full while an image is
 * built there, and while one is pulled: the Instance says why it does not run (no Instance
 * without a container or a reason), nothing half-made is left running, and once the disk
 * has room again the retry succeeds.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { DefinitionSpec } from "../../../controller/src/api/types.js";
import { run, testRepositoryScratch } from "../../harness/index.js";
import { THIS_MACHINE_LABEL } from "../cluster.js";
import type { FaultCluster, Scenario, ScenarioResult } from "../contract.js";
import { BOUNDS, applyDefinition, conclude, instancesOf, onMachine, suite, waitFor } from "../machine-kit.js";

const FULL_MS = 10_000;

async function diskFull(
  cluster: FaultCluster,
  scenario: string,
  machineIndex: number,
  spec: (machine: string) => Promise<DefinitionSpec>,
): Promise<ScenarioResult> {
  const { c, machine, namespace, checker } = await onMachine(cluster, machineIndex, `fx-${scenario}`);
  await checker.start();
  await machine.fillDisk();
  const faultAt = Date.now();
  await applyDefinition(c, namespace, "full", await spec(machine.name));
  const reason = await waitFor(
    "the Instance to say the disk is full",
    async () => {
      const [instance] = await instancesOf(c, namespace, "full");
      const message = instance?.status?.message ?? "";
      return /no space left/i.test(message) ? `${instance?.status?.phase}: ${message}` : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  await sleep(FULL_MS);
  const [during] = await instancesOf(c, namespace, "full");
  await machine.freeDisk();
  const freedAt = Date.now();
  const result = await conclude(checker, {
    scenario,
    faultAt,
    settleTimeoutMs: 120_000,
    notes: [
      `while full: ${reason.slice(0, 300)}`,
      `${FULL_MS / 1000} s later still ${during?.status?.phase ?? "gone"} (restarts ${during?.status?.restarts ?? 0})`,
    ],
    boundedBy: [BOUNDS.retry, BOUNDS.health],
  });
  if (result.recoveryMs >= 0) {
    result.notes.push(
      `running ${((faultAt + result.recoveryMs - freedAt) / 1000).toFixed(1)} s after the disk was freed`,
    );
  }
  return result;
}

export const diskFullBuild: Scenario = {
  name: "disk-full-build",
  fault:
    "the Docker data root's filesystem filled (64 KiB left) while a repository Definition is built there, freed after",
  async run(cluster) {
    const scratch = await testRepositoryScratch("fault-build-");
    try {
      return await diskFull(cluster, this.name, 1, (machine) =>
        buildSpec(path.join(scratch, "repo"), machine),
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  },
};

/** A repository Definition of hack/test-repo.sh's service, in a fresh repository at `dir`. */
async function buildSpec(dir: string, machine: string): Promise<DefinitionSpec> {
  const made = await run("bash", [path.resolve(import.meta.dirname, "../../../hack/test-repo.sh"), dir]);
  if (made.code !== 0) throw new Error(`hack/test-repo.sh: ${made.stderr}`);
  const url = made.stdout.trim().split("\n").pop() ?? "";
  return {
    repository: { url, containerFile: "Containerfile" },
    replicas: 1,
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
    placement: { nodeSelector: { [THIS_MACHINE_LABEL]: machine } },
  };
}

export const diskFullPull: Scenario = {
  name: "disk-full-pull",
  fault:
    "the Docker data root's filesystem filled (64 KiB left) while an image is pulled from the bridge's image registry, freed after",
  async run(cluster) {
    return await diskFull(cluster, this.name, 2, async (machine) => ({
      image: { name: `${suite(cluster).imageRegistry}/berth-test/echo:pull`, port: 8080 },
      replicas: 1,
      healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
      placement: { nodeSelector: { [THIS_MACHINE_LABEL]: machine } },
    }));
  },
};
