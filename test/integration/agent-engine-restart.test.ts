/**
 * The agent survives its Docker engine crashing and coming back: on an extra engine of
 * its own (hack/engines.sh) so the shared engine is never disturbed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Node } from "../../controller/src/api/types.js";
import { NODES } from "../../controller/src/kube/resources.js";
import { engines, httpGet, images, waitFor } from "../harness/index.js";
import { agentWorld, condition, createInstance, runAgent, waitForStatus } from "./agent-fixtures.js";

test("a Docker engine crash is survived: the Node reports it, the Instance is ready again after", async (t) => {
  const world = await agentWorld(t, { engine: "extra" });
  const engine = String(world.engineNumber);
  await runAgent(world);
  await createInstance(world, "web", {
    image: { name: images.echo, port: 8080 },
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1, failureThreshold: 1 },
  });
  const before = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  assert.equal(before.address?.host, world.address);
  assert.equal(world.address, `127.0.0.${engine}`);

  await engines("kill", engine);
  const down = await waitFor("the Node to report its engine unreachable", async () => {
    const node: Node = await world.client.get(NODES, { name: world.nodeName });
    const reachable = node.status?.conditions?.find((c) => c.type === "DockerReachable");
    return reachable?.status === "False" ? node : undefined;
  });
  assert.equal(down.status?.ready, "False");
  const notReady = await waitForStatus(world, "web", "the Instance not ready", (s) => s.ready === false);
  assert.notEqual(condition(notReady, "Ready")?.reason, "HealthCheckPassed");

  await engines("start", engine);
  const after = await waitForStatus(
    world,
    "web",
    "the Instance ready again",
    (s) => s.ready === true,
    90_000,
  );
  // live-restore kept the container: the same one answers again.
  assert.equal(after.containerId, before.containerId);
  assert.equal((await httpGet(`${after.address?.url}/`))?.status, 200);
  await waitFor("the Node to report its engine reachable again", async () => {
    const node: Node = await world.client.get(NODES, { name: world.nodeName });
    return node.status?.ready === "True";
  });
});
