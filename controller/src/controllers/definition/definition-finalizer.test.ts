import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { DEFINITION_FINALIZER } from "../../api/vocabulary.js";
import { type DefinitionSpec } from "../../api/types.js";
import { KubeApiError } from "../../kube/errors.js";
import { DEFINITIONS, INSTANCES } from "../../kube/resources.js";
import { DefinitionReconciler } from "./definition-controller.js";
import {
  NS,
  applyDefinition,
  instances,
  newWorld,
  readyNode,
  type World,
} from "../../testing/reconciler-fixtures.js";

const web: DefinitionSpec = { image: { name: "registry.invalid/web:1", port: 8080 }, replicas: 2 };

async function setup(t: TestContext): Promise<{ world: World; definitions: DefinitionReconciler }> {
  const world = await newWorld();
  t.after(() => world.stop());
  await readyNode(world, "node-a");
  return { world, definitions: new DefinitionReconciler(world.context) };
}

/** Holds the Definition's finalizer patch until released; calls the real one then. */
function holdFinalizerPatch(world: World, before?: () => Promise<void>): { release: () => void } {
  const jsonPatch = world.server.jsonPatch.bind(world.server);
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  world.server.jsonPatch = (async (resource, ref, ops) => {
    if (resource.plural !== DEFINITIONS.plural) return await jsonPatch(resource, ref, ops);
    await released;
    await before?.();
    return await jsonPatch(resource, ref, ops);
  }) as typeof world.server.jsonPatch;
  return { release };
}

test("a new Definition's first Instances are created while its finalizer is still on its way", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web);
  const held = holdFinalizerPatch(world);
  const pass = world.reconcile(definitions, `${NS}/web`);
  // The finalizer patch has not returned, yet the Instances are there.
  for (let i = 0; i < 50 && instances(world, "web").length < 2; i++) await world.settle();
  assert.equal(instances(world, "web").length, 2, "created before the finalizer patch returned");
  assert.deepEqual(
    world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.metadata.finalizers,
    undefined,
  );
  held.release();
  await pass;
  assert.deepEqual(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.metadata.finalizers, [
    DEFINITION_FINALIZER,
  ]);
  assert.ok(
    world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.status,
    "status written after it",
  );
});

test("Instances created for a Definition deleted before its finalizer was on are deleted again", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web);
  // The user deletes the Definition while the finalizer patch is on its way: with no
  // finalizer to hold it, it is gone at once and the patch finds nothing.
  const held = holdFinalizerPatch(world, async () => {
    await world.server.delete(DEFINITIONS, { namespace: NS, name: "web" });
  });
  const pass = world.reconcile(definitions, `${NS}/web`);
  for (let i = 0; i < 50 && instances(world, "web").length < 2; i++) await world.settle();
  held.release();
  await pass;
  assert.equal(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" }), undefined);
  const left = instances(world, "web");
  assert.equal(left.length, 2, "their agent removes the containers first (the Instance finalizer)");
  assert.ok(
    left.every((i) => i.metadata.deletionTimestamp !== undefined),
    "every Instance the pass created is being deleted",
  );
});

test("a conflict on the finalizer keeps the Instances, and the retry puts the finalizer on", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web);
  world.server.failures.push({
    verb: "jsonPatch",
    error: new KubeApiError(422, "test of /metadata/finalizers failed", undefined, true),
  });
  await assert.rejects(world.reconcile(definitions, `${NS}/web`), /finalizers failed/);
  assert.equal(instances(world, "web").length, 2);
  assert.ok(instances(world, "web").every((i) => i.metadata.deletionTimestamp === undefined));
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 2, "no second set");
  assert.deepEqual(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.metadata.finalizers, [
    DEFINITION_FINALIZER,
  ]);
  assert.equal(world.server.peekAll(INSTANCES, NS).length, 2);
});

test("a pass before the cache shows the finalizer sends no second finalizer patch", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web);
  world.server.holdWatchEvents(DEFINITIONS);
  await world.reconcile(definitions, `${NS}/web`);
  world.server.calls.length = 0;
  // Woken by its Instances, the next pass reads the Definition without its finalizer.
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(
    world.server.calls.filter((c) => c.verb === "jsonPatch" && c.resource === DEFINITIONS.plural),
    [],
    "no patch the API server would refuse",
  );
  world.server.releaseWatchEvents();
  await world.settle();
  assert.deepEqual(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.metadata.finalizers, [
    DEFINITION_FINALIZER,
  ]);
  assert.equal(instances(world, "web").length, 2, "no second set");
});

test("a Definition deleted and made again under its name gets its finalizer", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web);
  world.server.holdWatchEvents(DEFINITIONS);
  await world.reconcile(definitions, `${NS}/web`);
  // Gone (its finalizer taken off by hand) and made anew before the cache showed either.
  await world.server.jsonPatch(DEFINITIONS, { namespace: NS, name: "web" }, [
    { op: "remove", path: "/metadata/finalizers" },
  ]);
  await world.server.delete(DEFINITIONS, { namespace: NS, name: "web" });
  world.server.releaseWatchEvents();
  await world.settle();
  await applyDefinition(world, "web", web);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.metadata.finalizers, [
    DEFINITION_FINALIZER,
  ]);
});
