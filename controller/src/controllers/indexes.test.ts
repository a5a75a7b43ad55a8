import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Definition, type Instance } from "../api/types.js";
import { DEFINITIONS, INSTANCES } from "../kube/resources.js";
import { Informer } from "../runtime/informer.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import {
  dependentsIn,
  instancesControlledBy,
  instancesOfDefinition,
  instancesOnNode,
  instancesOwnedBy,
  unboundInstances,
} from "./indexes.js";

function definition(name: string, uid: string, dependsOn?: string[], namespace = "ns"): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { namespace, name, uid, resourceVersion: "1" },
    spec: { image: { name: "registry.invalid/x:1", port: 80 }, ...(dependsOn ? { dependsOn } : {}) },
  };
}

function instance(
  name: string,
  options: { owner?: Definition; definition?: string; node?: string; namespace?: string; external?: boolean },
): Instance {
  const owner = options.owner;
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      namespace: options.namespace ?? "ns",
      name,
      resourceVersion: "1",
      ...(owner
        ? {
            ownerReferences: [
              {
                apiVersion: API_VERSION,
                kind: "Definition",
                name: owner.metadata.name ?? "",
                uid: owner.metadata.uid ?? "",
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      definition: options.definition ?? owner?.metadata.name ?? "",
      ...(options.node ? { nodeName: options.node } : {}),
      ...(options.external ? { external: { url: "http://192.0.2.1:80" } } : {}),
    },
  } as Instance;
}

async function cacheOf<T extends Instance | Definition>(
  resource: typeof INSTANCES | typeof DEFINITIONS,
  items: T[],
): Promise<Informer<T>> {
  const client = new FakeKubeClient();
  client.listResults.push({ items, resourceVersion: "10" });
  const informer = new Informer(client, resource as never, { clock: new FakeClock() }) as Informer<T>;
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  return informer;
}

const names = (list: readonly { metadata: { name?: string } }[]): string[] =>
  list.map((o) => o.metadata.name ?? "");

test("Instances by owner: the owner's uid in its own namespace, as isOwnedBy says", async () => {
  const web = definition("web", "uid-web");
  const webAgain = definition("web", "uid-web-2");
  const cache = await cacheOf<Instance>(INSTANCES, [
    instance("web-0", { owner: web, node: "a" }),
    instance("web-1", { owner: webAgain }),
    instance("web-2", { owner: web, namespace: "other" }),
    instance("stray", { definition: "web" }),
  ]);
  assert.deepEqual(names(instancesOwnedBy(cache, web)), ["web-0"]);
  assert.deepEqual(names(instancesOwnedBy(cache, webAgain)), ["web-1"]);
  assert.deepEqual(names(instancesOwnedBy(cache, definition("web", ""))), []);
  assert.deepEqual(names(instancesControlledBy(cache, "ns", "web")), ["web-0", "web-1"]);
  assert.deepEqual(names(instancesOfDefinition(cache, "ns", "web")), ["web-0", "web-1", "stray"]);
  assert.deepEqual(names(instancesOfDefinition(cache, "other", "web")), ["web-2"]);
  await cache.stop();
});

test("Instances by Node, and the unbound ones without external Instances", async () => {
  const web = definition("web", "uid-web");
  const cache = await cacheOf<Instance>(INSTANCES, [
    instance("web-0", { owner: web, node: "a" }),
    instance("web-1", { owner: web, node: "b" }),
    instance("web-2", { owner: web }),
    instance("outside", { definition: "web", external: true }),
  ]);
  assert.deepEqual(names(instancesOnNode(cache, "a")), ["web-0"]);
  assert.deepEqual(names(instancesOnNode(cache, "")), [], "no Node is named the empty string");
  assert.deepEqual(names(unboundInstances(cache)), ["web-2"]);
  assert.deepEqual(names(instancesControlledBy(cache, "ns", "web")), ["web-0", "web-1", "web-2"]);
  await cache.stop();
});

test("dependents: Definitions of the namespace naming it in dependsOn, sorted", async () => {
  const cache = await cacheOf<Definition>(DEFINITIONS, [
    definition("web", "1"),
    definition("zeta", "2", ["web"]),
    definition("api", "3", ["web", "db"]),
    definition("far", "4", ["web"], "other"),
  ]);
  assert.deepEqual(dependentsIn(cache, "ns", "web"), ["api", "zeta"]);
  assert.deepEqual(dependentsIn(cache, "ns", "db"), ["api"]);
  assert.deepEqual(dependentsIn(cache, "ns", "api"), []);
  await cache.stop();
});
