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

test("a command that cannot run: CommandNotFound (127) and CommandNotExecutable (126), never Started", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  const cases = [
    {
      name: "missing",
      command: ["/no/such/binary"],
      reason: "CommandNotFound",
      words: /No such file or directory/,
    },
    // /www/healthz is a plain file in the echo image, not executable.
    {
      name: "plain-file",
      command: ["/www/healthz"],
      reason: "CommandNotExecutable",
      words: /Permission denied/,
    },
  ];
  for (const { name, command } of cases) {
    await createInstance(world, name, { image: { name: images.echo, port: 8080 }, command });
  }
  for (const { name, command, reason, words } of cases) {
    const status = await waitForStatus(
      world,
      name,
      reason,
      (s) => condition(s, "ContainerReady")?.reason === reason,
    );
    assert.equal(status.phase, "Failed");
    assert.equal(status.ready, false);
    assert.match(
      status.message ?? "",
      new RegExp(`^command ${command[0]} `),
      "the message names the command",
    );
    assert.match(status.message ?? "", words, "with the init's own words");
    assert.match(status.message ?? "", reason === "CommandNotFound" ? /code 127/ : /code 126/);
    await waitForEvent(world, name, reason);
    const events = await eventsOf(world, name);
    assert.ok(!events.some((event) => event.reason === "Started"), `no Started Event for ${name}`);
    assert.ok(!events.some((event) => event.reason === "CrashLoopBackOff"));
    // Terminal until the Instance changes: the one exited container stays, for docker logs.
    const containers = await containersOf(world, name);
    assert.equal(containers.length, 1);
    assert.equal(containers[0]?.id, status.containerId);
    assert.equal(status.restarts ?? 0, 0);
  }
});

test("a container removed outside Berth: ContainerRemovedExternally, recreated, no engine race message", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "removed", {
    image: { name: images.echo, port: 8080 },
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
  });
  const before = await waitForStatus(world, "removed", "ready", (s) => s.ready === true);
  await waitFor("the Started Event", async () =>
    (await eventsOf(world, "removed")).find((event) => event.reason === "Started"),
  );
  const removedId = before.containerId ?? "";
  // What `docker rm -f` does, through the engine API.
  assert.equal(await world.docker.removeContainer(removedId, { force: true }), true);

  const after = await waitForStatus(
    world,
    "removed",
    "ready again in a new container",
    (s) => s.ready === true && s.containerId !== undefined && s.containerId !== removedId,
  );
  assert.equal(after.restarts, 1, "the replacement counts as a restart");
  const event = await waitForEvent(world, "removed", "ContainerRemovedExternally");
  assert.equal(event.type, "Warning");
  assert.match(event.note ?? "", new RegExp(`container ${removedId.slice(0, 12)} was removed outside Berth`));
  const warnings = (await eventsOf(world, "removed")).filter((e) => e.type === "Warning");
  assert.deepEqual(
    warnings.map((e) => e.reason),
    ["ContainerRemovedExternally"],
    `no other warning (engine race) in: ${warnings.map((e) => `${e.reason}: ${e.note ?? ""}`).join("; ")}`,
  );
  assert.equal((await containersOf(world, "removed")).length, 1);
});
