import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { API_VERSION, type Instance } from "../api/types.js";
import type { KubeObject } from "../kube/resources.js";
import { LAST_APPLIED_ANNOTATION, withoutBookkeeping } from "../kube/bookkeeping.js";
import { instanceForCache, sharedTemplates, withoutData } from "./cache-shape.js";

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

/** An Instance as a watch event brings it: parsed anew each time, so nothing is shared yet. */
function received(name: string, deploymentId: string, env = "1", namespace = "team"): Instance {
  const instance: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      name,
      namespace,
      uid: name,
      creationTimestamp: "2026-03-01T12:00:00Z",
      labels: { "berth.dev/definition": "web", "berth.dev/node": "n1" },
      finalizers: ["berth.dev/instance"],
      ownerReferences: [
        { apiVersion: API_VERSION, kind: "Definition", name: "web", uid: "d", controller: true },
      ],
      managedFields: [{ manager: "berth" }],
    } as Instance["metadata"],
    spec: {
      definition: "web",
      deploymentId,
      template: {
        image: { name: "web:1", port: 8080 },
        env: [{ name: "MODE" }, { name: "ROLL", value: env }],
        healthCheck: { type: "exec", command: ["true"], intervalSeconds: 5 },
        resources: { memory: "64Mi" },
      },
      nodeName: "n1",
    },
    status: {
      phase: "Running",
      ready: true,
      address: { host: "10.0.0.1", port: 30000 + name.length, url: `http://10.0.0.1:${30000 + name.length}` },
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "HealthCheckPassed",
          message: "",
          lastTransitionTime: "2026-03-01T12:00:01Z",
        },
      ],
    },
  };
  return JSON.parse(JSON.stringify(instance)) as Instance;
}

test("Instances of one Definition and deployment share one template, equal to each one's own; every other value is kept", () => {
  const [a, b] = [received("web-a", "d1"), received("web-b", "d1")];
  const [cachedA, cachedB] = [instanceForCache(a), instanceForCache(b)];
  assert.equal(cachedA.spec.template, cachedB.spec.template, "one object for both");
  assert.deepEqual(cachedB.spec.template, received("web-b", "d1").spec.template, "equal to its own");
  assert.deepEqual(cachedB, withoutBookkeeping(received("web-b", "d1")), "nothing else changes");
  assert.notEqual(
    instanceForCache(received("web-c", "d2")).spec.template,
    cachedA.spec.template,
    "another deployment has its own",
  );
  assert.notEqual(
    instanceForCache(received("web-d", "d1", "1", "other")).spec.template,
    cachedA.spec.template,
    "so has another namespace's Definition of the same name",
  );
  const handEdited = instanceForCache(received("web-e", "d1", "2"));
  assert.equal(
    handEdited.spec.template?.env?.[1]?.value,
    "2",
    "a different template under the same key keeps its own",
  );
});

test("a shared template is frozen all the way down: a write throws instead of changing every replica's", () => {
  const template = instanceForCache(received("web-f", "d3")).spec.template!;
  assert.throws(() => {
    (template as { image: unknown }).image = undefined;
  }, TypeError);
  assert.throws(() => template.env!.push({ name: "X" }), TypeError);
  assert.throws(() => {
    (template.env![0] as { value?: string }).value = "x";
  }, TypeError);
  assert.throws(() => {
    (template.healthCheck!.command as string[])[0] = "false";
  }, TypeError);
  assert.throws(() => {
    (template.resources as { memory?: string }).memory = "1Gi";
  }, TypeError);
});

test("a template goes from the table once no cached Instance holds it", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  // Made and dropped inside a function of its own, so no reference outlives it (nor do the
  // earlier tests' Instances).
  (() => {
    const before = sharedTemplates.size();
    for (let i = 0; i < 3; i++) instanceForCache(received(`gone-${i}`, "short-lived"));
    assert.equal(sharedTemplates.size(), before + 1);
  })();
  // Collection and the cleanup after it are up to the engine: each try collects, then lets
  // the cleanup run; a few are plenty.
  for (let attempt = 0; attempt < 20 && sharedTemplates.size() > 0; attempt++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(sharedTemplates.size(), 0);
});
