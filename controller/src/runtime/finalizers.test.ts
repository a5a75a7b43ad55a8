import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfigMap } from "../kube/resources.js";
import { CONFIGMAPS } from "../kube/resources.js";
import { isPatchTestFailed } from "../kube/errors.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { addFinalizer, removeFinalizer } from "./finalizers.js";

const ref = { namespace: "default", name: "thing" };

async function created(api: FakeApiServer, finalizers?: string[]): Promise<ConfigMap> {
  return await api.create(CONFIGMAPS, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { ...ref, ...(finalizers ? { finalizers } : {}) },
    data: { a: "1" },
  });
}

test("a finalizer goes on an object that changed elsewhere since it was read", async () => {
  // A new object's status is written by another controller (a new resourceVersion) before
  // this one adds its finalizer: that is no conflict, the list is still absent.
  const api = new FakeApiServer();
  const read = await created(api);
  await api.replace(CONFIGMAPS, { ...read, data: { a: "2" } });
  const updated = await addFinalizer(api, CONFIGMAPS, read, "berth.dev/test");
  assert.deepEqual(updated.metadata?.finalizers, ["berth.dev/test"]);
  assert.deepEqual(api.peek(CONFIGMAPS, ref)?.data, { a: "2" }, "the other change is kept");
});

test("a finalizer list someone else wrote since the read is never overwritten", async () => {
  const api = new FakeApiServer();
  const read = await created(api);
  await api.replace(CONFIGMAPS, { ...read, metadata: { ...read.metadata, finalizers: ["other.dev/f"] } });
  await assert.rejects(addFinalizer(api, CONFIGMAPS, read, "berth.dev/test"), isPatchTestFailed);
  assert.deepEqual(api.peek(CONFIGMAPS, ref)?.metadata?.finalizers, ["other.dev/f"]);
});

test("a changed list fails the removal too", async () => {
  const api = new FakeApiServer();
  const read = await created(api, ["berth.dev/test"]);
  await api.replace(CONFIGMAPS, {
    ...read,
    metadata: { ...read.metadata, finalizers: ["berth.dev/test", "other.dev/f"] },
  });
  await assert.rejects(removeFinalizer(api, CONFIGMAPS, read, "berth.dev/test"), isPatchTestFailed);
  const current = await api.get(CONFIGMAPS, ref);
  const removed = await removeFinalizer(api, CONFIGMAPS, current, "berth.dev/test");
  assert.deepEqual(removed.metadata?.finalizers, ["other.dev/f"]);
});
