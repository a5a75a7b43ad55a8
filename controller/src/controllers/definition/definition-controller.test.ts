import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { DEFINITION_FINALIZER, INSTANCE_FINALIZER } from "../../api/vocabulary.js";
import { DEFINITIONS, INSTANCES } from "../../kube/resources.js";
import { getCondition } from "../../runtime/conditions.js";
import { DefinitionReconciler } from "./definition-controller.js";
import { STATUS_COALESCE_MS } from "./status-pacing.js";
import {
  NS,
  applyDefinition,
  bind,
  eventReasons,
  instances,
  markRunning,
  names,
  newWorld,
  readyNode,
  webSpec,
  type World,
} from "../../testing/reconciler-fixtures.js";
import { SchedulerReconciler } from "../scheduler/scheduler-controller.js";

const web = webSpec;

async function setup(t: TestContext): Promise<{ world: World; definitions: DefinitionReconciler }> {
  const world = await newWorld();
  t.after(() => world.stop());
  await readyNode(world, "node-a");
  await readyNode(world, "node-b");
  return { world, definitions: new DefinitionReconciler(world.context) };
}

/** Plays scheduler and agent: every unbound Instance of the Definition goes to a node and gets ready. */
async function runAll(world: World, definition: string): Promise<void> {
  for (const [index, instance] of instances(world, definition).entries()) {
    if (instance.metadata.deletionTimestamp !== undefined) continue;
    if (!instance.spec.nodeName)
      await bind(world, instance.metadata.name ?? "", index % 2 ? "node-b" : "node-a");
    if (instance.status?.ready !== true) await markRunning(world, instance.metadata.name ?? "");
  }
}

function condition(world: World, name: string, type: string): string | undefined {
  const found = getCondition(
    world.server.peek(DEFINITIONS, { namespace: NS, name })?.status?.conditions,
    type,
  );
  return found ? `${found.status}/${found.reason}` : undefined;
}

test("scale: Instances are created up to replicas, once, and the surplus goes when lowered", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 3 }));
  await world.reconcile(definitions, `${NS}/web`);
  const created = instances(world, "web");
  assert.equal(created.length, 3);
  assert.deepEqual(
    created.map((i) => i.metadata.name?.replace(/-[0-9a-f]{10}-/, "-<id>-")),
    ["web-<id>-0", "web-<id>-1", "web-<id>-2"],
  );
  assert.ok(created.every((i) => i.metadata.finalizers?.includes(INSTANCE_FINALIZER)));
  assert.deepEqual(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.metadata.finalizers, [
    DEFINITION_FINALIZER,
  ]);
  assert.deepEqual(eventReasons(world, `${NS}/web`), ["InstancesCreated"]);

  // A replayed pass changes nothing.
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 3);

  await runAll(world, "web");
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(condition(world, "web", "Ready"), "True/InstancesReady");

  await applyDefinition(world, "web", web({ replicas: 1 }));
  await world.reconcile(definitions, `${NS}/web`);
  const left = instances(world, "web").filter((i) => i.metadata.deletionTimestamp === undefined);
  assert.equal(left.length, 1);
  assert.equal(instances(world, "web").length, 3, "the deleted ones wait for their agent (finalizer)");
  assert.ok(eventReasons(world, `${NS}/web`).includes("InstancesDeleted"));
});

test("Instances are created in slow-start batches of 1, 2, 4, ... side by side; a refused create stops the rest", async (t) => {
  const { world, definitions } = await setup(t);
  const create = world.server.create.bind(world.server);
  let inFlight = 0;
  const seen: number[] = [];
  let refuse: number | undefined = undefined;
  world.server.create = (async (resource, obj) => {
    if (resource.plural !== INSTANCES.plural) return await create(resource, obj);
    seen.push(inFlight);
    const call = seen.length;
    inFlight++;
    await new Promise((resolve) => setImmediate(resolve));
    inFlight--;
    if (call === refuse) throw new Error("the API server refused it");
    return await create(resource, obj);
  }) as typeof world.server.create;
  await applyDefinition(world, "web", web({ replicas: 10 }));
  await world.reconcile(definitions, `${NS}/web`);
  // What was in flight as each create went out: batches of 1, 2, 4 and the last 3.
  assert.deepEqual(seen, [0, 0, 1, 0, 1, 2, 3, 0, 1, 2]);
  assert.equal(instances(world, "web").length, 10);

  await applyDefinition(world, "api", web({ replicas: 10 }));
  seen.length = 0;
  refuse = 2;
  await assert.rejects(world.reconcile(definitions, `${NS}/api`), /refused/);
  assert.equal(seen.length, 3, "no batch goes out after the one with the refused create");
  assert.equal(instances(world, "api").length, 2);
});

