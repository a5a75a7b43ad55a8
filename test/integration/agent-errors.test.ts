/**
 * Failures a person can act on, each with its phase, condition reason and Event: image
 * missing, host port taken, a container that exits at once, one that never gets healthy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { images, waitFor } from "../harness/index.js";
import {
  agentWorld,
  condition,
  containersOf,
  createInstance,
  eventsOf,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";
import type { AgentWorld } from "./agent-fixtures.js";

async function waitForEvent(world: AgentWorld, name: string, reason: string) {
  return await waitFor(`an Event ${reason} on ${name}`, async () =>
    (await eventsOf(world, name)).find((event) => event.reason === reason),
  );
}

test("an image that is not there: ImageNotFound, and an Event", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "ghost", {
    image: { name: "berth-test/does-not-exist:1", port: 8080, pullPolicy: "Never" },
  });
  const status = await waitForStatus(world, "ghost", "phase Failed", (s) => s.phase === "Failed");
  assert.equal(condition(status, "ContainerReady")?.reason, "ImageNotFound");
  assert.match(status.message ?? "", /berth-test\/does-not-exist:1/);
  assert.equal(status.ready, false);
  await waitForEvent(world, "ghost", "ImageNotFound");

  // A pull that can't succeed: a registry that does not answer.
  await createInstance(world, "unpullable", { image: { name: "127.0.0.1:9/nothing/here:1", port: 8080 } });
  const pulled = await waitForStatus(world, "unpullable", "phase Failed", (s) => s.phase === "Failed");
  // Nothing listens on port 9: the engine's connection is refused, which is no missing image.
  assert.equal(condition(pulled, "ContainerReady")?.reason, "RegistryUnreachable");
  assert.match(pulled.message ?? "", /127\.0\.0\.1:9/);
});

test("a host port already taken: HostPortInUse, retried until it is free", async (t) => {
  const world = await agentWorld(t);
  // Hold a port on the node address, as another program would.
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  const port = (holder.address() as AddressInfo).port;
  let released = false;
  t.after(() => {
    if (!released) holder.close();
  });
  await runAgent(world);
  await createInstance(
    world,
    "fixed",
    {
      image: { name: images.echo, port: 8080 },
      healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
    },
    { hostPort: port },
  );
  const status = await waitForStatus(world, "fixed", "phase Failed", (s) => s.phase === "Failed");
  assert.equal(condition(status, "ContainerReady")?.reason, "HostPortInUse");
  assert.match(status.message ?? "", new RegExp(String(port)));
  await waitForEvent(world, "fixed", "HostPortInUse");
  // Each retry creates a container and removes it when it can't start: at most one exists, never running.
  const leftovers = await containersOf(world, "fixed");
  assert.ok(leftovers.length <= 1);
  assert.ok(leftovers.every((container) => container.state !== "running"));

  await new Promise<void>((resolve) => holder.close(() => resolve()));
  released = true;
  const ready = await waitForStatus(
    world,
    "fixed",
    "ready once the port is free",
    (s) => s.ready === true,
    120_000,
  );
  assert.equal(ready.address?.port, port);
});

test("a container that exits at once: CrashLoopBackOff with restarts counted", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "crasher", { image: { name: images.exit, port: 8080 } });
  const status = await waitForStatus(
    world,
    "crasher",
    "CrashLoopBackOff",
    (s) => condition(s, "ContainerReady")?.reason === "CrashLoopBackOff",
  );
  assert.equal(status.phase, "Failed");
  assert.ok((status.restarts ?? 0) >= 1);
  assert.match(status.message ?? "", /exited with code 3/);
  await waitForEvent(world, "crasher", "CrashLoopBackOff");
  assert.ok((await containersOf(world, "crasher")).length <= 1);
});

test("a container that never gets healthy: Ready=False with HealthCheckFailed", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "sick", {
    image: { name: images.unhealthy, port: 8080 },
    healthCheck: {
      type: "http",
      path: "/healthz",
      intervalSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 2,
    },
  });
  const status = await waitForStatus(
    world,
    "sick",
    "HealthCheckFailed",
    (s) => condition(s, "Ready")?.reason === "HealthCheckFailed",
  );
  assert.equal(status.ready, false);
  assert.equal(status.phase, "Starting");
  assert.equal(condition(status, "ContainerReady")?.status, "True");
  assert.match(condition(status, "Ready")?.message ?? "", /404/);
  assert.ok(status.address?.url, "the address is known even while not ready");
  await waitForEvent(world, "sick", "HealthCheckFailed");
});
