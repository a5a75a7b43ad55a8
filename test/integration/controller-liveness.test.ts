/**
 * Node liveness against the real API server, with short timings: a node that stops
 * heartbeating becomes Ready=Unknown, and after the eviction timeout its Instances are
 * replaced on the node that still heartbeats; the lost node's Instances are removed
 * (finalizer dropped by the controller, since no agent is there to do it).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NODES } from "../../controller/src/kube/resources.js";
import { images, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  client,
  testNodes,
  listInstances,
  runController,
  StandInAgent,
  waitForCondition,
} from "./controller-fixtures.js";

test("a node that stops heartbeating goes Unknown, then its Instances move", async (t) => {
  const namespace = await testNamespace(t);
  const { labels, nodes, stopBeating } = await testNodes(t, ["live", "lost"]);
  const [live, lost] = nodes as [string, string];
  await runController(t, { nodeGracePeriodMs: 3000, nodeEvictionTimeoutMs: 3000 });
  const agent = new StandInAgent(namespace, new Set([live, lost])).start(t);

  await applyDefinition(namespace, "svc", {
    image: { name: images.echo, port: 8080 },
    replicas: 2,
    placement: { nodeSelector: labels },
  });
  await waitForCondition(namespace, "svc", "Ready", "True/InstancesReady");
  const before = await listInstances(namespace, "svc");
  const onLost = before.find((i) => i.spec.nodeName === lost);
  assert.ok(onLost, "spread put one replica on each node");
  // The lost machine goes silent: no heartbeat, and nobody plays its agent.
  stopBeating(lost);
  agent.forget(lost);

  await waitFor(
    "lost node Ready=Unknown",
    async () => {
      const node = await client().get(NODES, { name: lost });
      const ready = node.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "Unknown" && ready.reason === "NodeStatusUnknown";
    },
    { timeoutMs: 20_000 },
  );
  const liveNode = await client().get(NODES, { name: live });
  assert.equal(liveNode.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");

  const moved = await waitFor(
    "replacement on the live node, lost Instance gone",
    async () => {
      const now = await listInstances(namespace, "svc");
      const gone = !now.some((i) => i.metadata.name === onLost.metadata.name);
      return gone && now.length === 2 && now.every((i) => i.spec.nodeName === live) ? now : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(moved.length, 2);
  await waitForCondition(namespace, "svc", "Ready", "True/InstancesReady");
});