test("a lagging cache never makes it create twice", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 2 }));
  // Instance events lag behind; the Definition's own arrive.
  world.server.holdWatchEvents(INSTANCES);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 2);
  // The cache has not shown the two new Instances yet: the pass waits instead of planning again.
  const result = await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 2);
  assert.ok(
    result && result.requeueAfterMs !== undefined && result.requeueAfterMs > 0,
    "it looks again later",
  );
  world.server.releaseWatchEvents();
  await world.settle();
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 2);
});

test("rollout steps: surge one new, remove an old one only once a new one is ready", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 2 }));
  await world.reconcile(definitions, `${NS}/web`);
  await runAll(world, "web");
  await world.reconcile(definitions, `${NS}/web`);
  const old = names(instances(world, "web"));

  await applyDefinition(
    world,
    "web",
    web({ replicas: 2, image: { name: "registry.invalid/web:2", port: 8080 } }),
  );
  await world.reconcile(definitions, `${NS}/web`);
  let all = instances(world, "web");
  assert.equal(all.length, 3, "one surge Instance");
  const [fresh] = all.filter((i) => !old.includes(i.metadata.name ?? ""));
  assert.ok(fresh && fresh.spec.template!.image?.name === "registry.invalid/web:2");
  assert.equal(condition(world, "web", "Progressing"), "True/RolloutInProgress");

  // The new one not ready yet: nothing else happens.
  await bind(world, fresh.metadata.name ?? "", "node-a");
  await world.reconcile(definitions, `${NS}/web`);
  all = instances(world, "web");
  assert.equal(all.length, 3);
  assert.ok(
    all.every((i) => i.metadata.deletionTimestamp === undefined),
    "no old one removed early",
  );

  await markRunning(world, fresh.metadata.name ?? "");
  await world.reconcile(definitions, `${NS}/web`);
  all = instances(world, "web");
  assert.equal(all.filter((i) => i.metadata.deletionTimestamp !== undefined).length, 1, "one old one goes");
  assert.equal(all.filter((i) => !old.includes(i.metadata.name ?? "")).length, 2, "the next new one comes");
  for (let pass = 0; pass < 4; pass++) {
    await runAll(world, "web");
    await world.reconcile(definitions, `${NS}/web`);
  }
  const live = instances(world, "web").filter((i) => i.metadata.deletionTimestamp === undefined);
  assert.equal(live.length, 2);
  assert.ok(live.every((i) => i.spec.template!.image?.name === "registry.invalid/web:2"));
  assert.equal(condition(world, "web", "Progressing"), "True/RolloutComplete");
});

test("dependsOn gates creation until the dependency has a ready Instance", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ dependsOn: ["db"] }));
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 0);
  assert.equal(condition(world, "web", "Degraded"), "True/DependencyMissing");
  assert.deepEqual(eventReasons(world, `${NS}/web`), ["DependencyMissing"]);

  await applyDefinition(world, "db", web());
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 0, "db exists but is not ready");
  assert.equal(condition(world, "web", "Progressing"), "False/WaitingForDependencies");

  await world.reconcile(definitions, `${NS}/db`);
  await runAll(world, "db");
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 1);

  // Each Definition manages only what it owns: web running changes nothing of db's.
  await runAll(world, "web");
  await world.reconcile(definitions, `${NS}/web`);
  await world.reconcile(definitions, `${NS}/db`);
  assert.ok(instances(world).every((i) => i.metadata.deletionTimestamp === undefined));
  assert.equal(instances(world).length, 2);
  assert.equal(condition(world, "web", "Ready"), "True/InstancesReady");
});

