/**
 * Scheduling and dependsOn against the real API server, with a stand-in agent: fixed host
 * ports put replicas on different nodes and a replica too many says so in conditions;
 * a Definition waits for its dependencies, and a cycle or a missing dependency is reported
 * (conditions and Events) instead of looped on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { images, kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  testNodes,
  listInstances,
  runController,
  StandInAgent,
  waitForCondition,
} from "./controller-fixtures.js";

test("replicas with a fixed host port land on different nodes; one too many is Unschedulable", async (t) => {
  const namespace = await testNamespace(t);
  const { labels, nodes } = await testNodes(t, ["p", "q"]);
  await runController(t);
  new StandInAgent(namespace, new Set(nodes)).start(t);

  await applyDefinition(namespace, "gateway", {
    image: { name: images.echo, port: 8080 },
    hostPort: 18080,
    replicas: 3,
    placement: { nodeSelector: labels },
  });
  const degraded = await waitForCondition(namespace, "gateway", "Degraded", "True/Unschedulable");
  assert.match(
    degraded.status?.conditions?.find((c) => c.type === "Degraded")?.message ?? "",
    /already running an Instance on host port 18080/,
  );
  const instances = await waitFor("two bound, one pending", async () => {
    const all = await listInstances(namespace, "gateway");
    return all.filter((i) => i.spec.nodeName).length === 2 && all.length === 3 ? all : undefined;
  });
  const bound = instances.filter((i) => i.spec.nodeName).map((i) => i.spec.nodeName);
  assert.deepEqual([...bound].sort(), [...nodes].sort());
  const pending = instances.find((i) => !i.spec.nodeName);
  const scheduled = pending?.status?.conditions?.find((c) => c.type === "Scheduled");
  assert.equal(scheduled?.status, "False");
  assert.equal(scheduled?.reason, "Unschedulable");
  assert.equal(pending?.status?.phase, "Pending");
  const events = await kubectlOk(["get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"]);
  assert.match(events, /FailedScheduling/);

  // Back to what fits: the surplus (the Pending one) goes and the Definition is healthy.
  await applyDefinition(namespace, "gateway", {
    image: { name: images.echo, port: 8080 },
    hostPort: 18080,
    replicas: 2,
    placement: { nodeSelector: labels },
  });
  await waitForCondition(namespace, "gateway", "Degraded", "False/AsExpected");
  await waitForCondition(namespace, "gateway", "Ready", "True/InstancesReady");
  const after = await waitFor("the Pending Instance gone", async () => {
    const all = await listInstances(namespace, "gateway");
    return all.some((i) => i.metadata.name === pending?.metadata.name) ? undefined : all;
  });
  assert.deepEqual(
    after.map((i) => i.metadata.name),
    instances.filter((i) => i.spec.nodeName).map((i) => i.metadata.name),
    "the two bound Instances are the ones kept",
  );
  assert.ok(after.every((i) => i.metadata.deletionTimestamp === undefined));
});

test("dependsOn: wait for a ready dependency; cycles and missing ones are reported", async (t) => {
  const namespace = await testNamespace(t);
  const { labels, nodes } = await testNodes(t, ["d"]);
  await runController(t);
  const base = { image: { name: images.echo, port: 8080 }, placement: { nodeSelector: labels } };

  await applyDefinition(namespace, "web", { ...base, dependsOn: ["db"] });
  await waitForCondition(namespace, "web", "Degraded", "True/DependencyMissing");
  assert.equal((await listInstances(namespace, "web")).length, 0);

  // db exists but nothing runs it yet (no agent): web waits, starting nothing.
  await applyDefinition(namespace, "db", base);
  await waitForCondition(namespace, "web", "Progressing", "False/WaitingForDependencies");
  assert.equal((await listInstances(namespace, "web")).length, 0);

  new StandInAgent(namespace, new Set(nodes)).start(t);
  await waitForCondition(namespace, "db", "Ready", "True/InstancesReady");
  await waitForCondition(namespace, "web", "Ready", "True/InstancesReady");

  await applyDefinition(namespace, "a", { ...base, dependsOn: ["b"] });
  await applyDefinition(namespace, "b", { ...base, dependsOn: ["a"] });
  const cyclic = await waitForCondition(namespace, "a", "Degraded", "True/DependencyCycle");
  assert.match(cyclic.status?.conditions?.find((c) => c.type === "Degraded")?.message ?? "", /a -> b -> a/);
  assert.equal((await listInstances(namespace, "a")).length, 0);
  const events = await waitFor("a DependencyCycle event", async () => {
    const reasons = await kubectlOk(["get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"]);
    return reasons.includes("DependencyCycle") ? reasons : undefined;
  });
  assert.match(events, /DependencyMissing/);
});
