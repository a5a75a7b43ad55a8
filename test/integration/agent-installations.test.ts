/**
 * Two Berth installations side by side: a second control plane started for the test, an
 * agent of each with the same Node name on the one shared engine, and an Instance of the
 * same namespace and name in each. Garbage collection runs round after round (each round
 * proven by an orphan of each installation being removed), and neither agent touches the
 * other's container, nor one made before containers carried an installation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { env, freePortRun, images, kubectlOk, run, waitFor } from "../harness/index.js";
import type { AgentWorld } from "./agent-fixtures.js";
import { agentWorld, createInstance, installationOf, runAgent, waitForStatus } from "./agent-fixtures.js";

const CONTROL_PLANE = path.resolve(import.meta.dirname, "../../hack/controlplane.sh");
const CRDS = path.resolve(import.meta.dirname, "../../crds");
/** Fast garbage collection: a round every half second. */
const RESYNC_MS = 500;
const GC_ROUNDS = 3;

async function controlPlane(verb: "start" | "stop", dir: string, port: number): Promise<void> {
  const result = await run("bash", [CONTROL_PLANE, verb, "--dir", dir, "--port", String(port)], {
    timeoutMs: 180_000,
  });
  if (result.code !== 0) throw new Error(`controlplane.sh ${verb} failed: ${result.stderr}`);
}

/** The second installation's API server with Berth's CRDs and namespaces, as hack/with-env.sh prepares the first. */
async function secondInstallation(dir: string, port: number, namespace: string) {
  await controlPlane("start", dir, port);
  const kubeconfig = path.join(dir, "kubeconfig");
  await kubectlOk(["--kubeconfig", kubeconfig, "apply", "--server-side", "-k", CRDS]);
  await kubectlOk([
    "--kubeconfig",
    kubeconfig,
    "wait",
    "--for",
    "condition=Established",
    "--timeout=60s",
    "crd/definitions.berth.dev",
    "crd/instances.berth.dev",
    "crd/nodes.berth.dev",
  ]);
  await kubectlOk(["--kubeconfig", kubeconfig, "create", "namespace", "berth-system"]);
  await kubectlOk(["--kubeconfig", kubeconfig, "create", "namespace", namespace]);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return newKubeClient(kc);
}

/** A container labelled as the installation's, for this node, that no Instance wants. */
async function orphan(
  world: AgentWorld,
  installation: string | undefined,
  instance: string,
): Promise<string> {
  return await world.docker.createContainer({
    image: images.echo,
    labels: {
      ...(installation ? { [LABELS.installation]: installation } : {}),
      [LABELS.node]: world.nodeName,
      [LABELS.namespace]: world.namespace,
      [LABELS.instance]: instance,
    },
  });
}

async function exists(world: AgentWorld, id: string): Promise<boolean> {
  const all = await world.docker.listContainers({ [LABELS.node]: world.nodeName });
  return all.some((container) => container.id === id);
}

test(
  "agents of two installations with one Node name on one engine never collect each other's containers",
  { timeout: 400_000 },
  async (t) => {
    env();
    const a = await agentWorld(t);
    const dir = await mkdtemp(path.join(os.tmpdir(), "berth-second-installation-"));
    const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-second-agent-"));
    const port = await freePortRun(3);
    t.after(async () => {
      await controlPlane("stop", dir, port);
      await rm(dir, { recursive: true, force: true });
      await rm(stateDir, { recursive: true, force: true });
    });
    const clientB = await secondInstallation(dir, port, a.namespace);
    // The same Node name, namespace and engine; only the installation differs.
    const b: AgentWorld = { ...a, client: clientB, agents: [] };
    const [installationA, installationB] = [await installationOf(a), await installationOf(b)];
    assert.notEqual(installationA, installationB);

    const unclaimed = await orphan(a, undefined, "from-before-installations");
    await runAgent(a, { resyncIntervalMs: RESYNC_MS });
    // b's agents are stopped below, not by a world clean-up: b shares a's.
    const agentB = await runAgent(b, { resyncIntervalMs: RESYNC_MS, stateDir });
    try {
      const template = { image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" as const } };
      await createInstance(a, "web", template);
      await createInstance(b, "web", template);
      const running = (s: { phase?: string; containerId?: string }) =>
        s.phase !== undefined && !!s.containerId;
      const webA = (await waitForStatus(a, "web", "A's Instance to have a container", running)).containerId!;
      const webB = (await waitForStatus(b, "web", "B's Instance to have a container", running)).containerId!;
      assert.notEqual(webA, webB, "each installation runs its own container");
      const labelsOf = async (id: string) =>
        (await a.docker.inspectContainer(id)).labels[LABELS.installation];
      assert.equal(await labelsOf(webA), installationA);
      assert.equal(await labelsOf(webB), installationB);

      for (let round = 1; round <= GC_ROUNDS; round++) {
        const orphanA = await orphan(a, installationA, `ghost-${round}`);
        const orphanB = await orphan(b, installationB, `ghost-${round}`);
        await waitFor(`round ${round}: both agents to collect their own orphan`, async () => {
          return !(await exists(a, orphanA)) && !(await exists(a, orphanB));
        });
        assert.ok(await exists(a, webA), `round ${round}: A's container survives B's collection`);
        assert.ok(await exists(a, webB), `round ${round}: B's container survives A's collection`);
        assert.ok(await exists(a, unclaimed), `round ${round}: the unlabelled container is left alone`);
      }
      const [finalA, finalB] = [
        await waitForStatus(a, "web", "A ready", (s) => s.ready === true),
        await waitForStatus(b, "web", "B ready", (s) => s.ready === true),
      ];
      assert.equal(finalA.containerId, webA, "A's Instance still runs its first container");
      assert.equal(finalB.containerId, webB, "B's Instance still runs its first container");
      assert.equal(finalA.restarts ?? 0, 0);
      assert.equal(finalB.restarts ?? 0, 0);
    } finally {
      await agentB.stop();
    }
  },
);
