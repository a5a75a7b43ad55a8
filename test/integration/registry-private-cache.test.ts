/**
 * A private image cached on a node is not a free pass: namespace A pulls it from the local
 * authenticated registry with its pull secret; on the same node, with pullPolicy
 * IfNotPresent, namespace B's Instance without a pull secret fails PullSecretRequired and
 * namespace C's with a wrong one ImagePullUnauthorized, before and after an agent restart,
 * while A's Instances keep running and a new one of A's starts from the cache. Each
 * Instance's pull credentials reach the agent as the controller delivers them.
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/registry-private-cache.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { type DockerObserver } from "../../controller/src/docker/metrics.js";
import { INSTANCES, NODES } from "../../controller/src/kube/resources.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { env, httpGet, run, testNamespace, waitFor } from "../harness/index.js";
import { agentWorld, runAgent } from "./agent-fixtures.js";
import {
  createPullSecret,
  createWithDeliveredCredentials,
  pullingInstance,
  startTestRegistry,
  stopTestRegistry,
  type RegistryAccess,
} from "./registry-fixtures.js";

const REGISTRY_PORT = "5154";

let access: RegistryAccess;

before(async () => {
  env();
  access = await startTestRegistry(REGISTRY_PORT);
});

after(async () => {
  await stopTestRegistry(REGISTRY_PORT);
});

test("another namespace's Instance does not run a cached private image without credentials the registry accepts", async (t) => {
  const kube = newKubeClient(env().kc);
  const teamA = await testNamespace(t, "berth-cache-a");
  const teamB = await testNamespace(t, "berth-cache-b");
  const teamC = await testNamespace(t, "berth-cache-c");
  await createPullSecret(access, teamA, "regcred", access.password);
  await createPullSecret(access, teamC, "regcred", `not-${access.password}`);

  // An extra engine started without the test images, so the first run pulls.
  const world = await agentWorld(t, { engine: "extra", loadImages: false });
  const { nodeName } = world;
  // The engine keeps its images across runs: the image must come from the registry now.
  await run("docker", ["-H", world.url, "rmi", "--force", access.image]);
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-agent-cache-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const operations: string[] = [];
  const observer: DockerObserver = {
    operationFinished: (operation, _seconds, reason) =>
      operations.push(`${operation}${reason ? `:${reason}` : ""}`),
  };
  const start = () =>
    runAgent(world, { stateDir }, createLogger({ level: "error" }), {
      docker: new DockerEngine({ url: world.url, observer }),
    });
  const running = { agent: await start() };
  await kube.mergePatch(NODES, { name: nodeName }, { spec: { unschedulable: true } });

  const create = async (namespace: string, name: string, pullSecret?: string) => {
    await createWithDeliveredCredentials(
      kube,
      pullingInstance(
        access.image,
        { namespace, name, nodeName },
        { pullPolicy: "IfNotPresent", ...(pullSecret ? { pullSecret } : {}) },
      ),
    );
  };
  const ready = (namespace: string, name: string) =>
    waitFor(`${namespace}/${name} to be ready`, async () => {
      const instance = await kube.get(INSTANCES, { namespace, name });
      return instance.status?.ready ? instance : undefined;
    });
  const refused = async (namespace: string, name: string, reason: string) => {
    const instance = await waitFor(`${namespace}/${name} to fail with ${reason}`, async () => {
      const current = await kube.get(INSTANCES, { namespace, name });
      const condition = current.status?.conditions?.find((c) => c.type === "ContainerReady");
      return condition?.reason === reason ? current : undefined;
    });
    assert.equal(instance.status?.phase, "Failed");
    assert.equal(instance.status?.containerId, undefined, "no container was made for it");
    assert.ok(!(instance.status?.message ?? "").includes(access.password));
    const containers = await world.docker.listContainers({
      [LABELS.namespace]: namespace,
    });
    assert.deepEqual(containers, [], `${namespace} has no container on the node`);
    return instance.status?.message ?? "";
  };

  // Team A pulls its private image: now it is on the node.
  await create(teamA, "web", "regcred");
  const first = await ready(teamA, "web");
  assert.ok(operations.includes("pull_image"), operations.join(", "));

  // Team B has no pull secret, team C a wrong one; both ask for the cached copy.
  await create(teamB, "thief");
  await create(teamC, "guess", "regcred");
  assert.match(await refused(teamB, "thief", "PullSecretRequired"), /set image\.pullSecret/);
  assert.match(await refused(teamC, "guess", "ImagePullUnauthorized"), new RegExp(`${teamC}/regcred`));
  assert.ok(operations.includes("inspect_distribution:RegistryUnauthorized"), operations.join(", "));

  // A's Instance still runs, and another of A's starts from the cache without a new pull.
  const pulls = operations.filter((o) => o.startsWith("pull_image")).length;
  await create(teamA, "web-2", "regcred");
  await ready(teamA, "web-2");
  assert.equal(operations.filter((o) => o.startsWith("pull_image")).length, pulls, "started from the cache");
  assert.equal((await httpGet(`${first.status?.address?.url}/healthz`))?.status, 200);

  // The record is kept in the state directory: a restarted agent still refuses.
  await running.agent.stop();
  running.agent = await start();
  await create(teamB, "thief-2");
  await refused(teamB, "thief-2", "PullSecretRequired");
  assert.equal((await ready(teamA, "web")).status?.ready, true);
});
