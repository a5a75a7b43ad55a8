/**
 * The agent against the real API server and Docker engine: deployment, address and status,
 * recreation of a killed or removed container, deletion, and adoption after a restart.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { INSTANCE_FINALIZER, LABELS } from "../../controller/src/api/vocabulary.js";
import type { Node } from "../../controller/src/api/types.js";
import { RESTARTS_LABEL } from "../../controller/src/agent/container-request.js";
import { INSTANCES, LEASES, NODES } from "../../controller/src/kube/resources.js";
import { httpGet, images, waitFor } from "../harness/index.js";
import {
  LEASE_NAMESPACE,
  agentWorld,
  condition,
  containersOf,
  createInstance,
  deliverEnvironment,
  getInstance,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

const echo = {
  image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" as const },
  env: [{ name: "ID", value: "echo-one" }],
  healthCheck: { type: "http" as const, path: "/healthz", intervalSeconds: 1, timeoutSeconds: 1 },
};

test("an Instance bound to the node runs, answers at its address and reports its status", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  const node = await world.client.get(NODES, { name: world.nodeName });
  assert.equal(node.spec.url, world.url);
  assert.equal(node.spec.address, "127.0.0.1");
  const lease = await world.client.get(LEASES, {
    namespace: LEASE_NAMESPACE,
    name: `berth-node-${world.nodeName}`,
  });
  assert.ok(lease.spec?.holderIdentity, "the agent holds its Node's Lease");

  await createInstance(world, "web", echo);
  const status = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  assert.equal(status.phase, "Running");
  assert.equal(status.restarts, 0);
  assert.ok(status.containerId);
  assert.ok(status.lastProbeTime);
  assert.equal(status.address?.host, "127.0.0.1");
  assert.ok((status.address?.port ?? 0) > 0);
  assert.equal(status.address?.url, `http://127.0.0.1:${status.address?.port}`);
  assert.equal(condition(status, "Ready")?.reason, "HealthCheckPassed");
  assert.equal(condition(status, "ContainerReady")?.status, "True");
  const answer = await httpGet(`${status.address?.url}/`);
  assert.equal(answer?.status, 200);
  assert.match(answer?.body ?? "", /echo-one/);

  const containers = await containersOf(world, "web");
  assert.equal(containers.length, 1);
  assert.equal(containers[0]?.id, status.containerId);
  assert.equal(containers[0]?.labels[LABELS.definition], "web");
  assert.equal(containers[0]?.labels[LABELS.deploymentId], "test0000001");
  assert.equal(containers[0]?.labels[RESTARTS_LABEL], "0");

  const withStatus = await waitFor("the Node status", async () => {
    const current: Node = await world.client.get(NODES, { name: world.nodeName });
    return current.status?.ready === "True" && (current.status.instances ?? 0) >= 1 ? current : undefined;
  });
  assert.ok(withStatus.status?.dockerVersion);
  assert.ok(withStatus.status?.lastHeartbeat);
});

test("a killed container is recreated with restarts+1, and so is one removed out of band", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "web", echo);
  const first = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);

  await world.docker.stopContainer(first.containerId ?? "", 0);
  const second = await waitForStatus(
    world,
    "web",
    "a new ready container after the kill",
    (s) => s.ready === true && s.containerId !== first.containerId,
  );
  assert.equal(second.restarts, 1);
  assert.equal((await httpGet(`${second.address?.url}/`))?.status, 200);

  await world.docker.removeContainer(second.containerId ?? "", { force: true });
  const third = await waitForStatus(
    world,
    "web",
    "a new ready container after the removal",
    (s) => s.ready === true && s.containerId !== second.containerId,
  );
  assert.equal(third.restarts, 2);
  assert.equal((await containersOf(world, "web")).length, 1, "never two containers for one Instance");
});

test("deleting the Instance stops and removes its container, then its finalizer", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  const instance = await createInstance(world, "web", echo);
  assert.deepEqual(instance.metadata.finalizers, [INSTANCE_FINALIZER]);
  await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);

  await world.client.delete(INSTANCES, { namespace: world.namespace, name: "web" });
  await waitFor("the Instance to be gone", async () => (await getInstance(world, "web")) === undefined);
  assert.deepEqual(await containersOf(world, "web"), []);
});

test("a restarted agent adopts the running container instead of starting another", async (t) => {
  const world = await agentWorld(t);
  const first = await runAgent(world);
  await createInstance(world, "web", echo);
  const before = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  await first.stop();
  // Probe times are written to the second: restart in a later second than the last one
  // written, so a probe time of the restarted agent's own can be told from the old agent's.
  const lastWritten = Date.parse(before.lastProbeTime ?? "");
  while (Math.floor(Date.now() / 1000) * 1000 <= lastWritten) await sleep(50);

  const restartedAt = Math.floor(Date.now() / 1000) * 1000;
  const second = await runAgent(world);
  assert.equal(second.agentId, first.agentId, "the same agent on the same machine keeps its identity");
  // The new agent writes status from its own probe; wait until it has looked (it took the Lease anew).
  await waitFor("the restarted agent to take the Lease", async () => {
    const lease = await world.client.get(LEASES, {
      namespace: LEASE_NAMESPACE,
      name: `berth-node-${world.nodeName}`,
    });
    const acquired = Date.parse(lease.spec?.acquireTime ?? "");
    return lease.spec?.holderIdentity === first.agentId && acquired >= restartedAt - 1000;
  });
  // A probe time written after the restart: the new process has looked at the Instance itself.
  const after = await waitForStatus(
    world,
    "web",
    "a status written by the restarted agent",
    (s) => s.ready === true && Date.parse(s.lastProbeTime ?? "") >= restartedAt,
  );
  assert.equal(after.containerId, before.containerId);
  assert.equal(after.restarts, 0);
  const containers = await containersOf(world, "web");
  assert.deepEqual(
    containers.map((c) => c.id),
    [before.containerId],
  );
});

test("the environment the controller delivers reaches the container, and the value stays out of status", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  const instance = await createInstance(
    world,
    "web",
    { ...echo, env: [{ name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } }] },
    { environmentFrom: "NodeSecret" },
  );
  // Until it is delivered, the Instance waits for it.
  const waiting = await waitForStatus(
    world,
    "web",
    "the Instance to wait for its environment",
    (s) => condition(s, "ContainerReady")?.reason === "EnvironmentNotDelivered",
  );
  assert.equal(waiting.phase, "Scheduled");
  await deliverEnvironment(world, instance, {
    env: [
      ["PASSWORD", "pa55-word"],
      ["APP_mode", "fast"],
    ],
  });
  const status = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  assert.equal((await httpGet(`${status.address?.url}/cgi-bin/env?PASSWORD`))?.body.trim(), "pa55-word");
  assert.equal((await httpGet(`${status.address?.url}/cgi-bin/env?APP_mode`))?.body.trim(), "fast");
  assert.doesNotMatch(JSON.stringify(await getInstance(world, "web")), /pa55-word/);
  const [container] = await containersOf(world, "web");
  assert.doesNotMatch(JSON.stringify(container?.labels), /pa55-word/);
});
