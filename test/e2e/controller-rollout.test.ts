/**
 * End to end: the controller with three real agents, each on an extra Docker engine of its
 * own that stands in for a machine (engine N publishes on 127.0.0.N). Nothing plays the
 * agent's part: containers of the echo test image run, health checks probe them, and the
 * test reads the result back from Definition status, the addresses it lists and the
 * engines' containers.
 *
 * - the seed's test-a shape (image, port 8080, a fixed hostPort) answers at its address;
 * - scaling 1 -> 3 -> 1 moves Instances, containers and addresses along;
 * - a RollingUpdate of an env change never leaves the service without a ready, answering
 *   Instance, sampled every ~100 ms;
 * - a new version that never becomes healthy halts the rollout at its deadline while the
 *   old Instances keep serving;
 * - deleting a Definition leaves no container of it on any engine.
 *
 * Uses three extra engines, numbered by the harness.
 */
import { randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DefinitionSpec } from "../../controller/src/api/types.js";
import { images, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  condition,
  getDefinition,
  waitForCondition,
} from "../integration/controller-fixtures.js";
import {
  answersOf,
  containerCounts,
  deleteDefinitionAndWait,
  saying,
  liveInstances,
  runAgentInProcess,
  runControllerInProcess,
  startEngines,
  waitForAnsweringAddresses,
} from "./rollout-fixtures.js";

function total(counts: Map<string, number>): number {
  return [...counts.values()].reduce((sum, n) => sum + n, 0);
}

