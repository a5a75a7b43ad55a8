import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Definition, type Instance, type Node } from "../api/types.js";
import { DEFINITIONS, INSTANCES, NODES } from "../kube/resources.js";
import { FakeClock } from "../testing/fake-clock.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { Informer } from "../runtime/informer.js";
import { namespaceKey, serviceKey, ServiceCatalog } from "./catalog.js";

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function world(t: TestContext) {
  const server = new FakeApiServer();
  const clock = new FakeClock();
  const caches = {
    definitions: new Informer(server, DEFINITIONS, { clock }),
    instances: new Informer(server, INSTANCES, { clock }),
    nodes: new Informer(server, NODES, { clock }),
  };
  for (const informer of Object.values(caches)) informer.start();
  t.after(async () => {
    for (const informer of Object.values(caches)) await informer.stop();
  });
  for (const informer of Object.values(caches)) await informer.waitForSync();
  const catalog = new ServiceCatalog(caches);
  assert.ok(catalog.hasSynced());
  return { server, caches, catalog };
}

function node(name: string, ready: boolean, heartbeat = "2026-03-01T12:00:00Z"): Node {
  return {
    apiVersion: API_VERSION,
    kind: "Node",
    metadata: { name },
    spec: { url: `http://${name}.example:2375` },
    status: {
      lastHeartbeat: heartbeat,
      conditions: [
        {
          type: "Ready",
          status: ready ? "True" : "False",
          reason: ready ? "HeartbeatFresh" : "HeartbeatStale",
          lastTransitionTime: heartbeat,
        },
      ],
    },
  } as unknown as Node;
}

function definition(name: string, replicas: number): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace: "team" },
    spec: { image: "example/web:1", port: 80, replicas },
  } as unknown as Definition;
}

function instance(name: string, slug: string, nodeName: string, port: number): Instance {
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { name, namespace: "team" },
    spec: { definition: slug, nodeName },
    status: {
      ready: true,
      phase: "Running",
      address: { host: "192.0.2.1", port, url: `http://192.0.2.1:${port}` },
    },
  } as unknown as Instance;
}

test("a service's answer is built from its own Instances and follows them", async (t) => {
  const { server, catalog } = await world(t);
  await server.create(NODES, node("n1", true));
  await server.create(DEFINITIONS, definition("web", 2));
  await server.create(INSTANCES, instance("web-a", "web", "n1", 8001));
  await server.create(INSTANCES, instance("api-a", "api", "n1", 9001));
  await flush();
  const web = catalog.service("team", "web");
  assert.deepEqual(
    web.instances.map((i) => [i.name, i.ready, i.port]),
    [["web-a", true, 8001]],
  );
  assert.equal(web.defined, true);
  await server.delete(INSTANCES, { namespace: "team", name: "web-a" });
  await flush();
  assert.deepEqual(catalog.service("team", "web").instances, [], "a deleted Instance leaves the answer");
  assert.deepEqual(
    catalog.service("team", "api").instances.map((i) => i.name),
    ["api-a"],
    "another service's Instance is untouched",
  );
});

test("a Node's heartbeat that leaves readiness as it was moves no index; a flip moves only its services", async (t) => {
  const { server, catalog } = await world(t);
  await server.create(NODES, node("n1", true));
  await server.create(NODES, node("n2", true));
  await server.create(INSTANCES, instance("web-a", "web", "n1", 8001));
  await server.create(INSTANCES, instance("api-a", "api", "n2", 9001));
  await flush();
  const web = catalog.indexOfKey(serviceKey("team", "web"));
  const api = catalog.indexOfKey(serviceKey("team", "api"));
  const list = catalog.indexOfKey(namespaceKey("team"));

  await server.patchStatus(
    NODES,
    { name: "n1" },
    { status: node("n1", true, "2026-03-01T12:00:10Z").status },
  );
  await flush();
  const beat = catalog.service("team", "web");
  assert.equal(
    (await server.get(NODES, { name: "n1" })).status?.lastHeartbeat,
    "2026-03-01T12:00:10Z",
    "the heartbeat was written",
  );
  assert.equal(beat.index, web, "a plain heartbeat is not a change");
  assert.equal(catalog.indexOfKey(namespaceKey("team")), list);

  await server.patchStatus(
    NODES,
    { name: "n1" },
    { status: node("n1", false, "2026-03-01T12:00:20Z").status },
  );
  await flush();
  assert.ok(
    catalog.indexOfKey(serviceKey("team", "web")) > web,
    "the service on the Node that went not ready moved",
  );
  assert.equal(catalog.service("team", "web").instances[0]?.ready, false);
  assert.equal(catalog.indexOfKey(serviceKey("team", "api")), api, "a service on another Node did not");
  assert.ok(catalog.indexOfKey(namespaceKey("team")) > list, "the namespace's list moved with it");
});

test("the namespace's index moves with its services and with a Definition's replicas, and wakes a waiter", async (t) => {
  const { server, catalog } = await world(t);
  await server.create(NODES, node("n1", true));
  await server.create(DEFINITIONS, definition("web", 1));
  await flush();
  const start = catalog.indexOfKey(namespaceKey("team"));

  const waiting = catalog.waitForChange(namespaceKey("team"), start, AbortSignal.timeout(5000));
  const stored = await server.get(DEFINITIONS, { namespace: "team", name: "web" });
  await server.replace(DEFINITIONS, { ...stored, spec: { ...stored.spec, replicas: 3 } });
  assert.equal(await waiting, true, "a replicas change shows in the list, so it wakes the list's waiter");
  const afterScale = catalog.indexOfKey(namespaceKey("team"));
  assert.ok(afterScale > start);
  assert.equal(catalog.services("team").index, afterScale);
  assert.equal(catalog.services("team").services[0]?.desired, 3);

  const labelled = await server.get(DEFINITIONS, { namespace: "team", name: "web" });
  await server.replace(DEFINITIONS, { ...labelled, metadata: { ...labelled.metadata, labels: { a: "b" } } });
  await flush();
  assert.equal(catalog.indexOfKey(namespaceKey("team")), afterScale, "a label is not in the list: no change");

  await server.create(INSTANCES, instance("web-a", "web", "n1", 8001));
  await flush();
  assert.ok(catalog.indexOfKey(namespaceKey("team")) > afterScale, "a new Instance moves the list");
  assert.equal(
    catalog.indexOfKey(namespaceKey("other")),
    catalog.indexOfKey(namespaceKey("nobody")),
    "another namespace's list stays at the floor",
  );
});
