/**
 * End to end: the controller and a real agent in-process against the real API server and
 * Docker engine. A Definition becomes ready addresses that answer; a dependent gets its
 * dependency's address in BERTH_DEP_<SLUG>_URL; deleting a Definition removes its
 * containers before the Definition disappears. The agent gets an extra engine of its own
 * (hack/engines.sh), so a Berth already running on the default engine does not collide.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { httpGet, images, testNamespace } from "../harness/index.js";
import { applyDefinition, waitForCondition } from "../integration/controller-fixtures.js";
import {
  containersOn,
  deleteDefinitionAndWait,
  runAgentInProcess,
  runControllerInProcess,
  startEngines,
} from "./rollout-fixtures.js";

test("apply, get ready addresses that answer, dependency env, delete removes the containers", async (t) => {
  const namespace = await testNamespace(t, "berth-e2e");
  const world = await startEngines(t, namespace, 1);
  const node = world.nodes[0]!;
  await runControllerInProcess(world);
  await runAgentInProcess(world, node);

  const base = { image: { name: images.echo, port: 8080 }, placement: { nodeSelector: world.labels } };
  await applyDefinition(namespace, "db", base);
  await applyDefinition(namespace, "web", { ...base, replicas: 2, dependsOn: ["db"] });

  const db = await waitForCondition(namespace, "db", "Ready", "True/InstancesReady", 60_000);
  const web = await waitForCondition(namespace, "web", "Ready", "True/InstancesReady", 60_000);
  const dbAddress = db.status?.addresses?.[0];
  assert.ok(dbAddress);
  assert.equal(web.status?.addresses?.length, 2);
  for (const address of web.status?.addresses ?? []) {
    assert.ok(address.startsWith(`http://${node.address}:`), `${address} is on the agent's engine`);
    const answer = await httpGet(`${address}/`);
    assert.equal(answer?.status, 200, `${address} answers`);
    const dependency = await httpGet(`${address}/cgi-bin/env?BERTH_DEP_DB_URL`);
    assert.equal(
      dependency?.body.trim(),
      dbAddress,
      "the dependency's address is offered in the environment",
    );
  }

  assert.deepEqual(await deleteDefinitionAndWait(world, "web"), [], "no container of web is left");
  assert.deepEqual(await deleteDefinitionAndWait(world, "db"), [], "no container of db is left");
  assert.deepEqual(await containersOn(node, namespace), [], "nothing of the namespace is left");
});
