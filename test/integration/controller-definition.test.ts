/**
 * The Definition controller against the real API server, with a stand-in agent: Instances
 * with deterministic names and owner references, status aggregation, scaling, a rolling
 * update that keeps old Instances until new ones are ready, and deletion through the
 * finalizer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFINITION_FINALIZER, INSTANCE_FINALIZER } from "../../controller/src/api/vocabulary.js";
import { DEFINITIONS } from "../../controller/src/kube/resources.js";
import { images, kubectl, kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  client,
  testNodes,
  getDefinition,
  listInstances,
  runController,
  StandInAgent,
  waitForCondition,
} from "./controller-fixtures.js";

test("a Definition gets its Instances, spread over the nodes, and a ready status", async (t) => {
  const namespace = await testNamespace(t);
  const { labels, nodes } = await testNodes(t, ["a", "b"]);
  await runController(t);
  new StandInAgent(namespace, new Set(nodes)).start(t);

  const spec = { image: { name: images.echo, port: 8080 }, replicas: 2, placement: { nodeSelector: labels } };
  await applyDefinition(namespace, "web", spec);
  const ready = await waitForCondition(namespace, "web", "Ready", "True/InstancesReady");

  const instances = await listInstances(namespace, "web");
  assert.equal(instances.length, 2);
  const id = ready.status?.deploymentId ?? "";
  assert.deepEqual(
    instances.map((i) => i.metadata.name),
    [`web-${id.slice(0, 10)}-0`, `web-${id.slice(0, 10)}-1`],
  );
  for (const instance of instances) {
    assert.equal(instance.metadata.ownerReferences?.[0]?.uid, ready.metadata.uid);
    assert.equal(instance.metadata.ownerReferences?.[0]?.controller, true);
    assert.deepEqual(instance.metadata.finalizers, [INSTANCE_FINALIZER]);
    assert.equal(instance.metadata.labels?.["berth.dev/node"], instance.spec.nodeName);
  }
  assert.deepEqual(instances.map((i) => i.spec.nodeName).sort(), [...nodes].sort(), "one replica per node");
  assert.deepEqual(ready.metadata.finalizers, [DEFINITION_FINALIZER]);
  assert.equal(ready.status?.readyReplicas, 2);
  assert.equal(ready.status?.readySummary, "2/2");
  assert.equal(ready.status?.observedGeneration, ready.metadata.generation);
  assert.deepEqual(ready.status?.addresses, [...(ready.status?.addresses ?? [])].sort());
  assert.equal(ready.status?.addresses?.length, 2);

  // Scale down: one Instance goes, and status follows.
  await applyDefinition(namespace, "web", { ...spec, replicas: 1 });
  await waitFor("one Instance left", async () => (await listInstances(namespace, "web")).length === 1);
  const scaled = await waitFor("status with 1 replica", async () => {
    const d = await getDefinition(namespace, "web");
    return d?.status?.replicas === 1 && d.status.observedGeneration === d.metadata.generation ? d : undefined;
  });
  assert.equal(scaled.status?.readySummary, "1/1");
  // What `kubectl describe definition web` shows: the Instances it created and removed.
  const reasons = await waitFor("the scaling Events", async () => {
    const events = await kubectlOk([
      "-n",
      namespace,
      "get",
      "events.events.k8s.io",
      "--field-selector",
      "regarding.name=web,regarding.kind=Definition",
      "-o",
      "jsonpath={.items[*].reason}",
    ]);
    const seen = new Set(events.split(" "));
    return seen.has("InstancesCreated") && seen.has("InstancesDeleted") ? seen : undefined;
  });
  assert.ok(reasons.has("InstancesCreated"));

  // Deleting the Definition removes every Instance first.
  await client().delete(DEFINITIONS, { namespace, name: "web" });
  await waitFor("Definition gone", async () => (await getDefinition(namespace, "web")) === undefined);
  assert.equal((await listInstances(namespace, "web")).length, 0);
});

test("a rolling update keeps old Instances until new ones are ready, and a stalled one says so", async (t) => {
  const namespace = await testNamespace(t);
  const { labels, nodes } = await testNodes(t, ["r"]);
  await runController(t);
  // The stand-in agent never reports Instances with env BROKEN ready.
  new StandInAgent(
    namespace,
    new Set(nodes),
    (i) => !(i.spec.template?.env ?? []).some((e) => e.name === "BROKEN"),
  ).start(t);

  const spec = {
    image: { name: images.echo, port: 8080 },
    replicas: 2,
    placement: { nodeSelector: labels },
    rollout: { progressDeadlineSeconds: 3 },
  };
  const first = await applyDefinition(namespace, "api", spec);
  const v1 = await waitForCondition(namespace, "api", "Ready", "True/InstancesReady");
  const oldId = v1.status?.deploymentId;
  assert.ok(first.metadata.uid);

  await applyDefinition(namespace, "api", { ...spec, env: [{ name: "BROKEN", value: "1" }] });
  const stalled = await waitForCondition(namespace, "api", "Progressing", "False/ProgressDeadlineExceeded");
  assert.notEqual(stalled.status?.deploymentId, oldId);
  const instances = await listInstances(namespace, "api");
  const old = instances.filter((i) => i.spec.deploymentId === oldId && !i.metadata.deletionTimestamp);
  const fresh = instances.filter((i) => i.spec.deploymentId !== oldId);
  assert.equal(old.length, 2, "old Instances keep serving");
  assert.equal(fresh.length, 1, "maxSurge 1: one new Instance at a time");
  assert.equal(stalled.status?.readyReplicas, 2);
  assert.equal(stalled.status?.addresses?.length, 2);
  assert.match(
    stalled.status?.conditions?.find((c) => c.type === "Degraded")?.message ?? "",
    /old Instances keep serving/,
  );

  // A fixed spec rolls through: new ones become ready, old ones go.
  await applyDefinition(namespace, "api", { ...spec, env: [{ name: "FIXED", value: "1" }] });
  const done = await waitForCondition(namespace, "api", "Progressing", "True/RolloutComplete");
  const after = (await listInstances(namespace, "api")).filter((i) => !i.metadata.deletionTimestamp);
  assert.equal(after.length, 2);
  assert.ok(after.every((i) => i.spec.deploymentId === done.status?.deploymentId));
  assert.equal(done.status?.updatedReplicas, 2);
});

test("deleting the namespace removes Definitions and Instances through the finalizers", async (t) => {
  const namespace = await testNamespace(t);
  const { labels, nodes } = await testNodes(t, ["n"]);
  await runController(t);
  new StandInAgent(namespace, new Set(nodes)).start(t);

  await applyDefinition(namespace, "doomed", {
    image: { name: images.echo, port: 8080 },
    replicas: 2,
    placement: { nodeSelector: labels },
  });
  await waitForCondition(namespace, "doomed", "Ready", "True/InstancesReady");
  await kubectlOk(["delete", "namespace", namespace, "--wait=false"]);
  await waitFor("namespace gone", async () => (await kubectl(["get", "namespace", namespace])).code !== 0, {
    timeoutMs: 60_000,
  });
});
