/**
 * --watch-namespace: a controller scoped to one namespace reconciles the Definitions there
 * and leaves those of every other namespace exactly as it found them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFINITION_FINALIZER } from "../../controller/src/api/vocabulary.js";
import { images, testNamespace } from "../harness/index.js";
import {
  applyDefinition,
  createNodes,
  getDefinition,
  listInstances,
  runController,
  StandInAgent,
  testLabel,
  waitForCondition,
} from "./controller-fixtures.js";

test("a controller scoped to namespace A leaves a Definition in namespace B untouched", async (t) => {
  const inScope = await testNamespace(t, "berth-scope-a");
  const outOfScope = await testNamespace(t, "berth-scope-b");
  const labels = testLabel();
  const nodes = [`node-scope-${Object.values(labels)[0]}`];
  await createNodes(t, nodes, labels);
  await runController(t, { watchNamespace: inScope });
  new StandInAgent(inScope, new Set(nodes)).start(t);

  const spec = { image: { name: images.echo, port: 8080 }, replicas: 2, placement: { nodeSelector: labels } };
  // B's Definition goes first, so an unscoped controller would have reached it before A's.
  const untouched = await applyDefinition(outOfScope, "web", spec);
  await applyDefinition(inScope, "web", spec);

  const ready = await waitForCondition(inScope, "web", "Ready", "True/InstancesReady");
  assert.deepEqual(ready.metadata.finalizers, [DEFINITION_FINALIZER]);
  assert.equal((await listInstances(inScope, "web")).length, 2);

  const after = await getDefinition(outOfScope, "web");
  assert.equal(after?.metadata.resourceVersion, untouched.metadata.resourceVersion, "nothing was written");
  assert.equal(after?.metadata.finalizers, undefined, "no finalizer added");
  assert.equal(after?.status, undefined, "no status written");
  assert.deepEqual(await listInstances(outOfScope), [], "no Instances created");
});
