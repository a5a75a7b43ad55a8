import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { INSTANCES, NODES } from "../kube/resources.js";
import { getCondition } from "../runtime/conditions.js";
import { DefinitionReconciler } from "./definition/definition-controller.js";
import { NodeLifecycleReconciler } from "./node-lifecycle.js";
import {
  NS,
  applyDefinition,
  bind,
  eventReasons,
  instances,
  markRunning,
  newWorld,
  readyNode,
  renewLease,
  type World,
} from "../testing/reconciler-fixtures.js";

const GRACE = 40_000;
const EVICTION = 60_000;

/** Two nodes, each running one Instance of "web". */
async function setup(t: TestContext) {
  const world = await newWorld();
  t.after(() => world.stop());
  world.context.settings.nodeGracePeriodMs = GRACE;
  world.context.settings.nodeEvictionTimeoutMs = EVICTION;
  await readyNode(world, "node-a");
  await readyNode(world, "node-b");
  await applyDefinition(world, "web", { image: { name: "registry.invalid/web:1", port: 8080 }, replicas: 2 });
  await world.reconcile(new DefinitionReconciler(world.context), `${NS}/web`);
  const [onA, onB] = instances(world, "web").map((i) => i.metadata.name ?? "");
  await bind(world, onA!, "node-a");
  await bind(world, onB!, "node-b");
  await markRunning(world, onA!);
  await markRunning(world, onB!);
  return { world, lifecycle: new NodeLifecycleReconciler(world.context), onA: onA!, onB: onB! };
}

function ready(world: World, node: string): string | undefined {
  const condition = getCondition(world.server.peek(NODES, { name: node })?.status?.conditions, "Ready");
  return condition ? `${condition.status}/${condition.reason}` : undefined;
}

const live = (world: World): string[] =>
  instances(world)
    .filter((i) => i.metadata.deletionTimestamp === undefined)
    .map((i) => i.metadata.name ?? "");

/** Moves time on in steps, node-b's agent renewing its Lease all along. */
async function passTime(world: World, ms: number, beating: string[]): Promise<void> {
  for (let left = ms; left > 0; left -= 10_000) {
    world.clock.advance(Math.min(10_000, left));
    for (const node of beating) await renewLease(world, node);
  }
}

test("a silent node goes Unknown (NodeNotReady), then its Instances are evicted (EvictingInstances, Evicted)", async (t) => {
  const { world, lifecycle, onA, onB } = await setup(t);
  const first = await world.reconcile(lifecycle, "node-a");
  assert.equal(ready(world, "node-a"), "True/AgentReady");
  assert.ok(
    first?.requeueAfterMs !== undefined && first.requeueAfterMs <= GRACE + 1000,
    "looks again when the grace runs out",
  );

  await passTime(world, GRACE, ["node-b"]);
  await world.reconcile(lifecycle, "node-a");
  await world.reconcile(lifecycle, "node-b");
  assert.equal(ready(world, "node-a"), "Unknown/NodeStatusUnknown");
  assert.equal(ready(world, "node-b"), "True/AgentReady");
  assert.deepEqual(eventReasons(world, "node-a"), ["NodeNotReady"]);
  assert.deepEqual(live(world), [onA, onB].sort(), "nothing evicted before the eviction timeout");

  // Asked again while still Unknown: no second write, no second Event.
  await world.reconcile(lifecycle, "node-a");
  assert.deepEqual(eventReasons(world, "node-a"), ["NodeNotReady"]);

  await passTime(world, EVICTION - 10_000, ["node-b"]);
  await world.reconcile(lifecycle, "node-a");
  assert.deepEqual(live(world), [onA, onB].sort(), "not yet: the timeout counts from when the grace ran out");

  await passTime(world, 10_000, ["node-b"]);
  await world.reconcile(lifecycle, "node-a");
  assert.deepEqual(eventReasons(world, "node-a"), ["NodeNotReady", "EvictingInstances"]);
  assert.deepEqual(eventReasons(world, `${NS}/${onA}`), ["Evicted"]);
  // No agent will remove the container finalizer there: the controller did, so it is gone.
  assert.equal(world.server.peek(INSTANCES, { namespace: NS, name: onA }), undefined);
  assert.deepEqual(live(world), [onB], "node-b's Instance untouched");
});

test("when no node is Ready, nothing is evicted", async (t) => {
  const { world, lifecycle, onA, onB } = await setup(t);
  await passTime(world, GRACE + EVICTION + 10_000, []);
  for (const node of ["node-a", "node-b"]) await world.reconcile(lifecycle, node);
  for (const node of ["node-a", "node-b"]) {
    const result = await world.reconcile(lifecycle, node);
    assert.ok(result?.requeueAfterMs, "it looks again later");
  }
  assert.equal(ready(world, "node-a"), "Unknown/NodeStatusUnknown");
  assert.equal(ready(world, "node-b"), "Unknown/NodeStatusUnknown");
  assert.deepEqual(live(world), [onA, onB].sort());
  assert.equal(instances(world).length, 2);
  assert.ok(!eventReasons(world).includes("EvictingInstances"));
  assert.ok(!eventReasons(world).includes("Evicted"));

  // One node comes back: the other's Instances may go now.
  await renewLease(world, "node-b");
  await world.server.patchStatus(
    NODES,
    { name: "node-b" },
    {
      status: {
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "AgentReady",
            message: "",
            lastTransitionTime: new Date(world.clock.now()).toISOString(),
          },
        ],
      },
    },
  );
  await world.settle();
  await world.reconcile(lifecycle, "node-a");
  assert.deepEqual(live(world), [onB]);
});

test("the Instances of a deleted Node are left alone while its Lease is live, and evicted once it lapses", async (t) => {
  const { world, lifecycle, onA, onB } = await setup(t);
  await world.server.delete(NODES, { name: "node-a" });
  await world.settle();
  const waiting = await world.reconcile(lifecycle, "node-a");
  assert.ok(world.server.peek(INSTANCES, { namespace: NS, name: onA }), "its agent registers it again");
  assert.ok(
    waiting?.requeueAfterMs !== undefined && waiting.requeueAfterMs <= 41_000,
    "looked at when it lapses",
  );
  await passTime(world, 41_000, ["node-b"]);
  await world.reconcile(lifecycle, "node-a");
  assert.equal(world.server.peek(INSTANCES, { namespace: NS, name: onA }), undefined);
  assert.deepEqual(eventReasons(world, `${NS}/${onA}`), ["Evicted"]);
  assert.deepEqual(live(world), [onB]);
});
