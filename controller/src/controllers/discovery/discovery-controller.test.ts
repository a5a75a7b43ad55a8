import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Condition, type Definition } from "../../api/types.js";
import { DEFINITIONS, ENDPOINT_SLICES, INSTANCES, SERVICES, type Service } from "../../kube/resources.js";
import { getCondition } from "../../runtime/conditions.js";
import { PUBLISHED_CONDITION } from "./discovery-controller.js";
import { newDiscoveryController } from "./discovery-watches.js";
import { DEFINITION_STATUS_MANAGER } from "../definition/status-write.js";
import { NS, applyDefinition, eventReasons, markRunning } from "../../testing/reconciler-fixtures.js";
import {
  KEY,
  listed,
  mirrorWorld,
  runningInstance,
  slices,
  writes,
} from "../../testing/discovery-fixtures.js";

test("a Definition's Instances are published in a headless Service and a slice, and a resync writes nothing", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  await runningInstance(world, "web-abc-1", 8080, false);
  await reconcile();

  const service = world.server.peek(SERVICES, { namespace: NS, name: "web" });
  assert.equal(service?.spec?.clusterIP, "None");
  assert.equal(service?.metadata?.ownerReferences?.[0]?.kind, "Definition");
  assert.deepEqual(listed(world), [
    ["web-abc-0", true],
    ["web-abc-1", false],
  ]);
  assert.equal(slices(world)[0]?.metadata?.ownerReferences?.[0]?.uid, service?.metadata?.uid);
  const definition = world.server.peek(DEFINITIONS, { namespace: NS, name: "web" });
  assert.equal(getCondition(definition?.status?.conditions, PUBLISHED_CONDITION)?.status, "True");

  world.server.calls.length = 0;
  await reconcile();
  await reconcile();
  assert.deepEqual(writes(world), []);
});

test("a readiness change rewrites the one slice; a deleted Instance leaves it", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  await runningInstance(world, "web-abc-1", 8080);
  await reconcile();

  await markRunning(world, "web-abc-1", false);
  world.server.calls.length = 0;
  await reconcile();
  assert.deepEqual(writes(world), ["replace endpointslices"]);
  assert.deepEqual(listed(world), [
    ["web-abc-0", true],
    ["web-abc-1", false],
  ]);

  await world.server.delete(INSTANCES, { namespace: NS, name: "web-abc-1" });
  await world.settle();
  await reconcile();
  assert.deepEqual(listed(world), [["web-abc-0", true]]);
});

test("a Service Berth did not make is never touched, and the Definition and an Event say why", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  const foreign: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: NS, name: "web", labels: { app: "web" } },
    spec: { clusterIP: "10.96.0.10", selector: { app: "web" }, ports: [{ port: 80 }] },
  };
  await world.server.create(SERVICES, foreign);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 } });
  await runningInstance(world, "web-abc-0", 31000);
  await world.settle();
  world.server.calls.length = 0;
  await reconcile();
  await reconcile();

  assert.ok(
    !writes(world).some((w) => w.includes("services")),
    `no write to the Service: ${writes(world).join(", ")}`,
  );
  assert.deepEqual(slices(world), []);
  const condition = getCondition(
    world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.status?.conditions,
    PUBLISHED_CONDITION,
  );
  assert.equal(`${condition?.status}/${condition?.reason}`, "False/ServiceNameTaken");
  assert.match(condition?.message ?? "", /Berth did not create it/);
  assert.deepEqual(eventReasons(world, KEY), ["ServiceNameTaken"], "one Event, not one per pass");

  // Once the foreign Service goes, the Definition is published.
  await world.server.delete(SERVICES, { namespace: NS, name: "web" });
  await world.settle();
  await reconcile();
  assert.deepEqual(listed(world), [["web-abc-0", true]]);
});

test("external Instances without a Definition are published too, and everything goes with them", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await world.server.create(INSTANCES, {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { namespace: NS, name: "web-ext-1" },
    spec: { definition: "web", external: { url: "http://10.1.2.3:8080" } },
  });
  await world.settle();
  await reconcile();
  const service = world.server.peek(SERVICES, { namespace: NS, name: "web" });
  assert.ok(service);
  assert.deepEqual(service.metadata?.ownerReferences ?? [], []);
  assert.deepEqual(listed(world), [["web-ext-1", true]]);
  assert.equal(slices(world)[0]?.endpoints[0]?.nodeName, undefined);

  await world.server.delete(INSTANCES, { namespace: NS, name: "web-ext-1" });
  await world.settle();
  await reconcile();
  assert.equal(world.server.peek(SERVICES, { namespace: NS, name: "web" }), undefined);
  assert.deepEqual(slices(world), []);
});

test("a Definition that is deleted while external Instances remain lets go of the Service", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 } });
  await world.server.mergePatch(
    DEFINITIONS,
    { namespace: NS, name: "web" },
    { metadata: { finalizers: ["test/hold"] } },
  );
  await world.server.create(INSTANCES, {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { namespace: NS, name: "web-ext-1" },
    spec: { definition: "web", external: { url: "http://10.1.2.3:8080" } },
  });
  await world.settle();
  await reconcile();
  assert.equal(
    world.server.peek(SERVICES, { namespace: NS, name: "web" })?.metadata?.ownerReferences?.length,
    1,
  );

  await world.server.delete(DEFINITIONS, { namespace: NS, name: "web" });
  await world.settle();
  await reconcile();
  assert.deepEqual(
    world.server.peek(SERVICES, { namespace: NS, name: "web" })?.metadata?.ownerReferences ?? [],
    [],
  );
  assert.deepEqual(listed(world), [["web-ext-1", true]]);
});

