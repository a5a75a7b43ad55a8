/**
 * Configuration, secrets and resources end to end: the controller and a real agent
 * in-process, a Definition reading a Secret and a ConfigMap. The containers see the values;
 * a new Secret value rolls the Instances; the value never shows where a person or another
 * program could read it (logs at debug level, Events, status, labels). Resource limits
 * reach the engine.
 */
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { type DefinitionSpec, type Instance } from "../../controller/src/api/types.js";
import { CONFIGMAPS, DEFINITIONS, EVENTS, INSTANCES, SECRETS } from "../../controller/src/kube/resources.js";
import { httpGet, images, run, waitFor } from "../harness/index.js";
import {
  type AgentWorld,
  agentWorld,
  capturedLog,
  containersOf,
  runAgent,
} from "../integration/agent-fixtures.js";
import { applyDefinition, listInstances, runController } from "../integration/controller-fixtures.js";

const echo = { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" as const };
const healthCheck = { type: "http" as const, path: "/healthz", intervalSeconds: 1 };

/** Waits until every Instance of the Definition is ready and of its current deployment. */
async function readyInstances(world: AgentWorld, definition: string, replicas: number): Promise<Instance[]> {
  let last: Instance[] = [];
  return await waitFor(
    `${replicas} ready Instances of ${definition} at its current deployment`,
    async () => {
      const current = await world.client.get(DEFINITIONS, { namespace: world.namespace, name: definition });
      const deploymentId = current.status?.deploymentId;
      last = await listInstances(world.namespace, definition);
      const settled =
        deploymentId !== undefined &&
        last.length === replicas &&
        last.every((i) => i.spec.deploymentId === deploymentId && i.status?.ready === true);
      return settled ? last : undefined;
    },
    { timeoutMs: 90_000 },
  ).catch((err: unknown) => {
    const seen = last.map((i) => `${i.metadata.name}: ${i.status?.phase}/${String(i.status?.ready)}`);
    throw new Error(`${(err as Error).message}; last: ${seen.join(", ")}`);
  });
}

async function envOf(instance: Instance, name: string): Promise<string | undefined> {
  const answer = await httpGet(`${instance.status?.address?.url}/cgi-bin/env?${name}`);
  return answer?.status === 200 ? answer.body.trim() : undefined;
}

async function dockerInspect(world: AgentWorld, containerId: string): Promise<Record<string, unknown>> {
  const inspected = await run("docker", ["-H", world.url, "inspect", containerId]);
  assert.equal(inspected.code, 0, inspected.stderr);
  const [container] = JSON.parse(inspected.stdout) as Array<Record<string, unknown>>;
  assert.ok(container);
  return container;
}

test("Secret and ConfigMap values reach the containers, a new Secret value rolls, and stays unseen", async (t) => {
  const controllerLog = capturedLog();
  const agentLog = capturedLog();
  await runController(t, {}, controllerLog.logger);
  const world = await agentWorld(t);
  await runAgent(world, {}, agentLog.logger);
  const { namespace } = world;
  const secrets: [string, string] = [
    `first-${randomBytes(8).toString("hex")}`,
    `second-${randomBytes(8).toString("hex")}`,
  ];
  await world.client.create(SECRETS, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "db-credentials", namespace },
    stringData: { password: secrets[0] },
  });
  await world.client.create(CONFIGMAPS, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "settings", namespace },
    data: { MODE: "fast", REGION: "north" },
  });
  const spec: DefinitionSpec = {
    image: echo,
    replicas: 2,
    env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db-credentials", key: "password" } } }],
    envFrom: [{ configMapRef: { name: "settings" } }],
    healthCheck,
    placement: { nodeSelector: world.labels },
  };
  await applyDefinition(namespace, "web", spec);

  const first = await readyInstances(world, "web", 2);
  for (const instance of first) {
    assert.equal(await envOf(instance, "DB_PASSWORD"), secrets[0]);
    assert.equal(await envOf(instance, "MODE"), "fast");
    assert.equal(await envOf(instance, "REGION"), "north");
  }

  await world.client.mergePatch(
    SECRETS,
    { namespace, name: "db-credentials" },
    { stringData: { password: secrets[1] } },
  );
  const second = await waitFor(
    "the Instances to roll to the new Secret value",
    async () => {
      const instances = await readyInstances(world, "web", 2);
      return instances.every((i) => i.spec.deploymentId !== first[0]?.spec.deploymentId) && instances;
    },
    { timeoutMs: 90_000 },
  );
  t.diagnostic(`rolled ${first[0]?.spec.deploymentId} -> ${second[0]?.spec.deploymentId}`);
  for (const instance of second) {
    assert.notEqual(instance.status?.containerId, undefined);
    assert.ok(!first.some((old) => old.status?.containerId === instance.status?.containerId));
    assert.equal(await envOf(instance, "DB_PASSWORD"), secrets[1], "the new container sees the new value");
  }
  await waitFor("the old containers to be gone", async () => {
    const left = await Promise.all(first.map((i) => containersOf(world, i.metadata.name ?? "")));
    return left.every((containers) => containers.length === 0);
  });

  // Where the value must never show, in plain text or base64.
  const forbidden = secrets.flatMap((value) => [value, Buffer.from(value).toString("base64")]);
  const places: Record<string, string> = {
    "controller logs": controllerLog.text(),
    "agent logs": agentLog.text(),
    events: JSON.stringify((await world.client.list(EVENTS, { namespace })).items),
    definition: JSON.stringify(await world.client.get(DEFINITIONS, { namespace, name: "web" })),
    instances: JSON.stringify((await world.client.list(INSTANCES, { namespace })).items),
  };
  for (const instance of second) {
    const container = await dockerInspect(world, instance.status?.containerId ?? "");
    const config = container.Config as { Labels?: Record<string, string>; Env?: string[] };
    places[`labels of ${instance.metadata.name}`] = JSON.stringify(config.Labels);
    assert.equal(config.Labels?.[LABELS.instance], instance.metadata.name);
    assert.ok(config.Env?.includes(`DB_PASSWORD=${secrets[1]}`), "the value is in the container's env");
  }
  assert.match(places["controller logs"] ?? "", /"level":"debug"/, "the controller logged at debug level");
  assert.match(places["agent logs"] ?? "", /started container/, "the agent logged its work");
  for (const [place, text] of Object.entries(places)) {
    for (const value of forbidden) assert.ok(!text.includes(value), `the secret value shows in ${place}`);
  }
});

test("resources.memory and resources.cpus become the container's limits", async (t) => {
  await runController(t);
  const world = await agentWorld(t);
  await runAgent(world);
  await applyDefinition(world.namespace, "limited", {
    image: echo,
    resources: { memory: "64Mi", cpus: "500m" },
    healthCheck,
    placement: { nodeSelector: world.labels },
  });
  const [instance] = await readyInstances(world, "limited", 1);
  const container = await dockerInspect(world, instance?.status?.containerId ?? "");
  const host = container.HostConfig as { Memory?: number; NanoCpus?: number };
  assert.equal(host.Memory, 64 * 1024 * 1024);
  assert.equal(host.NanoCpus, 500_000_000);
});
