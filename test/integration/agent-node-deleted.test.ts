/**
 * A Node object deleted while its agent runs (by hand, or by a script cleaning up), with
 * the controller running beside it: the agent registers the Node again, under the same
 * name and agent identity, within a heartbeat, and its Instance is not disturbed: the same
 * object, the same container, no restart, still ready.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../../controller/src/api/types.js";
import { NODES } from "../../controller/src/kube/resources.js";
import { getOrUndefined } from "../../controller/src/kube/errors.js";
import { images, waitFor } from "../harness/index.js";
import {
  agentWorld,
  containersOf,
  createInstance,
  eventsOf,
  fastOptions,
  getInstance,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";
import { runController } from "./controller-fixtures.js";

test("a deleted Node is registered again by its running agent, and its Instance runs on undisturbed", async (t) => {
  const world = await agentWorld(t);
  await runController(t, { watchNamespace: world.namespace });
  const heartbeatMs = fastOptions(world).leaseRenewIntervalMs ?? 1000;
  await runAgent(world);
  await createInstance(world, "web", {
    image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" },
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
  });
  const before = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  const instanceBefore = await getInstance(world, "web");
  const nodeBefore: Node = await world.client.get(NODES, { name: world.nodeName });

  await world.client.delete(NODES, { name: world.nodeName });
  // Within a heartbeat, plus generous room for a loaded machine.
  const nodeAfter = await waitFor(
    "the agent to register its Node again",
    async () => {
      const node = await getOrUndefined(() => world.client.get(NODES, { name: world.nodeName }));
      return node && node.metadata.uid !== nodeBefore.metadata.uid && node.status?.ready === "True"
        ? node
        : undefined;
    },
    { timeoutMs: heartbeatMs + 15_000, intervalMs: 100 },
  );
  assert.equal(nodeAfter.spec.url, nodeBefore.spec.url);
  assert.equal(nodeAfter.spec.address, nodeBefore.spec.address);
  assert.deepEqual(nodeAfter.spec.labels, nodeBefore.spec.labels);
  assert.equal(nodeAfter.status?.agentId, nodeBefore.status?.agentId, "the same agent identity");

  // Give the controller time to act on the deletion (it reconciles Nodes at once), then a
  // few more beats: nothing may have touched the Instance or its container.
  await new Promise((resolve) => setTimeout(resolve, 3 * heartbeatMs + 2_000));
  const instanceAfter = await getInstance(world, "web");
  assert.equal(instanceAfter?.metadata.uid, instanceBefore?.metadata.uid, "the same Instance object");
  assert.equal(instanceAfter?.metadata.deletionTimestamp, undefined, "not evicted");
  assert.equal(instanceAfter?.status?.containerId, before.containerId, "the same container");
  assert.equal(instanceAfter?.status?.restarts, 0);
  assert.equal(instanceAfter?.status?.ready, true);
  const containers = await containersOf(world, "web");
  assert.deepEqual(
    containers.map((c) => [c.id, c.state]),
    [[before.containerId, "running"]],
  );
  const reasons = (await eventsOf(world, "web")).map((event) => event.reason);
  assert.ok(!reasons.includes("Evicted"), `events: ${reasons.join(", ")}`);
});