test("a slug that cannot name a Service is reported, and nothing is written but the condition", async (t) => {
  const { world, reconciler } = await mirrorWorld(t);
  await applyDefinition(world, "web.v2", { image: { name: "web", port: 80 } });
  world.server.calls.length = 0;
  await world.reconcile(reconciler, `${NS}/web.v2`);
  assert.deepEqual(writes(world), ["applyStatus definitions"]);
  const condition = getCondition(
    world.server.peek(DEFINITIONS, { namespace: NS, name: "web.v2" })?.status?.conditions,
    PUBLISHED_CONDITION,
  );
  assert.equal(condition?.reason, "InvalidServiceName");
});

test("while the cache does not show its last slice write, the mirror waits instead of writing from stale slices", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  await runningInstance(world, "web-abc-1", 8080);
  await reconcile();

  world.server.holdWatchEvents(ENDPOINT_SLICES);
  await markRunning(world, "web-abc-1", false);
  world.server.calls.length = 0;
  await reconcile();
  assert.deepEqual(writes(world), ["replace endpointslices"]);
  await markRunning(world, "web-abc-0", false);
  world.server.calls.length = 0;
  const result = await reconcile();
  assert.deepEqual(writes(world), [], "no write from a slice the cache holds at its old version");
  assert.deepEqual(result, { requeue: true });

  world.server.releaseWatchEvents();
  await world.settle();
  await reconcile();
  assert.deepEqual(writes(world), ["replace endpointslices"]);
  assert.deepEqual(listed(world), [
    ["web-abc-0", false],
    ["web-abc-1", false],
  ]);
});

test("a slice deleted by someone else since the cache saw it is retried quietly, then made anew", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  await reconcile();
  const [slice] = slices(world);
  assert.ok(slice);

  world.server.holdWatchEvents(ENDPOINT_SLICES);
  await world.server.delete(ENDPOINT_SLICES, { namespace: NS, name: slice.metadata?.name ?? "" });
  await markRunning(world, "web-abc-0", false);
  assert.deepEqual(await reconcile(), { requeue: true });

  world.server.releaseWatchEvents();
  await world.settle();
  await reconcile();
  assert.deepEqual(listed(world), [["web-abc-0", false]]);
});

test("the Definition controller's status writes wake no discovery pass; the Published condition and labels do", async (t) => {
  const { world, mirror } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 } });
  const controller = newDiscoveryController(world.context, mirror);
  const enqueued = new Set<string>();
  controller.enqueue = (key: string) => void enqueued.add(key);
  const web = { namespace: NS, name: "web" };
  const applyStatus = async (status: Definition["status"], fieldManager: string): Promise<void> => {
    await world.server.applyStatus(
      DEFINITIONS,
      {
        apiVersion: API_VERSION,
        kind: "Definition",
        metadata: web,
        spec: { image: { name: "web", port: 80 } },
        status,
      },
      { fieldManager },
    );
    await world.settle();
  };
  const condition = (type: string, status: "True" | "False"): Condition => ({
    type,
    status,
    reason: "Test",
    message: "",
    lastTransitionTime: "2026-03-01T12:00:00Z",
  });
  await applyStatus(
    { readyReplicas: 1, addresses: ["http://10.0.0.1:80"], conditions: [condition("Ready", "True")] },
    DEFINITION_STATUS_MANAGER,
  );
  assert.deepEqual([...enqueued], [], "the Definition controller's fields and conditions");
  await applyStatus({ conditions: [condition(PUBLISHED_CONDITION, "False")] }, "someone");
  assert.deepEqual([...enqueued], [KEY], "the Published condition");
  enqueued.clear();
  await world.server.mergePatch(DEFINITIONS, web, { metadata: { labels: { team: "a" } } });
  await world.settle();
  assert.deepEqual([...enqueued], [KEY], "a label");
});

test("a pass before the cache shows its Published condition writes it no second time", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  world.server.holdWatchEvents(DEFINITIONS);
  await reconcile();
  const published = (): number =>
    world.server.calls.filter((c) => c.verb === "applyStatus" && c.resource === DEFINITIONS.plural).length;
  assert.equal(published(), 1);
  world.server.calls.length = 0;
  await reconcile();
  assert.equal(published(), 0, "the cache lags: the write is on its way");
  world.server.releaseWatchEvents();
  await world.settle();
  await reconcile();
  assert.equal(published(), 0, "and the cache shows it");
  // Taken off by hand once the cache showed it: written again.
  await world.server.applyStatus(
    DEFINITIONS,
    {
      apiVersion: API_VERSION,
      kind: "Definition",
      metadata: { namespace: NS, name: "web" },
      spec: { image: { name: "web", port: 80 } },
      status: { conditions: [] },
    } as Definition,
    { fieldManager: "berth-discovery" },
  );
  await world.settle();
  world.server.calls.length = 0;
  await reconcile();
  assert.equal(published(), 1);
});
