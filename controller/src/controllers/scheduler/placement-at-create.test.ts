import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import type { DefinitionSpec } from "../../api/types.js";
import { LABELS } from "../../api/vocabulary.js";
import { INSTANCES } from "../../kube/resources.js";
import { KubeApiError } from "../../kube/errors.js";
import { getCondition } from "../../runtime/conditions.js";
import { DefinitionReconciler } from "../definition/definition-controller.js";
import {
  NS,
  applyDefinition,
  eventReasons,
  instances,
  newWorld,
  readyNode,
  type World,
} from "../../testing/reconciler-fixtures.js";
import { SchedulerReconciler, UNSCHEDULABLE_RECHECK_MS } from "./scheduler-controller.js";

/** The Definition controller wired to the scheduler as the controller role wires them. */
async function setup(t: TestContext, nodes: Array<string | [string, Record<string, string>]>) {
  const world = await newWorld();
  t.after(() => world.stop());
  for (const node of nodes) {
    if (typeof node === "string") await readyNode(world, node);
    else await readyNode(world, node[0], { labels: node[1] });
  }
  const scheduler = new SchedulerReconciler(world.context);
  return {
    world,
    scheduler,
    placing: new DefinitionReconciler({ ...world.context, placement: scheduler }),
    // A Definition controller that creates every Instance unbound (no placement at create).
    unbound: new DefinitionReconciler(world.context),
  };
}

const spec = (extra: Partial<DefinitionSpec> = {}): DefinitionSpec => ({
  image: { name: "registry.invalid/x:1", port: 8080 },
  ...extra,
});

async function createVia(
  world: World,
  definitions: DefinitionReconciler,
  name: string,
  extra: Partial<DefinitionSpec>,
): Promise<string[]> {
  await applyDefinition(world, name, spec(extra));
  await world.reconcile(definitions, `${NS}/${name}`);
  return instances(world, name).map((i) => i.metadata.name ?? "");
}

const nodeOf = (world: World, name: string): string | undefined =>
  world.server.peek(INSTANCES, { namespace: NS, name })?.spec.nodeName;

const bindings = (world: World): number =>
  world.server.calls.filter((c) => c.verb === "mergePatch" && c.resource === INSTANCES.plural).length;

test("Instances the scheduler can place are created bound: no binding request, their Nodes in one Event", async (t) => {
  const { world, scheduler, placing } = await setup(t, ["node-a", "node-b"]);
  const names = await createVia(world, placing, "gw", { replicas: 3, hostPort: 9000 });
  assert.equal(names.length, 3);
  const placed = names.map((name) => nodeOf(world, name));
  assert.deepEqual(
    placed.filter((node) => node !== undefined).sort(),
    ["node-a", "node-b"],
    "one per node: each placement counts the ones before it",
  );
  for (const instance of instances(world, "gw").filter((i) => i.spec.nodeName)) {
    assert.equal(instance.metadata.labels?.[LABELS.node], instance.spec.nodeName, "labelled as a binding is");
    assert.deepEqual(eventReasons(world, `${NS}/${instance.metadata.name ?? ""}`), [], "no Event of its own");
  }
  assert.equal(bindings(world), 0, "no binding request for the ones created bound");
  // The pass's one Event on the Definition says where each went; the unbound one has no Node.
  const announced = world.events.events.filter((e) => e.key === `${NS}/gw`);
  assert.deepEqual(
    announced.map((e) => e.reason),
    ["InstancesCreated"],
  );
  const message = announced[0]!.message;
  names.forEach((name, i) => {
    const node = placed[i];
    assert.ok(
      message.includes(node ? `${name} on node ${node}` : name),
      `names ${name} and its Node: ${message}`,
    );
  });
  const unplaced = names[placed.indexOf(undefined)]!;
  assert.ok(!message.includes(`${unplaced} on node`), "the one created unbound is named without a Node");

  // The one no Node could take is created unbound and is the scheduler's, as before.
  const waiting = names[placed.indexOf(undefined)]!;
  const result = await world.reconcile(scheduler, `${NS}/${waiting}`);
  assert.equal(result?.requeueAfterMs, UNSCHEDULABLE_RECHECK_MS);
  const status = world.server.peek(INSTANCES, { namespace: NS, name: waiting })?.status;
  assert.equal(getCondition(status?.conditions, "Scheduled")?.reason, "Unschedulable");
  assert.deepEqual(eventReasons(world, `${NS}/${waiting}`), ["FailedScheduling"]);
  // The scheduler's look at the ones created bound changes nothing.
  for (const name of names.filter((n) => n !== waiting)) await world.reconcile(scheduler, `${NS}/${name}`);
  assert.equal(bindings(world), 0);

  // Once a Node fits, the scheduler binds it and records Scheduled on it, as kube-scheduler does.
  await readyNode(world, "node-c");
  await world.reconcile(scheduler, `${NS}/${waiting}`);
  assert.equal(nodeOf(world, waiting), "node-c");
  assert.equal(bindings(world), 1);
  assert.deepEqual(eventReasons(world, `${NS}/${waiting}`), ["FailedScheduling", "Scheduled"]);
});

