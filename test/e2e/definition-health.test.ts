/**
 * End to end: what a Definition's conditions say when its Instances' health changes. A
 * finished rollout whose Instance later fails its health check is unhealthy (Ready=False,
 * Degraded=True InstancesUnhealthy with the check's message), still rolled out, and never
 * a stalled rollout; a first deploy that never gets ready says so without old Instances.
 * The controller and a real agent run in-process; the agent has an extra engine of its own.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { httpGet, images, testNamespace } from "../harness/index.js";
import { applyDefinition, getDefinition, waitForCondition } from "../integration/controller-fixtures.js";
import { runAgentInProcess, runControllerInProcess, startEngines } from "./rollout-fixtures.js";

/** Short, so that a status that took the failure for a stalled rollout would show it here. */
const PROGRESS_DEADLINE_SECONDS = 8;
/** Slack for the agent, the controller and a loaded machine. */
const MARGIN_MS = 30_000;

const healthCheck = {
  type: "http" as const,
  path: "/healthz",
  intervalSeconds: 1,
  timeoutSeconds: 1,
  failureThreshold: 2,
};

function conditionOf(definition: Awaited<ReturnType<typeof getDefinition>>, type: string) {
  return definition?.status?.conditions?.find((c) => c.type === type);
}

test("an Instance that turns unhealthy after its rollout: InstancesUnhealthy, never a stalled rollout", async (t) => {
  const namespace = await testNamespace(t, "berth-e2e");
  const world = await startEngines(t, namespace, 1);
  await runControllerInProcess(world);
  await runAgentInProcess(world, world.nodes[0]!);
  await applyDefinition(namespace, "web", {
    image: { name: images.echo, port: 8080 },
    healthCheck,
    rollout: { progressDeadlineSeconds: PROGRESS_DEADLINE_SECONDS },
    placement: { nodeSelector: world.labels },
  });
  const ready = await waitForCondition(namespace, "web", "Ready", "True/InstancesReady", 60_000);
  await waitForCondition(namespace, "web", "Progressing", "True/RolloutComplete");
  const address = ready.status?.addresses?.[0];
  assert.ok(address);

  assert.equal((await httpGet(`${address}/cgi-bin/fail`))?.status, 200);
  const unhealthy = await waitForCondition(
    namespace,
    "web",
    "Degraded",
    "True/InstancesUnhealthy",
    MARGIN_MS,
  );
  assert.match(conditionOf(unhealthy, "Degraded")?.message ?? "", /fails its health check \(web-.*404/);
  assert.equal(conditionOf(unhealthy, "Ready")?.reason, "InstancesUnhealthy");
  assert.equal(conditionOf(unhealthy, "Ready")?.status, "False");
  assert.equal(conditionOf(unhealthy, "Progressing")?.reason, "RolloutComplete");

  // Past the progress deadline (plus margin) nothing turns into a rollout problem.
  const seen = new Set<string>();
  const until = Date.now() + PROGRESS_DEADLINE_SECONDS * 1000 + 5000;
  while (Date.now() < until) {
    const definition = await getDefinition(namespace, "web");
    for (const type of ["Ready", "Progressing", "Degraded"]) {
      const c = conditionOf(definition, type);
      seen.add(`${type}=${c?.status}/${c?.reason}`);
    }
    await sleep(500);
  }
  assert.deepEqual([...seen].sort(), [
    "Degraded=True/InstancesUnhealthy",
    "Progressing=True/RolloutComplete",
    "Ready=False/InstancesUnhealthy",
  ]);

  assert.equal((await httpGet(`${address}/cgi-bin/recover`))?.status, 200);
  await waitForCondition(namespace, "web", "Ready", "True/InstancesReady", MARGIN_MS);
  await waitForCondition(namespace, "web", "Degraded", "False/AsExpected");

  // A first deploy that never gets ready: its own words, no old Instances mentioned.
  await applyDefinition(namespace, "sick", {
    image: { name: images.unhealthy, port: 8080 },
    healthCheck,
    rollout: { progressDeadlineSeconds: PROGRESS_DEADLINE_SECONDS },
    placement: { nodeSelector: world.labels },
  });
  const stalled = await waitForCondition(
    namespace,
    "sick",
    "Progressing",
    "False/ProgressDeadlineExceeded",
    PROGRESS_DEADLINE_SECONDS * 1000 + MARGIN_MS,
  );
  assert.equal(conditionOf(stalled, "Degraded")?.reason, "ProgressDeadlineExceeded");
  assert.equal(conditionOf(stalled, "Ready")?.reason, "InstancesNotReady");
  for (const type of ["Progressing", "Degraded"]) {
    const message = conditionOf(stalled, type)?.message ?? "";
    assert.match(message, /0 of 1 Instances of deployment \w+ became ready within progressDeadlineSeconds/);
    assert.match(message, /sick-.* is not ready: .*404/, "it names the Instance and its check's result");
    assert.doesNotMatch(message, /old Instances|previous deployment|keeps? serving/);
  }
});
