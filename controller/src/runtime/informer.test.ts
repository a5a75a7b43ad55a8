import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/resources.js";
import { CONFIGMAPS } from "../kube/resources.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { Informer, deepFreeze, objectKey, parseKey } from "./informer.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";

function cm(name: string, rv: string): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "ns", name, resourceVersion: rv } };
}

function recorder() {
  const seen: string[] = [];
  return {
    seen,
    handlers: {
      onAdd: (o: KubeObject) => seen.push(`add ${o.metadata?.name}`),
      onUpdate: (_: KubeObject, o: KubeObject) => seen.push(`update ${o.metadata?.name}`),
      onDelete: (o: KubeObject) => seen.push(`delete ${o.metadata?.name}`),
    },
  };
}

test("lists, syncs, then follows watch events from the list's resourceVersion", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({ items: [cm("a", "5")], resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock() });
  const { seen, handlers } = recorder();
  informer.addHandler(handlers);
  informer.start();
  assert.equal(await informer.waitForSync(), true);
  await flushPromises();
  assert.equal(client.watches[0]?.options.resourceVersion, "10");
  assert.equal(client.watches[0]?.options.allowWatchBookmarks, true);
  client.watches[0]!.emit({ type: "MODIFIED", object: cm("a", "11") });
  client.watches[0]!.emit({ type: "ADDED", object: cm("b", "12") });
  client.watches[0]!.emit({ type: "BOOKMARK", object: { metadata: { resourceVersion: "20" } } });
  client.watches[0]!.emit({ type: "DELETED", object: cm("a", "21") });
  assert.deepEqual(seen, ["add a", "update a", "add b", "delete a"]);
  assert.equal(informer.lastResourceVersion(), "21");
  assert.deepEqual(informer.keys(), ["ns/b"]);
  await informer.stop();
});

test("cached objects are frozen all the way down", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({ items: [cm("a", "5")], resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock() });
  informer.start();
  await informer.waitForSync();
  const cached = informer.get("ns", "a")!;
  assert.throws(() => {
    (cached.metadata as { name: string }).name = "changed";
  }, TypeError);
  const copy = structuredClone(cached);
  copy.metadata!.name = "copy";
  assert.equal(informer.get("ns", "a")?.metadata?.name, "a");
  await informer.stop();
});

test("410 Gone relists and reports objects that vanished meanwhile as deleted", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({ items: [cm("a", "5"), cm("b", "6")], resourceVersion: "10" });
  client.listResults.push({ items: [cm("b", "6"), cm("c", "30")], resourceVersion: "40" });
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock() });
  const { seen, handlers } = recorder();
  informer.addHandler(handlers);
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  client.watches[0]!.emit({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } });
  await flushPromises();
  assert.deepEqual(seen, ["add a", "add b", "add c", "delete a"]);
  assert.equal(client.watches.length, 2);
  assert.equal(client.watches[1]?.options.resourceVersion, "40");
  await informer.stop();
});

test("a failed list or watch is retried with backoff and never stops the informer", async () => {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push(new Error("connection refused"));
  client.listResults.push({ items: [], resourceVersion: "3" });
  const informer = new Informer(client, CONFIGMAPS, { clock, backoffInitialMs: 100, backoffMaxMs: 1000 });
  informer.start();
  await flushPromises();
  assert.equal(informer.hasSynced(), false);
  await clock.advanceAsync(200);
  assert.equal(informer.hasSynced(), true);
  client.watches[0]!.end(Object.assign(new Error("socket hang up"), { statusCode: 0 }));
  await flushPromises();
  assert.equal(client.watches.length, 1, "waits before retrying");
  await clock.advanceAsync(200);
  assert.equal(client.watches.length, 2);
  assert.equal(client.watches[1]?.options.resourceVersion, "3", "resumes from the last resourceVersion");
  await informer.stop();
});

