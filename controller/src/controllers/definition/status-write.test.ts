import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { API_VERSION, type Condition, type Definition, type DefinitionStatus } from "../../api/types.js";
import { DEFINITIONS, INSTANCES } from "../../kube/resources.js";
import { DefinitionReconciler } from "./definition-controller.js";
import { DEFINITION_STATUS_MANAGER } from "./status-write.js";
import { DISCOVERY_STATUS_MANAGER } from "../discovery/discovery-controller.js";
import {
  NS,
  applyDefinition,
  bind,
  instances,
  markRunning,
  newWorld,
  readyNode,
  webSpec,
  type World,
} from "../../testing/reconciler-fixtures.js";

const ADDRESS = "http://10.0.0.1:8080";
const PUBLISHED: Condition = {
  type: "Published",
  status: "True",
  reason: "Published",
  message: "listed",
  lastTransitionTime: "2026-03-01T11:00:00Z",
};

async function setup(t: TestContext): Promise<{ world: World; definitions: DefinitionReconciler }> {
  const world = await newWorld();
  t.after(() => world.stop());
  await readyNode(world, "node-a");
  return { world, definitions: new DefinitionReconciler(world.context) };
}

/** Discovery's write, as its own field manager makes it. */
async function publish(world: World): Promise<void> {
  const body: Definition = {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { namespace: NS, name: "web" },
    spec: webSpec(),
    status: { conditions: [PUBLISHED] },
  };
  await world.server.applyStatus(DEFINITIONS, body, { fieldManager: DISCOVERY_STATUS_MANAGER });
}

function stored(world: World): DefinitionStatus {
  return world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.status ?? {};
}

/** The Definition controller's status writes: what each applied. */
function applied(world: World): DefinitionStatus[] {
  return world.server.calls
    .filter((c) => c.verb === "applyStatus" && c.fieldManager === DEFINITION_STATUS_MANAGER)
    .map((c) => (c.body as Definition).status ?? {});
}

async function readyWeb(world: World, definitions: DefinitionReconciler): Promise<void> {
  await applyDefinition(world, "web", webSpec({ replicas: 1 }));
  await world.reconcile(definitions, `${NS}/web`);
  const [instance] = instances(world, "web");
  if (!instance?.spec.nodeName) await bind(world, instance?.metadata.name ?? "", "node-a");
  await markRunning(world, instance?.metadata.name ?? "");
  await world.server.patchStatus(
    INSTANCES,
    { namespace: NS, name: instance?.metadata.name ?? "" },
    { status: { address: { url: ADDRESS } } },
  );
  await world.settle();
}

test("the status a pass computes is what it writes: every field and its own conditions, no precondition", async (t) => {
  const { world, definitions } = await setup(t);
  await readyWeb(world, definitions);
  await publish(world);
  world.server.calls.length = 0;
  await world.reconcile(definitions, `${NS}/web`);

  const writes = applied(world);
  assert.equal(writes.length, 1);
  const written = writes[0]!;
  assert.equal(written.readyReplicas, 1);
  assert.equal(written.readySummary, "1/1");
  assert.deepEqual(written.addresses, [ADDRESS]);
  assert.deepEqual(
    written.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
    ["Ready=True/InstancesReady", "Progressing=True/RolloutComplete", "Degraded=False/AsExpected"],
  );
  const body = world.server.calls.find((c) => c.verb === "applyStatus")?.body as Definition;
  assert.equal(body.metadata.resourceVersion, undefined, "no resourceVersion precondition");
  // The stored status is the pass's status with discovery's condition next to it.
  const { conditions, ...fields } = stored(world);
  const { conditions: writtenConditions, ...writtenFields } = written;
  assert.deepEqual(fields, writtenFields);
  const byType = (list: readonly Condition[]): Condition[] =>
    [...list].sort((a, b) => a.type.localeCompare(b.type));
  assert.deepEqual(byType(conditions ?? []), byType([PUBLISHED, ...(writtenConditions ?? [])]));
});

test("a pass from a cache that does not show discovery's write yet leaves that write in place", async (t) => {
  const { world, definitions } = await setup(t);
  await readyWeb(world, definitions);
  world.server.holdWatchEvents(DEFINITIONS);
  await publish(world);
  await world.reconcile(definitions, `${NS}/web`);
  world.server.releaseWatchEvents();
  await world.settle();
  assert.equal(applied(world).at(-1)?.readyReplicas, 1, "written, not refused");
  assert.deepEqual(
    stored(world).conditions?.find((c) => c.type === "Published"),
    PUBLISHED,
  );
});

test("discovery's condition on the Definition does not make a pass write again", async (t) => {
  const { world, definitions } = await setup(t);
  await readyWeb(world, definitions);
  await world.reconcile(definitions, `${NS}/web`);
  await publish(world);
  world.server.calls.length = 0;
  world.clock.advance(5_000);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(applied(world), []);
});

test("a pass while the cache has yet to show the address write sends that write no second time", async (t) => {
  const { world, definitions } = await setup(t);
  await readyWeb(world, definitions);
  world.server.holdWatchEvents(DEFINITIONS);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(applied(world).at(-1)?.addresses, [ADDRESS], "the address is written at once");
  world.server.calls.length = 0;
  // Woken by its Instance, a pass reads the Definition as it was before that write.
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(applied(world), [], "nothing the last write did not say");
  world.server.releaseWatchEvents();
  await world.settle();
  world.clock.advance(5_000);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(applied(world), [], "nor once the cache shows it");
});

test("a pass after another writer changed this controller's fields writes them back", async (t) => {
  const { world, definitions } = await setup(t);
  await readyWeb(world, definitions);
  await world.reconcile(definitions, `${NS}/web`);
  await world.server.patchStatus(
    DEFINITIONS,
    { namespace: NS, name: "web" },
    { status: { readySummary: "9/9" } },
  );
  await world.settle();
  world.server.calls.length = 0;
  world.clock.advance(5_000);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(applied(world).length, 1);
  assert.equal(stored(world).readySummary, "1/1");
});

test("the pass that creates a Definition's Instances counts them, so the next pass writes nothing", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", webSpec({ replicas: 2 }));
  await world.reconcile(definitions, `${NS}/web`);
  const [first] = applied(world);
  assert.equal(first?.replicas, 2);
  assert.equal(first?.updatedReplicas, 2);
  assert.equal(first?.readyReplicas, 0);
  assert.equal(first?.readySummary, "0/2");
  assert.equal(instances(world, "web").length, 2);
  world.server.calls.length = 0;
  world.clock.advance(5_000);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(applied(world), [], "its Instances in the cache change nothing the status says");
});
