/**
 * The registry's lookup against the real API server: a service's ready instances by slug,
 * ?include=all with reasons, the namespace's service list, a clear 404, and external
 * Instances merged in by slug while the Definition controller ignores them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Instance } from "../../controller/src/api/types.js";
import { INSTANCES } from "../../controller/src/kube/resources.js";
import { images, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  client,
  getDefinition,
  listInstances,
  runController,
  StandInAgent,
  testNodes,
  waitForCondition,
} from "./controller-fixtures.js";
import { registryRequestDuration, registryRequests } from "../../controller/src/registry/metrics.js";
import { call, runRegistry, type LookupBody } from "./registry-api-fixtures.js";

interface ServiceList {
  index: number;
  services: Array<{
    slug: string;
    ready: number;
    desired: number;
    deploymentId: string | null;
    source: string;
  }>;
}

test("lookup lists a service's ready instances by slug; include=all adds the others with a reason; 404 for an unknown slug", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  const { labels, nodes } = await testNodes(t, ["a", "b"]);
  await runController(t);
  new StandInAgent(namespace, new Set(nodes), (i) => i.spec.definition !== "slow").start(t);
  const registry = await runRegistry(t, { allowAnonymousLoopback: true });

  const spec = { image: { name: images.echo, port: 8080 }, replicas: 2, placement: { nodeSelector: labels } };
  await applyDefinition(namespace, "web", spec);
  await applyDefinition(namespace, "slow", { ...spec, replicas: 1 });
  const web = await waitForCondition(namespace, "web", "Ready", "True/InstancesReady");

  const lookup = await waitFor("lookup lists both instances of web", async () => {
    const answer = await call<LookupBody>(registry, "GET", `/v1/namespaces/${namespace}/services/web`);
    return answer.status === 200 && answer.body.instances.length === 2 ? answer : undefined;
  });
  assert.equal(lookup.body.slug, "web");
  assert.equal(lookup.body.namespace, namespace);
  assert.equal(lookup.headers.get("x-berth-index"), String(lookup.body.index));
  assert.ok(lookup.body.index > 0);
  const instances = await listInstances(namespace, "web");
  assert.deepEqual(
    lookup.body.instances.map((i) => i.name),
    instances.map((i) => i.metadata.name),
  );
  for (const entry of lookup.body.instances) {
    const instance = instances.find((i) => i.metadata.name === entry.name)!;
    assert.deepEqual(entry, {
      name: instance.metadata.name,
      url: instance.status?.address?.url,
      host: instance.status?.address?.host,
      port: instance.status?.address?.port,
      node: instance.spec.nodeName,
      deploymentId: web.status?.deploymentId,
      ready: true,
      external: false,
    });
  }

  const slow = await call<LookupBody>(registry, "GET", `/v1/namespaces/${namespace}/services/slow`);
  assert.equal(slow.status, 200, "a Definition without ready instances is found, with none listed");
  assert.deepEqual(slow.body.instances, []);
  const slowAll = await waitFor("the not-ready instance of slow with include=all", async () => {
    const answer = await call<LookupBody>(
      registry,
      "GET",
      `/v1/namespaces/${namespace}/services/slow?include=all`,
    );
    return answer.body.instances.length === 1 && answer.body.instances[0]?.node ? answer : undefined;
  });
  assert.equal(slowAll.body.instances[0]?.ready, false);
  assert.ok(slowAll.body.instances[0]?.reason, "a not-ready instance says why");

  const missing = await call<{ error: { message: string; field: string } }>(
    registry,
    "GET",
    `/v1/namespaces/${namespace}/services/nothing-here`,
  );
  assert.equal(missing.status, 404);
  assert.match(
    missing.body.error.message,
    /service "nothing-here" not found in namespace .*no Definition and no registered instance/,
  );

  const list = await call<ServiceList>(registry, "GET", `/v1/namespaces/${namespace}/services`);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.services, [
    {
      slug: "slow",
      ready: 0,
      desired: 1,
      deploymentId: (await getDefinition(namespace, "slow"))?.status?.deploymentId ?? null,
      source: "berth",
    },
    { slug: "web", ready: 2, desired: 2, deploymentId: web.status?.deploymentId ?? null, source: "berth" },
  ]);

  const badSlug = await call<{ error: { field: string } }>(
    registry,
    "GET",
    `/v1/namespaces/${namespace}/services/Not_A_Slug`,
  );
  assert.equal(badSlug.status, 400);
  assert.equal(badSlug.body.error.field, "slug");
  const badInclude = await call<{ error: { field: string } }>(
    registry,
    "GET",
    `/v1/namespaces/${namespace}/services/web?include=some`,
  );
  assert.equal(badInclude.status, 400);
  assert.equal(badInclude.body.error.field, "include");

  // Requests are counted by route and code, and timed.
  const requests = (await registryRequests.get()).values;
  const count = (route: string, code: string) =>
    requests.find((v) => v.labels.route === route && v.labels.code === code)?.value ?? 0;
  assert.ok(count("getService", "200") >= 3);
  assert.ok(count("getService", "404") >= 1);
  assert.ok(count("getService", "400") >= 2);
  assert.ok(count("listServices", "200") >= 1);
  const durations = (await registryRequestDuration.get()).values;
  assert.ok(
    durations.some((v) => v.labels.route === "getService" && v.metricName?.endsWith("_count") && v.value > 0),
  );
});

test("an external Instance with a Definition's slug is merged into lookup and ignored by the Definition controller", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  const { labels, nodes } = await testNodes(t, ["a"]);
  await runController(t);
  new StandInAgent(namespace, new Set(nodes)).start(t);
  const registry = await runRegistry(t, { allowAnonymousLoopback: true });
  const spec = { image: { name: images.echo, port: 8080 }, replicas: 1, placement: { nodeSelector: labels } };
  const definition = await applyDefinition(namespace, "db", spec);
  await waitForCondition(namespace, "db", "Ready", "True/InstancesReady");

  // Declared by hand, even with the Definition as its controlling owner: still not Berth's.
  const external: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      name: "db-on-a-vm",
      namespace,
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: "Definition",
          name: "db",
          uid: definition.metadata.uid ?? "",
          controller: true,
        },
      ],
    },
    spec: { definition: "db", external: { url: "http://192.0.2.10:5432" } },
  };
  await client().create(INSTANCES, external);

  // A scale up and back down makes the controller reconcile with the external Instance present.
  await applyDefinition(namespace, "db", { ...spec, replicas: 2 });
  await waitFor(
    "db scaled to 2",
    async () => (await getDefinition(namespace, "db"))?.status?.readyReplicas === 2,
  );
  await applyDefinition(namespace, "db", { ...spec, replicas: 1 });
  const settled = await waitFor("db back to 1 replica", async () => {
    const d = await getDefinition(namespace, "db");
    return d?.status?.replicas === 1 &&
      d.status.readyReplicas === 1 &&
      d.status.observedGeneration === d.metadata.generation
      ? d
      : undefined;
  });
  assert.equal(settled.status?.addresses?.length, 1, "the Definition's status counts only what Berth runs");
  const all = await listInstances(namespace);
  assert.ok(
    all.some((i) => i.metadata.name === "db-on-a-vm" && !i.metadata.deletionTimestamp),
    "not deleted",
  );
  assert.equal(all.filter((i) => !i.spec.external && !i.metadata.deletionTimestamp).length, 1);
  const kept = all.find((i) => i.metadata.name === "db-on-a-vm");
  assert.equal(kept?.spec.nodeName, undefined, "never scheduled");

  const merged = await waitFor("lookup merges both", async () => {
    const answer = await call<LookupBody>(registry, "GET", `/v1/namespaces/${namespace}/services/db`);
    return answer.body.instances?.length === 2 ? answer : undefined;
  });
  const vm = merged.body.instances.find((i) => i.external);
  assert.deepEqual(vm, {
    name: "db-on-a-vm",
    url: "http://192.0.2.10:5432",
    host: "192.0.2.10",
    port: 5432,
    node: null,
    deploymentId: null,
    ready: true,
    external: true,
  });
  const list = await call<ServiceList>(registry, "GET", `/v1/namespaces/${namespace}/services`);
  assert.deepEqual(
    list.body.services.map((s) => [s.slug, s.source, s.ready, s.desired]),
    [["db", "both", 2, 2]],
  );
  // The registry writes the declared endpoint's status for kubectl.
  await waitFor("the external Instance's status says ready", async () => {
    const found = await client().get(INSTANCES, { namespace, name: "db-on-a-vm" });
    return found.status?.ready === true && found.status.address?.port === 5432;
  });
});
