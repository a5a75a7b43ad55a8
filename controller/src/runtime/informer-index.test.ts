import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/resources.js";
import { CONFIGMAPS } from "../kube/resources.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { Informer } from "./informer.js";
import { CacheIndexes } from "./cache-indexes.js";

/** A ConfigMap filed by its "team" label (an index function's usual shape: a field, or nothing). */
function cm(name: string, rv: string, team?: string, namespace = "ns"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { namespace, name, resourceVersion: rv, ...(team ? { labels: { team } } : {}) },
  };
}
const byTeam = (o: KubeObject): string[] => (o.metadata?.labels?.team ? [o.metadata.labels.team] : []);
const names = (objs: readonly KubeObject[]): string[] => objs.map((o) => o.metadata?.name ?? "");

async function started(items: KubeObject[]) {
  const client = new FakeKubeClient();
  client.listResults.push({ items, resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock() });
  informer.addIndex("team", byTeam);
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  return { client, informer };
}

test("an index files listed objects, and watch adds, updates and deletes refile them", async () => {
  const { client, informer } = await started([cm("a", "1", "red"), cm("b", "2", "blue"), cm("c", "3")]);
  assert.deepEqual(names(informer.byIndex("team", "red")), ["a"]);
  assert.deepEqual(names(informer.byIndex("team", "blue")), ["b"]);
  assert.deepEqual(informer.byIndex("team", "green"), []);

  const watch = client.watches[0]!;
  watch.emit({ type: "ADDED", object: cm("d", "11", "red") });
  assert.deepEqual(names(informer.byIndex("team", "red")), ["a", "d"], "an add is filed");
  watch.emit({ type: "MODIFIED", object: cm("a", "12", "blue") });
  assert.deepEqual(names(informer.byIndex("team", "red")), ["d"], "an update leaves the old value");
  assert.deepEqual(names(informer.byIndex("team", "blue")), ["b", "a"], "and is filed under the new one");
  assert.equal(informer.byIndex("team", "blue")[1]?.metadata?.resourceVersion, "12", "the current object");
  watch.emit({ type: "MODIFIED", object: cm("c", "13", "red") });
  assert.deepEqual(names(informer.byIndex("team", "red")), ["d", "c"], "an update that gains a value");
  watch.emit({ type: "DELETED", object: cm("b", "14", "blue") });
  assert.deepEqual(names(informer.byIndex("team", "blue")), ["a"], "a delete is unfiled");
  watch.emit({ type: "MODIFIED", object: cm("d", "15") });
  assert.deepEqual(names(informer.byIndex("team", "red")), ["c"], "an update that loses every value");
  await informer.stop();
});

test("a relist refiles changed objects and unfiles those that vanished meanwhile", async () => {
  const { client, informer } = await started([
    cm("a", "1", "red"),
    cm("b", "2", "red"),
    cm("c", "3", "blue"),
  ]);
  client.listResults.push({ items: [cm("b", "20", "blue"), cm("e", "21", "red")], resourceVersion: "40" });
  client.watches[0]!.emit({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } });
  await flushPromises();
  assert.equal(client.watches.length, 2, "relisted and watching again");
  assert.deepEqual(names(informer.byIndex("team", "red")), ["e"]);
  assert.deepEqual(names(informer.byIndex("team", "blue")), ["b"]);
  assert.deepEqual(names(informer.list("ns")), ["b", "e"], "the namespace index too");
  await informer.stop();
});

test("a value no object is filed under any more leaves nothing behind", async () => {
  const { client, informer } = await started([]);
  for (let i = 0; i < 50; i++) {
    client.watches[0]!.emit({ type: "ADDED", object: cm(`x${i}`, `${100 + i}`, `team-${i}`, `ns-${i}`) });
  }
  assert.equal(informer.indexValueCount("team"), 50);
  assert.equal(informer.indexValueCount("namespace"), 50);
  for (let i = 0; i < 50; i++) {
    client.watches[0]!.emit({ type: "DELETED", object: cm(`x${i}`, `${200 + i}`, `team-${i}`, `ns-${i}`) });
  }
  assert.equal(informer.indexValueCount("team"), 0);
  assert.equal(informer.indexValueCount("namespace"), 0);
  assert.deepEqual(informer.namespaces(), []);
  await informer.stop();
});

test("an index added after sync files what is cached; the same index again is a no-op, another function an error", async () => {
  const client = new FakeKubeClient();
  client.listResults.push({ items: [cm("a", "1", "red"), cm("b", "2", "blue")], resourceVersion: "10" });
  const informer = new Informer(client, CONFIGMAPS, { clock: new FakeClock() });
  informer.start();
  await informer.waitForSync();
  informer.addIndex("team", byTeam);
  informer.addIndex("team", byTeam);
  assert.deepEqual(names(informer.byIndex("team", "red")), ["a"]);
  assert.throws(() => informer.addIndex("team", () => []), /index team already exists/);
  assert.throws(() => informer.byIndex("colour", "red"), /no index named colour/);
  await informer.stop();
});

test("list(namespace) answers from the namespace index; answers are copies, not views into the cache", async () => {
  const { client, informer } = await started([
    cm("a", "1", "red"),
    cm("b", "2", "red", "other"),
    cm("c", "3"),
  ]);
  assert.deepEqual(names(informer.list("ns")), ["a", "c"]);
  assert.deepEqual(names(informer.list("other")), ["b"]);
  assert.deepEqual(informer.list("none"), []);
  assert.deepEqual(informer.namespaces(), ["ns", "other"]);
  assert.equal(informer.size(), 3);

  const listed = informer.list("ns");
  listed.length = 0;
  const byRed = informer.byIndex("team", "red");
  byRed.pop();
  const all = informer.list();
  all.push(cm("z", "9"));
  assert.deepEqual(names(informer.list("ns")), ["a", "c"]);
  assert.deepEqual(names(informer.byIndex("team", "red")), ["a", "b"]);
  assert.equal(informer.list().length, 3);

  client.watches[0]!.emit({ type: "DELETED", object: cm("a", "11", "red") });
  assert.deepEqual(names(byRed), ["a"], "an earlier answer does not change under its holder");
  await informer.stop();
});

test("an object filed twice under one value is one entry; CacheIndexes refuses lookups in unknown indexes", () => {
  const indexes = new CacheIndexes<KubeObject>();
  indexes.add("twice", () => ["v", "v"], [["ns/a", cm("a", "1")]]);
  assert.deepEqual(indexes.keys("twice", "v"), ["ns/a"]);
  indexes.update("ns/a", undefined);
  assert.deepEqual(indexes.keys("twice", "v"), []);
  assert.equal(indexes.valueCount("twice"), 0);
  assert.equal(indexes.has("twice"), true);
  assert.throws(() => indexes.keys("nope", "v"), /no index named nope/);
});
