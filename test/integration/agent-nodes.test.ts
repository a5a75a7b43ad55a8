/**
 * Two agents, each on an extra engine of its own (hack/engines.sh) standing in for two
 * machines: each runs only the Instances bound to its Node, labels its containers with it,
 * and publishes them on its own loopback address.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { type RunTemplate } from "../../controller/src/api/types.js";
import { httpGet, images } from "../harness/index.js";
import {
  type AgentWorld,
  agentWorld,
  createInstance,
  eventsOf,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

function echoAs(id: string): RunTemplate {
  return {
    image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" },
    env: [{ name: "ID", value: id }],
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
  };
}

/** Every Berth container of the namespace on a world's engine, whichever node it says. */
async function namespaceContainers(world: AgentWorld) {
  return await world.docker.listContainers({ [LABELS.namespace]: world.namespace });
}

test("two agents on two engines each run only their own Instances, at their own address", async (t) => {
  const first = await agentWorld(t, { engine: "extra" });
  const second = await agentWorld(t, { engine: "extra", namespace: first.namespace });
  await Promise.all([runAgent(first), runAgent(second)]);

  const placed = [
    { world: first, name: "alpha-0" },
    { world: first, name: "alpha-1" },
    { world: second, name: "beta-0" },
  ];
  for (const { world, name } of placed) await createInstance(world, name, echoAs(name));
  const statuses = new Map<string, Awaited<ReturnType<typeof waitForStatus>>>();
  for (const { world, name } of placed) {
    statuses.set(name, await waitForStatus(world, name, `${name} ready`, (s) => s.ready === true));
  }

  for (const { world, name } of placed) {
    const status = statuses.get(name);
    assert.equal(status?.address?.host, world.address, `${name} is addressed on its node's address`);
    assert.equal(status?.address?.url, `http://${world.address}:${status?.address?.port}`);
    const answer = await httpGet(`${status?.address?.url}/`);
    assert.equal(answer?.status, 200, `${name} answers at ${status?.address?.url}`);
    assert.match(answer?.body ?? "", new RegExp(`^${name}$`, "m"));
    // The same port on the other engine's address is not this Instance (nothing, or another one).
    const other = world === first ? second : first;
    const elsewhere = await httpGet(`http://${other.address}:${status?.address?.port}/`);
    assert.doesNotMatch(elsewhere?.body ?? "", new RegExp(`^${name}$`, "m"));

    const reporters = new Set((await eventsOf(world, name)).map((event) => event.reportingInstance));
    assert.deepEqual([...reporters], [world.nodeName], `only ${world.nodeName}'s agent acted on ${name}`);
  }

  for (const world of [first, second]) {
    const containers = await namespaceContainers(world);
    const own = placed.filter((p) => p.world === world).map((p) => p.name);
    assert.deepEqual(
      containers.map((c) => c.labels[LABELS.instance]).sort(),
      own,
      `engine ${world.address} runs exactly its node's Instances`,
    );
    for (const container of containers) {
      assert.equal(container.labels[LABELS.node], world.nodeName);
      assert.equal(
        container.id,
        statuses.get(container.labels[LABELS.instance] ?? "")?.containerId,
        "the status names the container that runs",
      );
    }
  }
});
