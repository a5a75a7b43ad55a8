import { test } from "node:test";
import assert from "node:assert/strict";
import type { Definition } from "../../controller/src/api/types.js";
import { CONFIGMAPS, DEFINITIONS } from "../../controller/src/kube/resources.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import { StatusWriter, setCondition } from "../../controller/src/runtime/conditions.js";
import { finalize, removeFinalizer } from "../../controller/src/runtime/finalizers.js";
import { isConflict, isPatchTestFailed } from "../../controller/src/kube/errors.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import type { ConfigMap } from "../../controller/src/kube/resources.js";
import { env, kubectlOk, testNamespace, waitFor } from "../harness/index.js";

test("the informer sees creates, updates and deletes from the real API server", async (t) => {
  const client = newKubeClient(env().kc);
  const ns = await testNamespace(t);
  const seen: string[] = [];
  const informer = new Informer(client, CONFIGMAPS, { namespace: ns });
  informer.addHandler({
    onAdd: (o) => seen.push(`add ${o.metadata?.name}`),
    onUpdate: (_, o) => seen.push(`update ${o.metadata?.name} ${o.data?.v}`),
    onDelete: (o) => seen.push(`delete ${o.metadata?.name}`),
  });
  informer.start();
  t.after(() => informer.stop());
  assert.equal(await informer.waitForSync(AbortSignal.timeout(30_000)), true);

  await client.create(CONFIGMAPS, { metadata: { namespace: ns, name: "one" }, data: { v: "1" } });
  await waitFor("add", () => seen.includes("add one"));
  await client.mergePatch(CONFIGMAPS, { namespace: ns, name: "one" }, { data: { v: "2" } });
  await waitFor("update", () => seen.includes("update one 2"));
  assert.equal(informer.get(ns, "one")?.data?.v, "2");
  assert.ok(Object.isFrozen(informer.get(ns, "one")?.data), "cached objects are frozen");
  await client.delete(CONFIGMAPS, { namespace: ns, name: "one" });
  await waitFor("delete", () => seen.includes("delete one"));
  assert.equal(informer.get(ns, "one"), undefined);
});

test("the status writer makes no request when the status is unchanged", async (t) => {
  const client = newKubeClient(env().kc);
  const ns = await testNamespace(t);
  const created = await client.create(DEFINITIONS, {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Definition",
    metadata: { namespace: ns, name: "web" },
    spec: { image: { name: "berth-test/echo:1", port: 8080 }, replicas: 1 },
  } as Definition);
  const writer = new StatusWriter(client);
  const conditions = setCondition(
    undefined,
    { type: "Ready", status: "False", reason: "NoInstances", message: "none yet" },
    new Date(),
  );
  const first = await writer.update(DEFINITIONS, created, { replicas: 0, conditions });
  assert.ok(first, "the first write happens");
  assert.equal(first.status?.observedGeneration, created.metadata.generation);
  const again = await writer.update(DEFINITIONS, first, {
    replicas: 0,
    conditions: setCondition(
      first.status?.conditions,
      { ...conditions[0]!, message: "none yet" },
      new Date(),
    ),
  });
  assert.equal(again, undefined, "an unchanged status is not written");
  const stored = await client.get(DEFINITIONS, { namespace: ns, name: "web" });
  assert.equal(stored.metadata.resourceVersion, first.metadata.resourceVersion);

  // A stale object fails the resourceVersion precondition instead of overwriting newer status.
  await writer.update(DEFINITIONS, first, { replicas: 1 });
  await assert.rejects(writer.update(DEFINITIONS, first, { replicas: 2 }), (err) => isConflict(err));
});

test("finalizer removal carries a precondition and waits for cleanup to succeed", async (t) => {
  const client = newKubeClient(env().kc);
  const ns = await testNamespace(t);
  const stale = await client.create<ConfigMap>(CONFIGMAPS, {
    metadata: { namespace: ns, name: "held", finalizers: ["berth.dev/test-a"] },
  });
  t.after(() =>
    kubectlOk([
      "-n",
      ns,
      "patch",
      "configmap",
      "held",
      "--type=merge",
      "-p",
      '{"metadata":{"finalizers":null}}',
    ]),
  );
  await kubectlOk([
    "-n",
    ns,
    "patch",
    "configmap",
    "held",
    "--type=json",
    "-p",
    '[{"op":"add","path":"/metadata/finalizers/-","value":"berth.dev/test-b"}]',
  ]);

  const err = await removeFinalizer(client, CONFIGMAPS, stale, "berth.dev/test-a").then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err, "a stale finalizer list must not be written over");
  assert.ok(isPatchTestFailed(err) || isConflict(err), `unexpected error: ${String(err)}`);
  let fresh = await client.get(CONFIGMAPS, { namespace: ns, name: "held" });
  assert.deepEqual(fresh.metadata?.finalizers, ["berth.dev/test-a", "berth.dev/test-b"]);

  const removedAfterFailure = await finalize(client, CONFIGMAPS, fresh, "berth.dev/test-a", async () => {
    throw new Error("cleanup failed");
  }).catch(() => false);
  assert.equal(removedAfterFailure, false);
  fresh = await client.get(CONFIGMAPS, { namespace: ns, name: "held" });
  assert.deepEqual(fresh.metadata?.finalizers, ["berth.dev/test-a", "berth.dev/test-b"]);

  assert.equal(await finalize(client, CONFIGMAPS, fresh, "berth.dev/test-a", async () => true), true);
  fresh = await client.get(CONFIGMAPS, { namespace: ns, name: "held" });
  assert.deepEqual(fresh.metadata?.finalizers, ["berth.dev/test-b"]);
});