test("controller with real agents on three engines: apply, scale, roll, halt, delete", async (t) => {
  const namespace = await testNamespace(t, "berth-rollout");
  const world = await startEngines(t, namespace, 3);
  for (const node of world.nodes) await runAgentInProcess(world, node);
  await runControllerInProcess(world);
  const placement = { nodeSelector: world.labels };
  const hostOf = (address: string): string => new URL(address).hostname;

  await t.test("test-a shape on a fixed hostPort answers, and scales 1 -> 3 -> 1", async () => {
    // Random, so a port another process holds on every address is unlikely to collide.
    const hostPort = randomInt(20_000, 30_000);
    const spec: DefinitionSpec = {
      image: { name: images.echo, port: 8080 },
      hostPort,
      env: [{ name: "MESSAGE", value: "hello from test-a" }],
      placement,
    };
    await applyDefinition(namespace, "test-a", spec);
    const one = await waitForAnsweringAddresses(namespace, "test-a", 1, {
      body: saying("hello from test-a"),
    });
    const [address] = one.status?.addresses ?? [];
    assert.ok(
      world.nodes.some((node) => address === `http://${node.address}:${hostPort}`),
      `${address} is the host port on one of the test's engines`,
    );
    assert.equal(condition(one, "Ready"), "True/InstancesReady");

    await applyDefinition(namespace, "test-a", { ...spec, replicas: 3 });
    const three = await waitForAnsweringAddresses(namespace, "test-a", 3, {
      body: saying("hello from test-a"),
    });
    // One fixed host port per node: the three replicas take one node each.
    assert.deepEqual(
      [...(three.status?.addresses ?? [])].sort(),
      world.nodes.map((node) => `http://${node.address}:${hostPort}`).sort(),
    );
    const counts = await containerCounts(world, "test-a");
    assert.deepEqual([...counts.values()], [1, 1, 1], "one container on each engine");
    const instances = await liveInstances(namespace, "test-a");
    assert.equal(instances.length, 3);
    assert.equal(new Set(instances.map((i) => i.spec.nodeName)).size, 3);
    assert.equal(three.status?.readyReplicas, 3);

    await applyDefinition(namespace, "test-a", { ...spec, replicas: 1 });
    const back = await waitForAnsweringAddresses(namespace, "test-a", 1, {
      body: saying("hello from test-a"),
    });
    await waitFor("containers of the removed replicas gone", async () => {
      return total(await containerCounts(world, "test-a")) === 1;
    });
    const [remaining] = await liveInstances(namespace, "test-a");
    const remainingNode = world.nodes.find((node) => node.nodeName === remaining?.spec.nodeName);
    assert.ok(remainingNode, "the remaining Instance is bound to one of the test's nodes");
    assert.equal(hostOf(back.status?.addresses?.[0] ?? ""), remainingNode.address);
    assert.equal((await containerCounts(world, "test-a")).get(remainingNode.nodeName), 1);
    assert.equal(back.status?.readyReplicas, 1);

    assert.deepEqual(await deleteDefinitionAndWait(world, "test-a"), [], "no container of test-a is left");
  });

  await t.test("a RollingUpdate of an env change never leaves zero ready Instances", async () => {
    const replicas = 3;
    const spec = (message: string): DefinitionSpec => ({
      image: { name: images.echo, port: 8080 },
      replicas,
      env: [{ name: "MESSAGE", value: message }],
      // Two passing checks to get ready: each step of the rollout takes a second or two,
      // so the sampling below sees its middle, not just its ends.
      healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1, successThreshold: 2 },
      placement,
    });
    await applyDefinition(namespace, "rolling", spec("v1"));
    await waitForAnsweringAddresses(namespace, "rolling", replicas, { body: saying("v1") });

    const samples: Array<{ ready: number; addresses: number; answering: number; bodies: string[] }> = [];
    const sample = async (): Promise<void> => {
      const definition = await getDefinition(namespace, "rolling");
      const answers = await answersOf(definition);
      const answering = answers.filter((a) => a.status === 200);
      samples.push({
        ready: definition?.status?.readyReplicas ?? 0,
        addresses: answers.length,
        answering: answering.length,
        bodies: answering.map((a) => a.body?.split("\n")[1] ?? ""),
      });
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample();
        await sleep(100);
      }
    })();
    try {
      const updated = await applyDefinition(namespace, "rolling", spec("v2"));
      await waitFor("rollout of v2 complete", async () => {
        const definition = await getDefinition(namespace, "rolling");
        return (
          definition?.status?.observedGeneration === updated.metadata.generation &&
          condition(definition, "Progressing") === "True/RolloutComplete"
        );
      });
      await waitForAnsweringAddresses(namespace, "rolling", replicas, { body: saying("v2") });
    } finally {
      sampling = false;
      await sampler;
    }
    // The loop's last sample may predate the end of the rollout: one more, now that it is over.
    await sample();

    const sawOld = samples.findIndex((s) => s.bodies.includes("v1"));
    const sawNewOnly = samples.findIndex((s) => s.bodies.length > 0 && s.bodies.every((b) => b === "v2"));
    assert.ok(sawOld >= 0 && sawNewOnly > sawOld, "the samples span the rollout, from v1 to v2");
    const lowest = {
      ready: Math.min(...samples.map((s) => s.ready)),
      addresses: Math.min(...samples.map((s) => s.addresses)),
      answering: Math.min(...samples.map((s) => s.answering)),
    };
    t.diagnostic(`${samples.length} samples; lowest seen: ${JSON.stringify(lowest)}`);
    // maxUnavailable 0: an old Instance goes only once a new one is ready.
    assert.ok(lowest.ready >= replicas, `readyReplicas fell to ${lowest.ready}`);
    assert.ok(lowest.addresses >= replicas, `addresses fell to ${lowest.addresses}`);
    assert.ok(lowest.answering >= 1, "at every sample some listed address answered");

    const instances = await liveInstances(namespace, "rolling");
    const current = (await getDefinition(namespace, "rolling"))?.status?.deploymentId;
    assert.equal(instances.length, replicas);
    assert.ok(instances.every((i) => i.spec.deploymentId === current));
    await waitFor("old containers removed", async () => {
      return total(await containerCounts(world, "rolling")) === replicas;
    });

    assert.deepEqual(await deleteDefinitionAndWait(world, "rolling"), [], "no container of rolling is left");
  });

  await t.test("a new version that never gets healthy halts the rollout; the old one serves", async () => {
    const replicas = 2;
    const spec = (image: string): DefinitionSpec => ({
      image: { name: image, port: 8080 },
      replicas,
      env: [{ name: "MESSAGE", value: "stable" }],
      healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1, failureThreshold: 1 },
      rollout: { progressDeadlineSeconds: 4 },
      placement,
    });
    await applyDefinition(namespace, "halting", spec(images.echo));
    const before = await waitForAnsweringAddresses(namespace, "halting", replicas, {
      body: saying("stable"),
    });
    await waitForCondition(namespace, "halting", "Progressing", "True/RolloutComplete");
    const oldId = before.status?.deploymentId;
    const oldNames = (await liveInstances(namespace, "halting")).map((i) => i.metadata.name).sort();

    const broken = await applyDefinition(namespace, "halting", spec(images.unhealthy));
    const halted = await waitForCondition(
      namespace,
      "halting",
      "Progressing",
      "False/ProgressDeadlineExceeded",
      30_000,
    );
    assert.equal(halted.status?.observedGeneration, broken.metadata.generation);
    assert.notEqual(halted.status?.deploymentId, oldId, "the status names the new, stalled deployment");

    // Halted means halted: over a few probe intervals, nothing old goes and the old answer.
    for (let check = 0; check < 4; check++) {
      const instances = await liveInstances(namespace, "halting");
      const old = instances.filter((i) => i.spec.deploymentId === oldId);
      const fresh = instances.filter((i) => i.spec.deploymentId !== oldId);
      assert.deepEqual(old.map((i) => i.metadata.name).sort(), oldNames, "the old Instances stay");
      assert.ok(
        old.every((i) => i.status?.ready === true),
        "the old Instances stay ready",
      );
      assert.equal(fresh.length, 1, "maxSurge 1: one new Instance, no more");
      assert.notEqual(fresh[0]?.status?.ready, true, "the new Instance never gets ready");
      const definition = await getDefinition(namespace, "halting");
      assert.equal(definition?.status?.readyReplicas, replicas);
      const answers = await answersOf(definition);
      assert.equal(answers.length, replicas);
      assert.ok(
        answers.every((a) => a.status === 200 && saying("stable")(a.body ?? "")),
        `the old Instances answer: ${JSON.stringify(answers)}`,
      );
      await sleep(1000);
    }

    assert.deepEqual(await deleteDefinitionAndWait(world, "halting"), [], "no container of halting is left");
  });
});