test("the watchdog restarts a watch that went silent", async () => {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push({ items: [], resourceVersion: "3" });
  const informer = new Informer(client, CONFIGMAPS, { clock, silenceTimeoutMs: 5000, backoffInitialMs: 100 });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  await clock.advanceAsync(4000);
  client.watches[0]!.emit({ type: "BOOKMARK", object: { metadata: { resourceVersion: "4" } } });
  await clock.advanceAsync(4000);
  assert.equal(client.watches[0]?.stopped, false, "a bookmark counts as a sign of life");
  await clock.advanceAsync(1500, 100);
  assert.equal(client.watches[0]?.stopped, true);
  await clock.advanceAsync(500, 100);
  assert.equal(client.watches.length, 2);
  await informer.stop();
});

test("the watchdog also restarts a watch that never got an answer from the server", async () => {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push({ items: [], resourceVersion: "3" });
  const informer = new Informer(client, CONFIGMAPS, { clock, silenceTimeoutMs: 5000, backoffInitialMs: 100 });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  // The first watch works, then ends; the second connects to a server that never answers.
  client.stalledConnects = 1;
  client.watches[0]!.end();
  await clock.advanceAsync(2000, 100);
  assert.equal(client.watches.length, 2, "the watch was reopened");
  await clock.advanceAsync(2000, 100);
  assert.equal(client.watches.length, 2, "the stalled watch is given its silence timeout");
  await clock.advanceAsync(2000, 100);
  assert.equal(client.watches.length, 3, "the stalled watch was abandoned and a new one opened");
  assert.equal(client.watches[2]?.options.resourceVersion, "3");
  client.watches[2]!.emit({ type: "ADDED", object: cm("late", "9") });
  assert.ok(informer.get("ns", "late"), "events flow again");
  await informer.stop();
});

test("stopping the informer ends a watch that is still waiting for its answer", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({ items: [], resourceVersion: "3" });
  client.stalledConnects = 1;
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock(), silenceTimeoutMs: 5000 });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  assert.equal(client.watches.length, 1);
  await informer.stop(); // would hang if the pending watch could not be aborted
});

test("keys: namespace/name, or the name alone for cluster-scoped objects; parseKey reads them back", () => {
  assert.equal(objectKey(cm("a", "1")), "ns/a");
  assert.equal(objectKey({ metadata: { name: "node-a" } }), "node-a");
  assert.equal(objectKey({}), "");
  assert.deepEqual(parseKey("ns/a"), { namespace: "ns", name: "a" });
  assert.deepEqual(parseKey("node-a"), { name: "node-a" });
  assert.deepEqual(parseKey("ns/a/b"), { namespace: "ns", name: "a/b" });
});

test("deepFreeze freezes nested objects and arrays, and leaves scalars alone", () => {
  const value = { a: { b: [{ c: 1 }] } };
  assert.equal(deepFreeze(value), value);
  assert.ok(Object.isFrozen(value.a.b[0]));
  assert.equal(deepFreeze(3), 3);
  assert.equal(deepFreeze(null), null);
});

test("reads: by namespace and name, by key, by namespace, all; selectors go to list and watch", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({
    items: [
      cm("a", "1"),
      { ...cm("b", "2"), metadata: { namespace: "other", name: "b", resourceVersion: "2" } },
    ],
    resourceVersion: "10",
  });
  const informer = new Informer(client, CONFIGMAPS, {
    clock: new FakeClock(),
    namespace: "ns",
    labelSelector: "app=web",
    fieldSelector: "metadata.name=a",
    watchTimeoutSeconds: 100,
  });
  assert.equal(informer.hasSynced(), false);
  informer.start();
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  assert.equal(informer.get("ns", "a")?.metadata?.name, "a");
  assert.equal(informer.get("other", "b")?.metadata?.name, "b");
  assert.equal(informer.get(undefined, "a"), undefined);
  assert.equal(informer.getByKey("other/b")?.metadata?.name, "b");
  assert.deepEqual(
    informer.list("ns").map((o) => o.metadata?.name),
    ["a"],
  );
  assert.equal(informer.list().length, 2);
  assert.equal(client.calls.filter((c) => c.verb === "list").length, 1, "a second start() does nothing");
  assert.equal(client.watches.length, 1);
  const options = client.watches[0]!.options;
  assert.equal(options.namespace, "ns");
  assert.equal(options.labelSelector, "app=web");
  assert.equal(options.fieldSelector, "metadata.name=a");
  assert.ok(options.timeoutSeconds! >= 100 && options.timeoutSeconds! <= 200, String(options.timeoutSeconds));
  await informer.stop();
});

