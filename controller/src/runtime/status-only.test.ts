import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/resources.js";
import { onlyStatusChanged } from "./status-only.js";

function object(): KubeObject & { spec: unknown; status?: unknown } {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Definition",
    metadata: {
      namespace: "ns",
      name: "web",
      uid: "u1",
      generation: 1,
      resourceVersion: "10",
      labels: { team: "a" },
      finalizers: ["berth.dev/instances"],
    },
    spec: { replicas: 1 },
    status: { readyReplicas: 0 },
  };
}

test("a status write is status only, whatever it did to the resourceVersion and managedFields", () => {
  const before = object();
  const after = object();
  after.status = { readyReplicas: 1, addresses: ["http://10.0.0.5:32768"] };
  after.metadata!.resourceVersion = "11";
  Object.assign(after.metadata!, { managedFields: [{ manager: "berth-definitions" }] });
  assert.equal(onlyStatusChanged(before, after), true);
  const appeared = object();
  delete appeared.status;
  assert.equal(onlyStatusChanged(appeared, after), true, "a first status too");
});

test("a change of spec, labels, annotations, finalizers, owners or deletion is more than status", () => {
  const changes: Array<(o: ReturnType<typeof object>) => void> = [
    (o) => (o.spec = { replicas: 2 }),
    (o) => (o.metadata!.generation = 2),
    (o) => (o.metadata!.labels = { team: "b" }),
    (o) => (o.metadata!.annotations = { note: "x" }),
    (o) => (o.metadata!.finalizers = []),
    (o) => (o.metadata!.ownerReferences = [{ kind: "X", name: "x", uid: "u", apiVersion: "v1" }] as never),
    (o) => (o.metadata!.deletionTimestamp = "2025-01-01T00:00:00Z"),
    (o) => ((o as unknown as Record<string, unknown>).extra = 1),
  ];
  for (const [i, change] of changes.entries()) {
    const after = object();
    change(after);
    after.metadata!.resourceVersion = "11";
    assert.equal(onlyStatusChanged(object(), after), false, `change ${i}`);
  }
});
