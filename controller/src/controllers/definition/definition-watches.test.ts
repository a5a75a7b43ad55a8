import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { DEFINITIONS, NODES } from "../../kube/resources.js";
import { CONDITIONS } from "../../api/vocabulary.js";
import { toTimestamp } from "../../runtime/conditions.js";
import { newDefinitionController, DefinitionReconciler } from "./definition-controller.js";
import {
  NS,
  applyDefinition,
  bind,
  instances,
  markRunning,
  newWorld,
  readyNode,
  type World,
} from "../../testing/reconciler-fixtures.js";

const image = { image: { name: "registry.invalid/web:1", port: 8080 } };

/** web on node-a, db on node-b, api depends on web; the controller's enqueues are recorded. */
async function setup(t: TestContext): Promise<{ world: World; enqueued: Set<string> }> {
  const world = await newWorld();
  t.after(() => world.stop());
  await readyNode(world, "node-a");
  await readyNode(world, "node-b");
  await applyDefinition(world, "web", { ...image, replicas: 2 });
  await applyDefinition(world, "db", { ...image, replicas: 1 });
  await applyDefinition(world, "api", { ...image, replicas: 1, dependsOn: ["web"] });
  const reconciler = new DefinitionReconciler(world.context);
  for (const name of ["web", "db"]) await world.reconcile(reconciler, `${NS}/${name}`);
  for (const i of instances(world, "web")) await bind(world, i.metadata.name ?? "", "node-a");
  for (const i of instances(world, "db")) await bind(world, i.metadata.name ?? "", "node-b");
  for (const i of instances(world)) await markRunning(world, i.metadata.name ?? "");

  const controller = newDefinitionController(world.context);
  const enqueued = new Set<string>();
  controller.enqueue = (key: string) => void enqueued.add(key);
  return { world, enqueued };
}

async function writeNodeStatus(
  world: World,
  node: string,
  ready: boolean,
  instanceCount: number,
): Promise<void> {
  const stamp = toTimestamp(world.clock.now());
  const status = ready ? "True" : "False";
  await world.server.patchStatus(
    NODES,
    { name: node },
    {
      status: {
        lastHeartbeat: stamp,
        ready: status,
        allocatable: { instances: String(100 - instanceCount) },
        conditions: [
          { type: CONDITIONS.ready, status, reason: "Test", message: "", lastTransitionTime: stamp },
        ],
      },
    },
  );
  await world.settle();
}

test("a Node's status write that keeps its readiness wakes no Definition", async (t) => {
  const { world, enqueued } = await setup(t);
  world.clock.advance(5000);
  await writeNodeStatus(world, "node-a", true, 7);
  await writeNodeStatus(world, "node-b", true, 3);
  assert.deepEqual([...enqueued], []);
});

test("a Node turning not Ready wakes the Definitions with Instances on it, and their dependents only", async (t) => {
  const { world, enqueued } = await setup(t);
  await writeNodeStatus(world, "node-a", false, 2);
  assert.deepEqual([...enqueued].sort(), [`${NS}/api`, `${NS}/web`]);
  enqueued.clear();
  await writeNodeStatus(world, "node-b", false, 1);
  assert.deepEqual([...enqueued], [`${NS}/db`]);
});

test("an Instance's change wakes its owner and the owner's dependents, found by dependsOn", async (t) => {
  const { world, enqueued } = await setup(t);
  const [first] = instances(world, "web");
  await markRunning(world, first?.metadata.name ?? "", false);
  assert.deepEqual([...enqueued].sort(), [`${NS}/api`, `${NS}/web`]);
  enqueued.clear();
  await applyDefinition(world, "api", { ...image, replicas: 1, dependsOn: ["db"] });
  enqueued.clear();
  await markRunning(world, instances(world, "db")[0]?.metadata.name ?? "", false);
  assert.deepEqual([...enqueued].sort(), [`${NS}/api`, `${NS}/db`], "api now depends on db");
});

test("a status-only write of a Definition wakes no pass of it; a label or spec change does", async (t) => {
  const { world, enqueued } = await setup(t);
  await world.server.patchStatus(
    DEFINITIONS,
    { namespace: NS, name: "db" },
    { status: { conditions: [{ type: "Published", status: "True", reason: "Published", message: "" }] } },
  );
  await world.settle();
  assert.deepEqual([...enqueued], [], "discovery's Published, or this controller's own write");
  await world.server.mergePatch(
    DEFINITIONS,
    { namespace: NS, name: "db" },
    { metadata: { labels: { a: "b" } } },
  );
  await world.settle();
  assert.deepEqual([...enqueued], [`${NS}/db`]);
  enqueued.clear();
  await applyDefinition(world, "db", { ...image, replicas: 2 });
  assert.deepEqual([...enqueued], [`${NS}/db`]);
});