test("a handler added after sync hears of every cached object; a throwing handler stops no other", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({ items: [cm("a", "1"), cm("b", "2")], resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock() });
  informer.addHandler({
    onAdd: () => {
      throw new Error("handler bug");
    },
  });
  informer.start();
  await informer.waitForSync();
  const { seen, handlers } = recorder();
  informer.addHandler(handlers);
  assert.deepEqual(seen, ["add a", "add b"]);
  await flushPromises();
  client.watches[0]!.emit({ type: "ADDED", object: cm("c", "11") });
  assert.deepEqual(seen, ["add a", "add b", "add c"]);
  await informer.stop();
});

test("an event with an unchanged resourceVersion is no update; a delete of an unknown object is still told", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({ items: [cm("a", "1")], resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock() });
  const deleted: KubeObject[] = [];
  const { seen, handlers } = recorder();
  informer.addHandler(handlers);
  informer.addHandler({ onDelete: (o) => deleted.push(o) });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  client.watches[0]!.emit({ type: "MODIFIED", object: cm("a", "1") });
  client.watches[0]!.emit({ type: "DELETED", object: cm("ghost", "12") });
  assert.deepEqual(seen, ["add a", "delete ghost"]);
  assert.ok(Object.isFrozen(deleted[0]), "handlers get frozen objects");
  assert.equal(informer.lastResourceVersion(), "12");
  await informer.stop();
});

test("a non-410 error event restarts the watch after a backoff, from the last resourceVersion, without a relist", async () => {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push({ items: [], resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock, backoffInitialMs: 100, backoffMaxMs: 100 });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  client.watches[0]!.emit({ type: "BOOKMARK", object: { metadata: { resourceVersion: "15" } } });
  client.watches[0]!.emit({ type: "ERROR", object: { kind: "Status", code: 500, reason: "InternalError" } });
  client.watches[0]!.emit({ type: "ADDED", object: cm("late", "16") });
  await flushPromises();
  assert.equal(informer.keys().length, 0, "nothing is taken from a watch after its error");
  assert.equal(client.watches.length, 1);
  await clock.advanceAsync(100);
  assert.equal(client.watches.length, 2);
  assert.equal(client.watches[1]?.options.resourceVersion, "15");
  assert.equal(client.calls.filter((c) => c.verb === "list").length, 1);
  await informer.stop();
});

test("a watch the server closes after delivering is resumed at once; one closed at once backs off", async () => {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push({ items: [], resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock, backoffInitialMs: 400, backoffMaxMs: 400 });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  client.watches[0]!.emit({ type: "ADDED", object: cm("a", "11") });
  client.watches[0]!.end();
  await flushPromises();
  assert.equal(client.watches.length, 2, "resumed without waiting");
  client.watches[1]!.end();
  await flushPromises();
  assert.equal(client.watches.length, 2, "closed with nothing delivered at once: wait");
  await clock.advanceAsync(400);
  assert.equal(client.watches.length, 3);
  await informer.stop();
});

test("waitForSync answers false when its signal aborts or the informer stops first", async () => {
  const client = new FakeKubeClient();
  client.listResults.push(new Error("down"));
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock(), backoffInitialMs: 1000 });
  informer.start();
  const abort = new AbortController();
  const waiting = informer.waitForSync(abort.signal);
  abort.abort();
  assert.equal(await waiting, false);
  const stopped = informer.waitForSync();
  await informer.stop();
  assert.equal(await stopped, false);
});
