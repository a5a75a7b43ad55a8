import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { INSTANCES } from "../../kube/resources.js";
import { isConflict } from "../../kube/errors.js";
import { getCondition } from "../../runtime/conditions.js";
import { DefinitionReconciler } from "../definition/definition-controller.js";
import {
  NS,
  applyDefinition,
  bind,
  eventReasons,
  instances,
  newWorld,
  readyNode,
  type World,
} from "../../testing/reconciler-fixtures.js";
import type { Instance, Node } from "../../api/types.js";
import {
  SchedulerReconciler,
  UNSCHEDULABLE_RECHECK_MS,
  leftItsNode,
  nodeCouldMakeRoom,
} from "./scheduler-controller.js";

async function setup(t: TestContext, nodes: string[]) {
  const world = await newWorld();
  t.after(() => world.stop());
  for (const node of nodes) await readyNode(world, node);
  return {
    world,
    definitions: new DefinitionReconciler(world.context),
    scheduler: new SchedulerReconciler(world.context),
  };
}

/** Creates the Definition's Instances (through its reconciler) and returns their names. */
async function createInstances(
  world: World,
  definitions: DefinitionReconciler,
  name: string,
  hostPort: number,
  replicas: number,
): Promise<string[]> {
  await applyDefinition(world, name, {
    image: { name: "registry.invalid/x:1", port: 8080 },
    hostPort,
    replicas,
  });
  await world.reconcile(definitions, `${NS}/${name}`);
  return instances(world, name).map((i) => i.metadata.name ?? "");
}

const nodeOf = (world: World, name: string): string | undefined =>
  world.server.peek(INSTANCES, { namespace: NS, name })?.spec.nodeName;

test("a binding the cache has not shown yet still holds its host port, until the record expires", async (t) => {
  const { world, definitions, scheduler } = await setup(t, ["node-a", "node-b"]);
  const [first, second, third] = await createInstances(world, definitions, "gw", 9000, 3);
  world.server.holdWatchEvents(INSTANCES);
  await world.reconcile(scheduler, `${NS}/${first}`);
  assert.equal(nodeOf(world, first!), "node-a");
  assert.equal(world.context.caches.instances.get(NS, first!)?.spec.nodeName, undefined, "the cache lags");

  await world.reconcile(scheduler, `${NS}/${second}`);
  assert.equal(nodeOf(world, second!), "node-b", "node-a's port is taken by the binding just made");
  const result = await world.reconcile(scheduler, `${NS}/${third}`);
  assert.equal(nodeOf(world, third!), undefined);
  assert.equal(result?.requeueAfterMs, UNSCHEDULABLE_RECHECK_MS);

  // Asked again before the cache shows it, the scheduler does not bind it a second time.
  const writes = world.server.calls.length;
  await world.reconcile(scheduler, `${NS}/${first}`);
  assert.equal(world.server.calls.length, writes, "no request for an assumed binding");

  // The record lives 30 s: a binding whose event was lost stops counting then, and binding
  // again from the stale cache meets the resourceVersion precondition.
  world.clock.advance(31_000);
  await assert.rejects(world.reconcile(scheduler, `${NS}/${first}`), (err: unknown) => isConflict(err));
  world.server.releaseWatchEvents();
  await world.settle();
  assert.equal(world.context.caches.instances.get(NS, first!)?.spec.nodeName, "node-a");
});

test("an expired record no longer holds the port: the Instance it was for can be placed there", async (t) => {
  const { world, definitions, scheduler } = await setup(t, ["node-a"]);
  const [first, second] = await createInstances(world, definitions, "gw", 9000, 2);
  world.server.holdWatchEvents(INSTANCES);
  await world.reconcile(scheduler, `${NS}/${first}`);
  assert.equal(nodeOf(world, first!), "node-a");
  // Within the record's life the second one finds no room...
  await world.reconcile(scheduler, `${NS}/${second}`);
  assert.equal(nodeOf(world, second!), undefined);
  // ...after it, the stale cache is all there is: it would fit (and the write then tells the truth).
  world.clock.advance(31_000);
  await assert.rejects(world.reconcile(scheduler, `${NS}/${second}`), (err: unknown) => isConflict(err));
  const attempt = world.server.calls.at(-1);
  assert.equal(attempt?.verb, "mergePatch");
  assert.equal(attempt?.ref?.name, second);
  assert.deepEqual((attempt?.body as { spec?: unknown }).spec, { nodeName: "node-a" });
  world.server.releaseWatchEvents();
});

test("a terminating Instance still holds its host port", async (t) => {
  const { world, definitions, scheduler } = await setup(t, ["node-a", "node-b"]);
  const [old] = await createInstances(world, definitions, "gw", 9000, 1);
  // Bound before this scheduler started (it has no record of it): only the cache tells.
  await bind(world, old!, "node-a");
  // Its container may still run (the agent has not removed it yet): the finalizer keeps it.
  await world.server.delete(INSTANCES, { namespace: NS, name: old! });
  await world.settle();
  assert.ok(world.context.caches.instances.get(NS, old!)?.metadata.deletionTimestamp);

  await world.reconcile(definitions, `${NS}/gw`);
  const replacement = instances(world, "gw").find((i) => i.metadata.name !== old)?.metadata.name;
  assert.ok(replacement);
  await world.reconcile(scheduler, `${NS}/${replacement}`);
  assert.equal(nodeOf(world, replacement), "node-b");
});

