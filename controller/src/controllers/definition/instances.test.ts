import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Definition, type Instance, type Node } from "../../api/types.js";
import { INSTANCE_FINALIZER } from "../../api/vocabulary.js";
import { isExternalInstance } from "../../api/vocabulary.js";
import { countByPhase } from "../controller-role.js";
import {
  controllingDefinition,
  desiredInstance,
  freeOrdinals,
  instanceName,
  isOwnedBy,
  needsDeliveredEnvironment,
  viewInstance,
} from "./instances.js";

const definition: Definition = {
  apiVersion: API_VERSION,
  kind: "Definition",
  metadata: { name: "web", namespace: "team", uid: "uid-1", generation: 1 },
  spec: { image: { name: "berth-test/echo:1", port: 8080 }, hostPort: 9000 },
};

test("instanceName follows <definition>-<id 10 chars>-<ordinal>", () => {
  assert.equal(instanceName("web", "0123456789abcdef", 3), "web-0123456789-3");
  const long = instanceName("a".repeat(260), "0123456789abcdef", 12);
  assert.equal(long.length, 253);
  assert.ok(long.endsWith("-0123456789-12"));
});

test("freeOrdinals takes the lowest free names first", () => {
  const taken = new Set(["web-0123456789-0", "web-0123456789-2"]);
  assert.deepEqual(freeOrdinals("web", "0123456789ab", taken, 3), [1, 3, 4]);
});

test("desiredInstance carries owner reference, labels, finalizer and hostPort", () => {
  const instance = desiredInstance(definition, "0123456789abcdef", 0, { image: definition.spec.image! });
  assert.equal(instance.metadata.name, "web-0123456789-0");
  assert.deepEqual(instance.metadata.finalizers, [INSTANCE_FINALIZER]);
  assert.deepEqual(instance.metadata.ownerReferences, [
    {
      apiVersion: API_VERSION,
      kind: "Definition",
      name: "web",
      uid: "uid-1",
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  assert.equal(instance.metadata.labels?.["berth.dev/definition"], "web");
  assert.equal(instance.metadata.labels?.["berth.dev/deployment-id"], "0123456789abcdef");
  assert.equal(instance.spec.hostPort, 9000);
  assert.ok(isOwnedBy(instance, definition));
  assert.ok(!isOwnedBy(instance, { ...definition, metadata: { ...definition.metadata, uid: "uid-2" } }));
});

test("only an Instance with an environment or a pull secret waits for a delivered one", () => {
  const image = definition.spec.image!;
  const bare = desiredInstance(definition, "0123456789abcdef", 0, { image });
  assert.equal(bare.spec.environmentFrom, undefined, "nothing to deliver: the agent starts it at once");
  const withSpec = (spec: Partial<Definition["spec"]>): Definition => ({
    ...definition,
    spec: { ...definition.spec, ...spec },
  });
  const needing: Array<Partial<Definition["spec"]>> = [
    { env: [{ name: "GREETING", value: "hello" }] },
    { envFrom: [{ configMapRef: { name: "settings" } }] },
    { dependsOn: ["db"] },
    { image: { ...image, pullSecret: "registry" } },
  ];
  for (const spec of needing) {
    const instance = desiredInstance(withSpec(spec), "0123456789abcdef", 0, { image });
    assert.equal(instance.spec.environmentFrom, "NodeSecret", JSON.stringify(spec));
    assert.ok(needsDeliveredEnvironment(withSpec(spec).spec));
  }
  assert.ok(!needsDeliveredEnvironment(withSpec({ env: [], envFrom: [], dependsOn: [] }).spec));
});

function readyNode(status: "True" | "Unknown"): Node {
  return {
    apiVersion: API_VERSION,
    kind: "Node",
    metadata: { name: "a" },
    spec: { url: "unix:///x", address: "127.0.0.1" },
    status: {
      conditions: [
        { type: "Ready", status, reason: "r", message: "", lastTransitionTime: "2026-01-01T00:00:00Z" },
      ],
    },
  };
}

test("viewInstance: ready only when the agent says so and the node is Ready", () => {
  const instance: Instance = {
    ...desiredInstance(definition, "0123456789abcdef", 0, {}),
    spec: { definition: "web", deploymentId: "0123456789abcdef", nodeName: "a", template: {} },
    status: {
      phase: "Running",
      ready: true,
      address: { url: "http://127.0.0.1:9000", host: "127.0.0.1", port: 9000 },
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "r",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:05Z",
        },
      ],
    },
  };
  const onReady = viewInstance(instance, () => readyNode("True"));
  assert.equal(onReady.ready, true);
  assert.equal(onReady.address, "http://127.0.0.1:9000");
  assert.equal(onReady.readySince, Date.parse("2026-01-01T00:00:05Z"));
  const onLost = viewInstance(instance, () => readyNode("Unknown"));
  assert.equal(onLost.ready, false);
  assert.equal(onLost.address, undefined);
});

test("an external Instance is neither owned nor controlled, even with the slug and an owner reference", () => {
  const owned = desiredInstance(definition, "0123456789abcdef", 0, { image: definition.spec.image! });
  const external: Instance = {
    ...owned,
    metadata: { ...owned.metadata, name: "web-on-a-vm" },
    spec: { definition: "web", external: { url: "http://10.0.0.7:8080" } },
  };
  assert.equal(isOwnedBy(owned, definition), true);
  assert.equal(controllingDefinition(owned), "web");
  assert.equal(isExternalInstance(external), true);
  assert.equal(isOwnedBy(external, definition), false);
  assert.equal(controllingDefinition(external), undefined);
  const counts = countByPhase([owned, external]);
  assert.equal(counts.get("team")?.get("Pending"), 1, "berth_instances counts only Berth-run Instances");
});
