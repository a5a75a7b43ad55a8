import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFINITIONS, ENDPOINT_SLICES, SERVICES, type EndpointSlice } from "../../kube/resources.js";
import { NS, applyDefinition, markRunning, type World } from "../../testing/reconciler-fixtures.js";
import { KEY, listed, mirrorWorld, runningInstance, writes } from "../../testing/discovery-fixtures.js";
import { sameSlice } from "./discovery.js";
import { newDiscoveryController } from "./discovery-watches.js";
import { OwnMirrorWrites } from "./own-mirror-writes.js";

function slice(resourceVersion: string, ready: boolean): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { namespace: NS, name: "web-1", resourceVersion },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.0.0.5"], conditions: { ready } }],
  };
}

test("the event of its own write is an echo once, whether it comes before or after the answer", () => {
  const own = new OwnMirrorWrites<EndpointSlice>(sameSlice);
  const sent = slice("4", true);
  assert.equal(own.echoes(slice("5", true), 0), false, "nothing written");
  own.writing(sent, 0);
  assert.equal(own.echoes(slice("5", true), 0), true, "before the answer");
  assert.equal(own.echoes(slice("5", true), 0), false, "once");
  own.writing(sent, 0);
  own.wrote(sent, slice("7", true));
  assert.equal(own.echoes(slice("6", true), 0), false, "an event older than the write");
  assert.equal(own.echoes(slice("8", true), 0), true, "at or after the version it made, same content");
});

test("other content, a refused write, a lapsed note or a deletion make no echo", () => {
  const own = new OwnMirrorWrites<EndpointSlice>(sameSlice);
  const sent = slice("4", true);
  own.writing(sent, 0);
  own.wrote(sent, slice("5", true));
  assert.equal(own.echoes(slice("5", false), 0), false, "someone else's content");
  assert.equal(own.echoes(slice("6", true), 0), false, "the note went with that event");
  own.writing(sent, 0);
  own.refused(sent);
  assert.equal(own.echoes(slice("5", true), 0), false, "refused");
  own.writing(sent, 0);
  assert.equal(own.echoes(slice("5", true), 30_000), false, "lapsed");
  own.writing(sent, 0);
  own.wrote(sent, slice("5", true));
  assert.deepEqual(own.created(`${NS}/web-1`, 0), slice("5", true), "the object made, while awaited");
  let onDelete: ((object: EndpointSlice) => void) | undefined;
  own.observeDeletions({ addHandler: (handlers) => (onDelete = handlers.onDelete) });
  onDelete?.(slice("5", true));
  assert.equal(own.created(`${NS}/web-1`, 0), undefined, "deleted");
  assert.equal(own.echoes(slice("6", true), 0), false, "deleted");
});

/** The discovery controller's watches, with the keys they wake recorded instead of queued. */
async function watchedWorld(t: Parameters<typeof mirrorWorld>[0]) {
  const mirrored = await mirrorWorld(t);
  const controller = newDiscoveryController(mirrored.world.context, mirrored.mirror, mirrored.reconciler);
  const woken: string[] = [];
  controller.enqueue = (key: string) => void woken.push(key);
  return { ...mirrored, woken };
}

async function changed(world: World, woken: string[], change: () => Promise<unknown>): Promise<string[]> {
  woken.length = 0;
  await change();
  await world.settle();
  return [...woken];
}

test("the watch events of discovery's own Service and slice writes wake no pass", async (t) => {
  const { world, reconcile, woken } = await watchedWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  await runningInstance(world, "web-abc-1", 8080);
  // Its Published condition comes back as the Definition's event, not the mirror's.
  world.server.holdWatchEvents(DEFINITIONS);
  world.server.calls.length = 0;
  assert.deepEqual(await changed(world, woken, reconcile), [], "the Service and slice creates");
  assert.deepEqual(
    writes(world).filter((w) => !w.includes("definitions")),
    ["create services", "create endpointslices"],
  );
  await markRunning(world, "web-abc-1", false);
  world.server.calls.length = 0;
  assert.deepEqual(await changed(world, woken, reconcile), [], "the slice update");
  assert.deepEqual(writes(world), ["replace endpointslices"]);
});

test("anyone else's change to a slice or the Service discovery owns wakes a pass that puts it right", async (t) => {
  const { world, reconcile, woken } = await watchedWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  await reconcile();
  await world.settle();
  const published = listed(world);
  const [mine] = world.server.peekAll(ENDPOINT_SLICES, NS);
  assert.ok(mine);
  const web = { namespace: NS, name: "web" };
  const sliceRef = { namespace: NS, name: mine.metadata?.name ?? "" };

  const handEdit = () => world.server.replace(ENDPOINT_SLICES, { ...mine, endpoints: [] });
  assert.deepEqual(await changed(world, woken, handEdit), [KEY], "a hand edit of the slice");
  await reconcile();
  assert.deepEqual(listed(world), published);

  const deletion = () => world.server.delete(ENDPOINT_SLICES, sliceRef);
  assert.deepEqual(await changed(world, woken, deletion), [KEY], "the slice deleted");
  await reconcile();
  assert.deepEqual(listed(world), published);

  const disowned = () => world.server.mergePatch(SERVICES, web, { metadata: { ownerReferences: null } });
  assert.deepEqual(await changed(world, woken, disowned), [KEY], "the Service's owner taken off");
  await reconcile();
  assert.equal(world.server.peek(SERVICES, web)?.metadata?.ownerReferences?.[0]?.name, "web");

  const serviceGone = () => world.server.delete(SERVICES, web);
  assert.deepEqual(await changed(world, woken, serviceGone), [KEY], "the Service deleted");
  await reconcile();
  assert.ok(world.server.peek(SERVICES, web), "made anew");
});

test("a pass before the cache shows the Service it created uses it instead of creating it again", async (t) => {
  const { world, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { hostPort: 8080, image: { name: "web", port: 80 } });
  world.server.holdWatchEvents(SERVICES);
  await runningInstance(world, "web-abc-0", 8080);
  await reconcile();
  await markRunning(world, "web-abc-0", false);
  world.server.calls.length = 0;
  assert.equal(await reconcile(), undefined, "no requeue");
  assert.deepEqual(writes(world), ["replace endpointslices"], "no second create of the Service");
  assert.deepEqual(listed(world), [["web-abc-0", false]]);
  world.server.releaseWatchEvents();
  await world.settle();
});

test("the echo a pass waits for, having found the cache behind the write, wakes it", async (t) => {
  const { world, reconcile, woken } = await watchedWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 }, hostPort: 8080 });
  await runningInstance(world, "web-abc-0", 8080);
  await runningInstance(world, "web-abc-1", 8080);
  await reconcile();
  await world.settle();
  world.server.holdWatchEvents(ENDPOINT_SLICES);
  await markRunning(world, "web-abc-1", false);
  await reconcile();
  await markRunning(world, "web-abc-0", false);
  assert.deepEqual(await reconcile(), { requeue: true }, "the cache is behind its slice write");
  const release = async () => world.server.releaseWatchEvents();
  assert.deepEqual(await changed(world, woken, release), [KEY]);
  await reconcile();
  assert.deepEqual(listed(world), [
    ["web-abc-0", false],
    ["web-abc-1", false],
  ]);
});
