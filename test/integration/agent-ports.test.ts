/**
 * What an agent opens on its machine, read back from the engine's own port bindings: the
 * service port bound to the agent's address (a host name's IP, never every interface), the
 * health check's own port not at all unless it asks, and no hostPort below 1024 on a Node
 * whose admin has not allowed privileged ports.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { env, images, run } from "../harness/index.js";
import {
  agentWorld,
  condition,
  containersOf,
  createInstance,
  eventsOf,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

const DOCKER_CLI = "/usr/bin/docker";

/** The container's HostConfig.PortBindings, as `docker inspect` shows them. */
async function portBindings(
  id: string,
): Promise<Record<string, Array<{ HostIp: string; HostPort: string }>>> {
  const result = await run(DOCKER_CLI, [
    "-H",
    env().dockerHost,
    "inspect",
    "-f",
    "{{json .HostConfig.PortBindings}}",
    id,
  ]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, Array<{ HostIp: string; HostPort: string }>>;
}

test("a host-name address binds ports to its IP; a health port is published only when it asks", async (t) => {
  const world = await agentWorld(t);
  // A host name, as an operator may give: before, this bound every interface (0.0.0.0).
  await runAgent(world, { address: "localhost" });
  // echo serves on 8080; the service port 9090 only has to be published, the check passes on 8080.
  const image = { name: images.echo, port: 9090, pullPolicy: "IfNotPresent" as const };
  await createInstance(world, "private-health", {
    image,
    healthCheck: { type: "http", path: "/healthz", port: 8080, intervalSeconds: 1 },
  });
  await createInstance(world, "public-health", {
    image,
    healthCheck: { type: "http", path: "/healthz", port: 8080, intervalSeconds: 1, publishPort: true },
  });

  const hidden = await waitForStatus(
    world,
    "private-health",
    "ready, checked at the container's address",
    (s) => s.ready === true,
  );
  assert.match(hidden.address?.url ?? "", /^http:\/\/localhost:\d+$/);
  assert.deepEqual(await portBindings(hidden.containerId!), {
    "9090/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }],
  });

  const shown = await waitForStatus(
    world,
    "public-health",
    "ready, checked where it is published",
    (s) => s.ready === true,
  );
  assert.deepEqual(await portBindings(shown.containerId!), {
    "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }],
    "9090/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }],
  });
});

test("a hostPort below 1024 is refused on a Node that does not allow privileged ports", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(
    world,
    "low-port",
    { image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" } },
    { hostPort: 80 },
  );
  const status = await waitForStatus(
    world,
    "low-port",
    "the Instance to fail with PrivilegedPortNotAllowed",
    (s) => condition(s, "ContainerReady")?.reason === "PrivilegedPortNotAllowed",
  );
  assert.equal(status.phase, "Failed");
  assert.match(
    condition(status, "ContainerReady")?.message ?? "",
    /hostPort 80 .*spec\.allowPrivilegedPorts/,
  );
  assert.ok((await eventsOf(world, "low-port")).some((event) => event.reason === "PrivilegedPortNotAllowed"));
  assert.deepEqual(await containersOf(world, "low-port"), [], "no container was made");
  const all = await world.docker.listContainers({ [LABELS.node]: world.nodeName });
  assert.deepEqual(all, []);
});
