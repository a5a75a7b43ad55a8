import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { type Instance } from "../../api/types.js";
import { DEFINITIONS, INSTANCES } from "../../kube/resources.js";
import { KubeApiError } from "../../kube/errors.js";
import type { EventHandlers } from "../../runtime/informer.js";
import {
  NS,
  applyDefinition,
  instances,
  newWorld,
  webSpec,
  type World,
} from "../../testing/reconciler-fixtures.js";
import { DefinitionReconciler } from "./definition-controller.js";
import { EXPECTATIONS_TTL_MS, Expectations } from "./expectations.js";

const web = webSpec;

async function setup(t: TestContext): Promise<{ world: World; definitions: DefinitionReconciler }> {
  const world = await newWorld();
  t.after(() => world.stop());
  return { world, definitions: new DefinitionReconciler(world.context) };
}

function requests(world: World, verb: string): number {
  return world.server.calls.filter((c) => c.verb === verb && c.resource === INSTANCES.plural).length;
}

test("a pass whose cache catches up while it runs plans from a cache that shows it: nothing is created twice", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 2 }));
  world.server.holdWatchEvents(INSTANCES);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "create"), 2);

  // The next pass looks at the cache (the two not there yet); the watch events come while it
  // works out its deployment.
  const referenced = world.context.referencedContent;
  const of = referenced.of.bind(referenced);
  referenced.of = async (...args) => {
    world.server.releaseWatchEvents();
    await world.settle();
    return await of(...args);
  };
  await world.reconcile(definitions, `${NS}/web`);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "create"), 2, "no create beyond the first two");
  assert.equal(instances(world, "web").length, 2);
});

test("an API server slow to answer does not eat the time the cache has to show a create", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 2 }));
  world.server.holdWatchEvents(INSTANCES);
  const create = world.server.create.bind(world.server);
  world.server.create = (async (resource, obj) => {
    // Each answer takes a minute.
    if (resource.plural === INSTANCES.plural) world.clock.advance(60_000);
    return await create(resource, obj);
  }) as typeof world.server.create;
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "create"), 2);

  // Long after the requests went out, yet within the time to live after their answers.
  world.clock.advance(EXPECTATIONS_TTL_MS - 1);
  const waiting = await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "create"), 2, "the names it asked for are not asked for again");
  assert.ok((waiting?.requeueAfterMs ?? Infinity) <= 100, "it looks again when the time to live ends");

  // The watch events never came: past the time to live it trusts its cache again, and the
  // deterministic names keep that from making more Instances.
  world.clock.advance(1);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(world.server.peekAll(INSTANCES, NS).length, 2);
});

test("a create answered AlreadyExists is not asked for again while the cache has yet to show the name", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 1 }));
  world.server.holdWatchEvents(INSTANCES);
  const create = world.server.create.bind(world.server);
  world.server.create = (async (resource, obj) => {
    const stored = await create(resource, obj);
    // As when an earlier attempt's answer was lost: the name is held, the answer says so.
    if (resource.plural === INSTANCES.plural) {
      throw new KubeApiError(409, "already exists", { kind: "Status", reason: "AlreadyExists", code: 409 });
    }
    return stored;
  }) as typeof world.server.create;
  await world.reconcile(definitions, `${NS}/web`);
  await world.reconcile(definitions, `${NS}/web`);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "create"), 1, "the name is waited for, not asked for again");

  world.server.releaseWatchEvents();
  await world.settle();
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "create"), 1);
  assert.equal(instances(world, "web").length, 1);
});

test("a Definition being deleted asks once for each Instance's delete, however often it passes", async (t) => {
  const { world, definitions } = await setup(t);
  await applyDefinition(world, "web", web({ replicas: 3 }));
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(instances(world, "web").length, 3);
  await world.server.delete(DEFINITIONS, { namespace: NS, name: "web" });
  await world.settle();

  world.server.holdWatchEvents(INSTANCES);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "delete"), 3);
  await world.reconcile(definitions, `${NS}/web`);
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "delete"), 3, "no delete asked twice while the cache lags");

  world.server.releaseWatchEvents();
  await world.settle();
  await world.reconcile(definitions, `${NS}/web`);
  assert.equal(requests(world, "delete"), 3, "the cache shows them terminating: nothing more to ask");
});

test("expectations: struck off by watch events, by what the cache shows, or by the time to live", () => {
  const handlers: Array<EventHandlers<Instance>> = [];
  const expectations = new Expectations({ addHandler: (h) => handlers.push(h) }, 1_000);
  const instance = (name: string, terminating = false): Instance =>
    ({
      metadata: { namespace: NS, name, ...(terminating ? { deletionTimestamp: "now" } : {}) },
    }) as Instance;
  const nothingCached = { get: (): Instance | undefined => undefined };
  const allCached = { get: (_: string | undefined, name: string): Instance | undefined => instance(name) };

  expectations.expectCreates("ns/web", [`${NS}/a`, `${NS}/b`], 0);
  expectations.expectDeletes("ns/web", [`${NS}/old`], 0);
  assert.equal(expectations.satisfied("ns/web", allCached, 0), false, "old is not terminating yet");
  handlers[0]?.onUpdate?.(instance("old"), instance("old", true));
  assert.equal(expectations.satisfied("ns/web", allCached, 0), true);

  expectations.expectCreates("ns/web", [`${NS}/c`], 0);
  assert.equal(expectations.pendingCreates("ns/web").length, 1);
  handlers[0]?.onAdd?.(instance("c"));
  assert.equal(expectations.satisfied("ns/web", nothingCached, 0), true, "the add event struck it off");

  expectations.expectCreates("ns/web", [`${NS}/d`], 0);
  expectations.answered("ns/web", 500);
  assert.equal(expectations.satisfied("ns/web", nothingCached, 1_499), false);
  assert.equal(expectations.remainingMs("ns/web", 1_499), 1);
  assert.equal(expectations.satisfied("ns/web", nothingCached, 1_500), true, "expired: dropped");
  assert.deepEqual(expectations.pendingCreates("ns/web"), []);

  expectations.expectDeletes("ns/web", [`${NS}/e`], 0);
  assert.equal(expectations.deleting("ns/web", `${NS}/e`), true);
  handlers[0]?.onDelete?.(instance("e"));
  assert.equal(expectations.deleting("ns/web", `${NS}/e`), false);
  assert.equal(expectations.satisfied("ns/web", nothingCached, 0), true);
});

test("expectations: past the bound the record written longest ago goes, and its Definition trusts its cache", () => {
  const expectations = new Expectations(undefined, 1_000, 1);
  const nothingCached = { get: (): Instance | undefined => undefined };
  expectations.expectCreates("ns/web", [`${NS}/a`], 0);
  expectations.expectCreates("ns/api", [`${NS}/b`], 0);
  assert.deepEqual(expectations.pendingCreates("ns/web"), [], "pushed out");
  assert.equal(expectations.satisfied("ns/web", nothingCached, 0), true);
  assert.equal(expectations.satisfied("ns/api", nothingCached, 0), false);
  assert.deepEqual(expectations.pendingCreates("ns/api"), [`${NS}/b`]);
});
