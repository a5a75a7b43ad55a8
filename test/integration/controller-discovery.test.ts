/**
 * The discovery mirror against the real API server (and kube-controller-manager's garbage
 * collector), with the stand-in agent: through scaling and a rolling update the
 * EndpointSlices list exactly the Instances there are, with the readiness they have;
 * deleting the Definition leaves no Service or slice; a Service Berth did not make is
 * never touched, and the Definition says why.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { INSTANCE_FINALIZER } from "../../controller/src/api/vocabulary.js";
import {
  DEFINITIONS,
  ENDPOINT_SLICES,
  EVENTS,
  INSTANCES,
  SERVICES,
  type Service,
} from "../../controller/src/kube/resources.js";
import { images, kubectl, kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  client,
  listInstances,
  runController,
  StandInAgent,
  testNodes,
  waitForCondition,
} from "./controller-fixtures.js";
import { mirrorOf, waitForMirror, waitForNoMirror } from "./discovery-fixtures.js";

const HOLD = "test.berth.dev/hold";

test("scaling 1→3→1 and a rolling update keep the slices equal to the Instances; deletion leaves nothing", async (t) => {
  const namespace = await testNamespace(t, "berth-disc");
  const { labels, nodes } = await testNodes(t, ["a", "b", "c"]);
  await runController(t, { watchNamespace: namespace });
  new StandInAgent(namespace, new Set(nodes)).start(t);
  const spec = { image: { name: images.echo, port: 8080 }, replicas: 1, placement: { nodeSelector: labels } };

  await applyDefinition(namespace, "web", spec);
  const one = await waitForMirror(namespace, "web", (e) => e.size === 1);
  assert.equal(one.service?.spec?.clusterIP, "None");
  assert.equal(one.service?.spec?.selector, undefined);
  const definition = await waitForCondition(namespace, "web", "Published", "True/Published");
  assert.deepEqual(
    one.service?.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
    [["Definition", "web", definition.metadata.uid]],
  );
  for (const slice of one.slices) {
    assert.equal(slice.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"], "discovery.berth.dev");
    assert.equal(slice.metadata?.ownerReferences?.[0]?.uid, one.service?.metadata?.uid);
  }
  const [instance] = await listInstances(namespace, "web");
  const [endpoint] = one.slices.flatMap((s) => s.endpoints);
  assert.equal(endpoint?.nodeName, instance?.spec.nodeName);
  assert.deepEqual(endpoint?.addresses, [instance?.status?.address?.host]);
  assert.equal(one.slices[0]?.ports?.[0]?.port, instance?.status?.address?.port);
  assert.equal(one.slices[0]?.addressType, "FQDN", "the test Nodes' addresses are host names");

  await applyDefinition(namespace, "web", { ...spec, replicas: 3 });
  const three = await waitForMirror(namespace, "web", (e) => e.size === 3);
  assert.ok(
    [...three.endpoints.values()].every((f) => f.startsWith("ready=true")),
    "every Instance is ready",
  );

  await applyDefinition(namespace, "web", { ...spec, replicas: 1 });
  await waitForMirror(namespace, "web", (e) => e.size === 1);

  // A rolling update whose old Instance is held while it terminates: it stays listed as
  // serving and terminating, not ready, until it is gone.
  const [old] = await listInstances(namespace, "web");
  assert.ok(old);
  await client().mergePatch(
    INSTANCES,
    { namespace, name: old.metadata.name ?? "" },
    { metadata: { finalizers: [INSTANCE_FINALIZER, HOLD], resourceVersion: old.metadata.resourceVersion } },
  );
  await applyDefinition(namespace, "web", { ...spec, args: ["--version", "2"] });
  const rolling = await waitForMirror(
    namespace,
    "web",
    (e) => e.size === 2 && e.get(old.metadata.name ?? "")?.includes("terminating=true") === true,
  );
  assert.equal(rolling.endpoints.get(old.metadata.name ?? ""), "ready=false serving=true terminating=true");
  await client().mergePatch(
    INSTANCES,
    { namespace, name: old.metadata.name ?? "" },
    { metadata: { finalizers: null } },
  );
  const rolled = await waitForMirror(
    namespace,
    "web",
    (e) => e.size === 1 && !e.has(old.metadata.name ?? ""),
  );
  assert.equal([...rolled.endpoints.values()][0], "ready=true serving=true terminating=false");

  await kubectlOk(["-n", namespace, "delete", "definition", "web", "--timeout=60s"], { timeoutMs: 90_000 });
  await waitForNoMirror(namespace, "web");
});

test("a Service Berth did not create is never modified or deleted, and the Definition says why", async (t) => {
  const namespace = await testNamespace(t, "berth-disc");
  const { labels, nodes } = await testNodes(t, ["a"]);
  const kube = client();
  const foreign: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace, name: "taken", labels: { app: "someone-else" } },
    spec: { selector: { app: "someone-else" }, ports: [{ name: "http", port: 80, protocol: "TCP" }] },
  };
  const created = await kube.create(SERVICES, foreign);
  await runController(t, { watchNamespace: namespace });
  new StandInAgent(namespace, new Set(nodes)).start(t);

  await applyDefinition(namespace, "taken", {
    image: { name: images.echo, port: 8080 },
    replicas: 2,
    placement: { nodeSelector: labels },
  });
  const definition = await waitForCondition(namespace, "taken", "Published", "False/ServiceNameTaken");
  const published = definition.status?.conditions?.find((c) => c.type === "Published");
  assert.match(published?.message ?? "", /Service .*\/taken exists and Berth did not create it/);
  await waitForCondition(namespace, "taken", "Ready", "True/InstancesReady");
  const event = await waitFor("a ServiceNameTaken Event on the Definition", async () => {
    const { items } = await kube.list(EVENTS, { namespace });
    return items.find((e) => e.reason === "ServiceNameTaken" && e.regarding?.name === "taken");
  });
  assert.equal(event.type, "Warning");

  // Readiness changes and resyncs while the clash lasts change nothing of the Service.
  await applyDefinition(namespace, "taken", {
    image: { name: images.echo, port: 8080 },
    replicas: 1,
    placement: { nodeSelector: labels },
  });
  await waitFor("one Instance left", async () => (await listInstances(namespace, "taken")).length === 1);
  const after = await kube.get(SERVICES, { namespace, name: "taken" });
  assert.equal(
    after.metadata?.resourceVersion,
    created.metadata?.resourceVersion,
    "the Service is untouched",
  );
  assert.deepEqual((await mirrorOf(namespace, "taken")).slices, [], "no slice claims the Service");

  await kubectlOk(["-n", namespace, "delete", "definition", "taken", "--timeout=60s"], { timeoutMs: 90_000 });
  const left = await kube.get(SERVICES, { namespace, name: "taken" });
  assert.equal(left.metadata?.uid, created.metadata?.uid, "the Service is still there");
  assert.equal(left.metadata?.resourceVersion, created.metadata?.resourceVersion);
  const { items: slices } = await kube.list(ENDPOINT_SLICES, { namespace });
  assert.deepEqual(
    slices.filter(
      (s) => s.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"] === "discovery.berth.dev",
    ),
    [],
  );
  assert.equal(await kube.get(DEFINITIONS, { namespace, name: "taken" }).catch(() => undefined), undefined);
});

test("deleting the namespace of a published service completes, and the mirror makes nothing anew there", async (t) => {
  const namespace = `berth-disc-ns-${Math.random().toString(16).slice(2, 10)}`;
  await kubectlOk(["create", "namespace", namespace]);
  t.after(() => kubectlOk(["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"]));
  const { labels, nodes } = await testNodes(t, ["a"]);
  await runController(t, { watchNamespace: namespace });
  new StandInAgent(namespace, new Set(nodes)).start(t);
  await applyDefinition(namespace, "web", {
    image: { name: images.echo, port: 8080 },
    replicas: 2,
    placement: { nodeSelector: labels },
  });
  await waitForMirror(namespace, "web", (e) => e.size === 2);

  await kubectlOk(["delete", "namespace", namespace, "--wait=false"]);
  await waitFor(
    `namespace ${namespace} to be gone`,
    async () => {
      const answer = await kubectl(["get", "namespace", namespace, "-o", "name"]);
      return answer.code !== 0 && /NotFound/.test(answer.stderr);
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  const { items } = await client().list(SERVICES, { namespace });
  assert.deepEqual(items, []);
});