test("two Definitions wanting one host port: one per node, the third says why it waits", async (t) => {
  const { world, definitions, scheduler } = await setup(t, ["node-a", "node-b"]);
  const [web] = await createInstances(world, definitions, "web", 8080, 1);
  const [api] = await createInstances(world, definitions, "api", 8080, 1);
  const [admin] = await createInstances(world, definitions, "admin", 8080, 1);
  await world.reconcile(scheduler, `${NS}/${web}`);
  await world.reconcile(scheduler, `${NS}/${api}`);
  assert.deepEqual([nodeOf(world, web!), nodeOf(world, api!)].sort(), ["node-a", "node-b"]);

  await world.reconcile(scheduler, `${NS}/${admin}`);
  const waiting = world.server.peek(INSTANCES, { namespace: NS, name: admin! });
  assert.equal(waiting?.spec.nodeName, undefined);
  assert.equal(waiting?.status?.phase, "Pending");
  const scheduled = getCondition(waiting?.status?.conditions, "Scheduled");
  assert.equal(scheduled?.reason, "Unschedulable");
  assert.equal(
    scheduled?.message,
    "0/2 nodes are available: 2 already running an Instance on host port 8080.",
  );
  assert.deepEqual(eventReasons(world, `${NS}/${admin}`), ["FailedScheduling"]);

  // Asked again with nothing changed: no second Event, no status write.
  const writes = world.server.calls.filter((c) => c.verb !== "get").length;
  await world.reconcile(scheduler, `${NS}/${admin}`);
  assert.deepEqual(eventReasons(world, `${NS}/${admin}`), ["FailedScheduling"]);
  assert.equal(world.server.calls.filter((c) => c.verb !== "get").length, writes);
});

test("bindings in flight at once: each placement counts the ones still on their way", async (t) => {
  const { world, definitions, scheduler } = await setup(t, ["node-a", "node-b"]);
  const names = await createInstances(world, definitions, "gw", 9000, 3);
  world.server.holdWatchEvents(INSTANCES);
  // Three workers at once, none waiting for another's binding request to return.
  const results = await Promise.all(names.map((name) => world.reconcile(scheduler, `${NS}/${name}`)));
  const placed = names.map((name) => nodeOf(world, name)).filter((node) => node !== undefined);
  assert.deepEqual([...placed].sort(), ["node-a", "node-b"], "one per node, never two on one port");
  assert.equal(results.filter((r) => r?.requeueAfterMs === UNSCHEDULABLE_RECHECK_MS).length, 1);
  world.server.releaseWatchEvents();
});

test("a binding that fails stops holding its host port at once", async (t) => {
  const { world, definitions, scheduler } = await setup(t, ["node-a"]);
  const [first, second] = await createInstances(world, definitions, "gw", 9000, 2);
  world.server.holdWatchEvents(INSTANCES);
  // The first one changes on the server behind the cache's back: its binding meets a conflict.
  await world.server.delete(INSTANCES, { namespace: NS, name: first! });
  await assert.rejects(world.reconcile(scheduler, `${NS}/${first}`), (err: unknown) => isConflict(err));
  await world.reconcile(scheduler, `${NS}/${second}`);
  assert.equal(nodeOf(world, second!), "node-a", "the failed binding left the port free");
  world.server.releaseWatchEvents();
});

const node = (ready: "True" | "False", spec: Partial<Node["spec"]> = {}, heartbeat = "t1"): Node => ({
  apiVersion: "berth.dev/v1alpha1",
  kind: "Node",
  metadata: { name: "node-a" },
  spec: { url: "tcp://node-a.invalid:2375", address: "node-a.invalid", ...spec },
  status: {
    lastHeartbeat: heartbeat,
    conditions: [
      { type: "Ready", status: ready, reason: "AgentReady", message: "", lastTransitionTime: "t0" },
    ],
  },
});

test("a Node's heartbeat makes no room; turning Ready or a change of its spec may", () => {
  assert.equal(nodeCouldMakeRoom(node("True"), node("True", {}, "t2")), false, "a heartbeat");
  assert.equal(nodeCouldMakeRoom(node("False"), node("True")), true, "turned Ready");
  assert.equal(nodeCouldMakeRoom(node("True"), node("False")), true, "no longer Ready");
  assert.equal(
    nodeCouldMakeRoom(node("True"), node("True", { capacity: { instances: 20 } })),
    true,
    "more capacity",
  );
  assert.equal(nodeCouldMakeRoom(node("True"), node("True", { labels: { zone: "b" } })), true, "labels");
});

const instance = (nodeName?: string): Instance => ({
  apiVersion: "berth.dev/v1alpha1",
  kind: "Instance",
  metadata: { namespace: NS, name: "web-1" },
  spec: { definition: "web", deploymentId: "d", ...(nodeName ? { nodeName } : {}) },
});

test("an Instance gives room back only by leaving its Node; being bound takes room", () => {
  assert.equal(leftItsNode(instance(), instance("node-a")), false, "a binding");
  assert.equal(leftItsNode(instance("node-a"), instance("node-a")), false, "a status change");
  assert.equal(leftItsNode(instance(), instance()), false, "unbound all along");
  assert.equal(leftItsNode(instance("node-a"), instance()), true, "unbound again");
  assert.equal(leftItsNode(instance("node-a"), instance("node-b")), true, "moved");
});
