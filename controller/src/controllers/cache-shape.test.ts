import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/resources.js";
import { LAST_APPLIED_ANNOTATION, withoutBookkeeping, withoutData } from "./cache-shape.js";

test("managedFields and kubectl's last-applied copy are dropped; everything else stays", () => {
  const obj = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: {
      name: "web-0",
      namespace: "team",
      uid: "u",
      resourceVersion: "7",
      labels: { app: "web" },
      annotations: { [LAST_APPLIED_ANNOTATION]: "{}", note: "kept" },
      ownerReferences: [{ apiVersion: "v", kind: "Definition", name: "web", uid: "d", controller: true }],
      managedFields: [{ manager: "berth", operation: "Update", fieldsV1: { "f:spec": {} } }],
    },
    spec: { definition: "web" },
    status: { phase: "Running" },
  } as KubeObject & { spec: unknown; status: unknown };
  const shaped = withoutBookkeeping(obj) as typeof obj;
  assert.deepEqual(shaped, {
    ...obj,
    metadata: {
      name: "web-0",
      namespace: "team",
      uid: "u",
      resourceVersion: "7",
      labels: { app: "web" },
      annotations: { note: "kept" },
      ownerReferences: obj.metadata?.ownerReferences,
    },
  });
  assert.ok("managedFields" in obj.metadata!, "the object handed in is not edited");
});

test("an object with nothing to drop is handed back as it is; an emptied annotation map goes", () => {
  const plain: KubeObject = { kind: "Node", metadata: { name: "a", annotations: { x: "1" } } };
  assert.equal(withoutBookkeeping(plain), plain);
  const onlyLastApplied: KubeObject = {
    kind: "Definition",
    metadata: { name: "d", annotations: { [LAST_APPLIED_ANNOTATION]: "{}" } },
  };
  assert.deepEqual(withoutBookkeeping(onlyLastApplied), { kind: "Definition", metadata: { name: "d" } });
  assert.equal(withoutBookkeeping({ kind: "X" }).kind, "X");
});

test("a delivered environment is cached without its data, its annotations and type kept", () => {
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    type: "berth.dev/environment",
    metadata: {
      name: "e",
      namespace: "berth-node-a",
      annotations: { "berth.dev/inputs": "h" },
      managedFields: [],
    },
    data: { environment: "c2VjcmV0" },
    stringData: { other: "secret" },
  };
  assert.deepEqual(withoutData(secret), {
    apiVersion: "v1",
    kind: "Secret",
    type: "berth.dev/environment",
    metadata: { name: "e", namespace: "berth-node-a", annotations: { "berth.dev/inputs": "h" } },
  });
});
