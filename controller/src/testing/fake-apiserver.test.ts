import { test } from "node:test";
import assert from "node:assert/strict";
import { CONFIGMAPS } from "../kube/resources.js";
import { FakeApiServer } from "./fake-apiserver.js";

test("the fake API server answers a list with a limit as the real one: one page and the count of the rest", async () => {
  const api = new FakeApiServer();
  for (const name of ["a", "b", "c"]) {
    await api.create(CONFIGMAPS, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace: "ns" },
    });
  }
  const page = await api.list(CONFIGMAPS, { namespace: "ns", limit: 1 });
  assert.equal(page.items.length, 1);
  assert.equal(page.remainingItemCount, 2);
  const all = await api.list(CONFIGMAPS, { namespace: "ns" });
  assert.equal(all.items.length, 3);
  assert.equal(all.remainingItemCount, undefined);
});