test("deleting a Definition deletes its Instances, Pending ones included, then lets it go", async (t) => {
  const { world, definitions } = await setup(t);
  const scheduler = new SchedulerReconciler(world.context);
  await applyDefinition(world, "web", web({ replicas: 2, hostPort: 9000 }));
  await applyDefinition(world, "web", web({ replicas: 3, hostPort: 9000 }));
  await world.reconcile(definitions, `${NS}/web`);
  for (const name of names(instances(world, "web"))) await world.reconcile(scheduler, `${NS}/${name}`);
  const pending = instances(world, "web").filter((i) => !i.spec.nodeName);
  assert.equal(pending.length, 1, "two nodes, one host port: one Instance stays Pending");

  await world.server.delete(DEFINITIONS, { namespace: NS, name: "web" });
  await world.settle();
  await world.reconcile(definitions, `${NS}/web`);
  assert.ok(instances(world, "web").every((i) => i.metadata.deletionTimestamp !== undefined));
  assert.ok(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" }), "kept while Instances remain");

  // Nobody runs a container for the Pending one: the scheduler lets it go at once.
  await world.reconcile(scheduler, `${NS}/${pending[0]?.metadata.name ?? ""}`);
  assert.equal(instances(world, "web").length, 2);
  await world.reconcile(definitions, `${NS}/web`);
  assert.ok(
    world.server.peek(DEFINITIONS, { namespace: NS, name: "web" }),
    "bound ones wait for their agent",
  );

  // The agents remove their containers and then the finalizer.
  for (const instance of instances(world, "web")) {
    await world.server.jsonPatch(INSTANCES, { namespace: NS, name: instance.metadata.name ?? "" }, [
      { op: "replace", path: "/metadata/finalizers", value: [] },
    ]);
  }
  await world.settle();
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" }), undefined);
  assert.ok(eventReasons(world, `${NS}/web`).includes("InstancesRemoved"));
});

test("a Definition re-created under the same name never adopts or collides with the old one's terminating Instances", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 2 }));
  await world.reconcile(definitions, `${NS}/web`);
  await runAll(world, "web");
  const old = instances(world, "web");
  // The old Definition goes while its Instances are still terminating (their agents are slow).
  await world.server.delete(DEFINITIONS, { namespace: NS, name: "web" });
  await world.settle();
  await world.reconcile(definitions, `${NS}/web`);
  await world.server.jsonPatch(DEFINITIONS, { namespace: NS, name: "web" }, [
    { op: "replace", path: "/metadata/finalizers", value: [] },
  ]);
  await world.settle();
  assert.equal(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" }), undefined);

  const renewed = await applyDefinition(world, "web", web({ replicas: 2 }));
  await world.reconcile(definitions, `${NS}/web`);
  const all = instances(world, "web");
  const fresh = all.filter((i) => !names(old).includes(i.metadata.name ?? ""));
  assert.equal(fresh.length, 2, "two new Instances, under names the old ones do not hold");
  assert.ok(fresh.every((i) => i.metadata.ownerReferences?.[0]?.uid === renewed.metadata.uid));
  assert.equal(all.length, 4);
  assert.ok(
    all.filter((i) => names(old).includes(i.metadata.name ?? "")).every((i) => i.metadata.deletionTimestamp),
    "the old ones are still terminating, untouched",
  );
  // Its status counts only its own Instances.
  await runAll(world, "web");
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.status?.replicas, 2);
});

test("status: one more address within a second of the last write waits for the window; a gone one does not", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 3 }));
  await world.reconcile(definitions, `${NS}/web`);
  await runAll(world, "web");
  const [a, b, c] = names(instances(world, "web"));
  const serve = async (name: string, ready: boolean): Promise<void> => {
    const address = { host: `${name}.invalid`, port: 8080, url: `http://${name}.invalid:8080` };
    await world.server.patchStatus(INSTANCES, { namespace: NS, name }, { status: { ready, address } });
    await world.settle();
  };
  const addresses = (): string[] | undefined =>
    world.server.peek(DEFINITIONS, { namespace: NS, name: "web" })?.status?.addresses;
  await serve(a!, false);
  await serve(b!, false);
  // The third stays not ready throughout: the conditions do not turn, only counts and addresses move.
  await serve(c!, false);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(addresses() ?? [], []);

  await serve(a!, true);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(addresses(), [`http://${a}.invalid:8080`], "the first address at once");

  await serve(b!, true);
  const waited = await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(addresses(), [`http://${a}.invalid:8080`], "the second waits for the window");
  assert.ok(waited?.requeueAfterMs !== undefined && waited.requeueAfterMs <= STATUS_COALESCE_MS);

  world.clock.advance(STATUS_COALESCE_MS);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(addresses(), [`http://${a}.invalid:8080`, `http://${b}.invalid:8080`].sort());

  await serve(a!, false);
  await world.reconcile(definitions, `${NS}/web`);
  assert.deepEqual(addresses(), [`http://${b}.invalid:8080`], "an address that went is taken off at once");
});