test("a placement at create holds its host port for the scheduler's bindings while the cache lags", async (t) => {
  const { world, scheduler, placing, unbound } = await setup(t, ["node-a"]);
  const [other] = await createVia(world, unbound, "other", { hostPort: 9000 });
  assert.equal(nodeOf(world, other!), undefined);
  world.server.holdWatchEvents(INSTANCES);
  const [gw] = await createVia(world, placing, "gw", { hostPort: 9000 });
  assert.equal(nodeOf(world, gw!), "node-a");
  assert.equal(world.context.caches.instances.get(NS, gw!), undefined, "the cache has not shown it");

  await world.reconcile(scheduler, `${NS}/${other}`);
  assert.equal(nodeOf(world, other!), undefined, "node-a's port 9000 is taken");
  assert.equal(bindings(world), 0);
  world.server.releaseWatchEvents();
});

test("the scheduler's own bindings in flight hold their host port against a placement at create", async (t) => {
  const { world, scheduler, placing, unbound } = await setup(t, ["node-a", "node-b"]);
  const [other] = await createVia(world, unbound, "other", { hostPort: 9000 });
  world.server.holdWatchEvents(INSTANCES);
  await world.reconcile(scheduler, `${NS}/${other}`);
  assert.equal(nodeOf(world, other!), "node-a");

  const [gw] = await createVia(world, placing, "gw", { hostPort: 9000 });
  assert.equal(nodeOf(world, gw!), "node-b", "node-a's port is assumed taken by the binding in flight");
  const [admin] = await createVia(world, placing, "admin", { hostPort: 9000 });
  assert.equal(nodeOf(world, admin!), undefined, "no Node left with port 9000: created unbound");
  world.server.releaseWatchEvents();
});

test("a create that fails frees the room its placement took", async (t) => {
  const { world, scheduler, placing, unbound } = await setup(t, ["node-a"]);
  await applyDefinition(world, "gw", spec({ hostPort: 9000 }));
  world.server.failures.push({ verb: "create", error: new KubeApiError(500, "etcd timeout") });
  await assert.rejects(world.reconcile(placing, `${NS}/gw`), /etcd timeout/);
  assert.equal(instances(world, "gw").length, 0);

  // The retry finds the port free again, and then holds it.
  await world.reconcile(placing, `${NS}/gw`);
  const [gw] = instances(world, "gw");
  assert.equal(gw?.spec.nodeName, "node-a");
  const [other] = await createVia(world, unbound, "other", { hostPort: 9000 });
  await world.reconcile(scheduler, `${NS}/${other}`);
  assert.equal(nodeOf(world, other!), undefined, "port 9000 on node-a is the retry's");
});

test("placement at create keeps to the node selector and spreads replicas", async (t) => {
  const { world, placing } = await setup(t, [
    ["node-a", { zone: "a" }],
    ["node-b", { zone: "b" }],
    ["node-c", { zone: "b" }],
  ]);
  world.server.holdWatchEvents(INSTANCES);
  const names = await createVia(world, placing, "web", {
    replicas: 2,
    placement: { nodeSelector: { zone: "b" } },
  });
  assert.deepEqual(names.map((name) => nodeOf(world, name)).sort(), ["node-b", "node-c"]);

  const [selected] = await createVia(world, placing, "nowhere", {
    placement: { nodeSelector: { zone: "z" } },
  });
  assert.equal(nodeOf(world, selected!), undefined, "no Node carries the labels: left to the scheduler");
  world.server.releaseWatchEvents();
});

test("once the cache shows an Instance created bound, it is counted once, not twice", async (t) => {
  const { world, placing } = await setup(t, []);
  await readyNode(world, "node-a", { capacity: { instances: 2 } });
  const [gw] = await createVia(world, placing, "gw", {});
  assert.equal(world.context.caches.instances.get(NS, gw!)?.spec.nodeName, "node-a", "the cache shows it");
  const [api] = await createVia(world, placing, "api", {});
  assert.equal(nodeOf(world, api!), "node-a", "two Instances on a Node of capacity 2");
  const [third] = await createVia(world, placing, "third", {});
  assert.equal(nodeOf(world, third!), undefined, "a third one does not fit");
});
