/**
 * End to end: faults with real agents on three extra Docker engines (engine N publishes on
 * 127.0.0.N). Two agents run in this process; the third is a `berth agent` child process, so
 * the test can SIGKILL it: stopping an in-process agent would release its Lease and mark its
 * Node not ready (a graceful stop), and merely dropping it would leave its heartbeat running.
 *
 * - node loss: after the short grace and eviction timeouts the lost node's Instance is
 *   replaced on the others and the addresses move; the agent, back, removes its orphan;
 * - the controller (a `berth controller` child process) SIGKILLed mid-rollout and started
 *   again converges: the right Instances of the new deployment, no duplicate ordinals, no
 *   orphan containers;
 * - deleting a Definition leaves no container of it on any engine.
 *
 * Uses three extra engines, numbered by the harness.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import assert from "node:assert/strict";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { type DefinitionSpec, type Instance } from "../../controller/src/api/types.js";
import { instanceName } from "../../controller/src/controllers/definition/instances.js";
import { images, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  condition,
  getDefinition,
  listInstances,
} from "../integration/controller-fixtures.js";
import {
  containersOn,
  definitionContainers,
  deleteDefinitionAndWait,
  saying,
  liveInstances,
  runAgentInProcess,
  runControllerInProcess,
  startAgentProcess,
  startControllerProcess,
  startEngines,
  waitForAnsweringAddresses,
  type World,
} from "./rollout-fixtures.js";

function echoSpec(world: World, message: string, extra: Partial<DefinitionSpec> = {}): DefinitionSpec {
  return {
    image: { name: images.echo, port: 8080 },
    replicas: 3,
    env: [{ name: "MESSAGE", value: message }],
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
    placement: { nodeSelector: world.labels },
    ...extra,
  };
}

test("node loss and a controller crash with real agents on three engines", async (t) => {
  const namespace = await testNamespace(t, "berth-failover");
  const world = await startEngines(t, namespace, 3);
  const [nodeA, nodeB, nodeC] = world.nodes;
  assert.ok(nodeA && nodeB && nodeC);
  await runAgentInProcess(world, nodeA);
  await runAgentInProcess(world, nodeB);
  let agentC = await startAgentProcess(t, world, nodeC);

  await t.test(
    "a killed agent's Instances move to the other nodes; back, it removes its orphan",
    async () => {
      const controller = await runControllerInProcess(world);
      await applyDefinition(namespace, "survivor", echoSpec(world, "up"));
      const before = await waitForAnsweringAddresses(namespace, "survivor", 3, { body: saying("up") });
      // Spread: one replica per node, so the killed node surely held one.
      const hosts = (before.status?.addresses ?? []).map((a) => new URL(a).hostname).sort();
      assert.deepEqual(hosts, world.nodes.map((n) => n.address).sort());
      const [lost] = (await liveInstances(namespace, "survivor")).filter(
        (i) => i.spec.nodeName === nodeC.nodeName,
      );
      assert.ok(lost, "an Instance on the node about to be lost");

      await agentC.kill();
      const killedAt = Date.now();
      const after = await waitForAnsweringAddresses(namespace, "survivor", 3, {
        body: saying("up"),
        address: (url) => new URL(url).hostname !== nodeC.address,
      });
      t.diagnostic(`replaced and answering ${Date.now() - killedAt} ms after the kill`);
      const movedTo = (after.status?.addresses ?? []).map((a) => new URL(a).hostname);
      assert.ok(movedTo.every((host) => host === nodeA.address || host === nodeB.address));
      const instances = await liveInstances(namespace, "survivor");
      assert.equal(instances.length, 3);
      assert.ok(instances.every((i) => i.spec.nodeName !== nodeC.nodeName));
      const evicted = (await listInstances(namespace)).find((i) => i.metadata.uid === lost.metadata.uid);
      assert.equal(evicted, undefined, "the lost node's Instance was evicted");
      // Nobody could remove the container on the lost node: its engine still runs it.
      assert.equal((await containersOn(nodeC, namespace, "survivor")).length, 1);

      agentC = await startAgentProcess(t, world, nodeC);
      await waitFor("the returned agent removes its orphan container", async () => {
        return (await containersOn(nodeC, namespace, "survivor")).length === 0;
      });
      assert.equal((await liveInstances(namespace, "survivor")).length, 3, "nothing else moved");
      await waitForAnsweringAddresses(namespace, "survivor", 3, { body: saying("up") });

      assert.deepEqual(
        await deleteDefinitionAndWait(world, "survivor"),
        [],
        "no container of survivor is left",
      );
      await controller.stop();
    },
  );

  await t.test("a controller SIGKILLed mid-rollout converges once started again", async () => {
    let controller = startControllerProcess(t, world);
    await applyDefinition(namespace, "phoenix", echoSpec(world, "v1"));
    await waitForAnsweringAddresses(namespace, "phoenix", 3, { body: saying("v1") });
    const oldId = (await getDefinition(namespace, "phoenix"))?.status?.deploymentId;

    // Two passing checks a second apart: each new Instance takes a while to get ready,
    // which leaves a window to kill the controller in.
    const slowHealth = { type: "http", path: "/healthz", intervalSeconds: 1, successThreshold: 2 } as const;
    const updated = await applyDefinition(
      namespace,
      "phoenix",
      echoSpec(world, "v2", { healthCheck: slowHealth }),
    );
    const midway = await waitFor(
      "the rollout under way: new and old Instances side by side",
      async () => {
        const instances = await liveInstances(namespace, "phoenix");
        const fresh = instances.filter((i) => i.spec.deploymentId !== oldId);
        return fresh.length > 0 && fresh.length < instances.length ? instances : undefined;
      },
      { intervalMs: 50 },
    );
    await controller.kill();
    t.diagnostic(
      `killed with ${midway.filter((i) => i.spec.deploymentId !== oldId).length} new of ${midway.length} Instances`,
    );
    controller = startControllerProcess(t, world);

    const done = await waitFor(
      "rollout complete after the restart",
      async () => {
        const definition = await getDefinition(namespace, "phoenix");
        return definition?.status?.observedGeneration === updated.metadata.generation &&
          condition(definition, "Progressing") === "True/RolloutComplete"
          ? definition
          : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\ncontroller output:\n${controller.output()}`);
    });
    const newId = done.status?.deploymentId ?? "";
    assert.notEqual(newId, oldId);
    await waitForAnsweringAddresses(namespace, "phoenix", 3, { body: saying("v2") });

    const settled = async (): Promise<Instance[] | undefined> => {
      const all = await listInstances(namespace, "phoenix");
      const containers = await definitionContainers(world, "phoenix");
      return all.length === 3 && containers.length === 3 ? all : undefined;
    };
    const instances = await waitFor("old Instances and their containers gone", settled);
    const expectedNames = [0, 1, 2].map((ordinal) => instanceName("phoenix", newId, ordinal)).sort();
    assert.deepEqual(
      instances.map((i) => i.metadata.name).sort(),
      expectedNames,
      "ordinals 0..2 of the new deployment, once each",
    );
    assert.ok(instances.every((i) => i.spec.deploymentId === newId && !i.metadata.deletionTimestamp));

    // Every container belongs to one of those Instances, on the engine of its node.
    const containers = await definitionContainers(world, "phoenix");
    const byName = new Map(instances.map((i) => [i.metadata.name ?? "", i]));
    assert.equal(new Set(containers.map((c) => c.labels[LABELS.instance])).size, 3, "one container each");
    for (const container of containers) {
      const owner = byName.get(container.labels[LABELS.instance] ?? "");
      assert.ok(owner, `container of an unknown Instance: ${JSON.stringify(container.labels)}`);
      assert.equal(owner.spec.nodeName, container.node, "container on its Instance's node");
      assert.equal(container.labels[LABELS.deploymentId], newId);
    }
    // Nothing more comes later (a replayed create would show up as a fourth Instance).
    await sleep(2000);
    assert.ok(await settled(), "still three Instances and three containers");

    assert.deepEqual(await deleteDefinitionAndWait(world, "phoenix"), [], "no container of phoenix is left");
    await controller.kill();
  });

  // Whatever a test above did, the engines hold nothing of this namespace now.
  for (const node of world.nodes) {
    assert.deepEqual(await containersOn(node, namespace), [], `engine ${node.engine} is clean`);
  }
});
