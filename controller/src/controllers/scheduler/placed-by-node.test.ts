import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Instance } from "../../api/types.js";
import { INSTANCES } from "../../kube/resources.js";
import { Informer } from "../../runtime/informer.js";
import { FakeClock, flushPromises } from "../../testing/fake-clock.js";
import { FakeKubeClient } from "../../testing/fake-kube-client.js";
import { PlacedByNode } from "./placed-by-node.js";

function instance(name: string, rv: string, node?: string, hostPort?: number): Instance {
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { namespace: "ns", name, resourceVersion: rv },
    spec: { definition: "web", ...(node ? { nodeName: node } : {}), ...(hostPort ? { hostPort } : {}) },
  } as Instance;
}

const ports = (placed: PlacedByNode, node: string): Array<number | undefined> =>
  placed.on(node).map((p) => p.hostPort);

test("placements per node follow binds, changes, deletes and a relist; nothing is left of emptied nodes", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({
    items: [instance("a", "1", "n1", 1), instance("b", "2", "n2", 2), instance("c", "3")],
    resourceVersion: "10",
  });
  const informer = new Informer<Instance>(client, INSTANCES, { clock: new FakeClock() });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  const placed = new PlacedByNode(informer);
  assert.deepEqual(ports(placed, "n1"), [1], "what was cached before it started");
  assert.deepEqual(placed.on("n1")[0], { namespace: "ns", definition: "web", hostPort: 1, nodeName: "n1" });
  assert.deepEqual(ports(placed, "n3"), []);

  const watch = client.watches[0]!;
  watch.emit({ type: "MODIFIED", object: instance("c", "11", "n1", 3) });
  assert.deepEqual(ports(placed, "n1"), [1, 3], "a binding the cache shows");
  watch.emit({ type: "MODIFIED", object: instance("a", "12", "n1", 4) });
  assert.deepEqual(ports(placed, "n1"), [3, 4], "a change of a bound Instance");
  watch.emit({ type: "DELETED", object: instance("c", "13", "n1", 3) });
  assert.deepEqual(ports(placed, "n1"), [4], "a delete");

  client.listResults.push({ items: [instance("b", "20", "n2", 2)], resourceVersion: "30" });
  watch.emit({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } });
  await flushPromises();
  assert.deepEqual(ports(placed, "n1"), [], "a relist that finds it gone");
  assert.equal(placed.nodeCount(), 1);
  client.watches[1]!.emit({ type: "DELETED", object: instance("b", "31", "n2", 2) });
  assert.equal(placed.nodeCount(), 0);
  await informer.stop();
});
