/**
 * Fixtures for the agent's integration tests: the agent runs in-process against the real
 * API server and Docker engine, and the tests play the controller's part by hand (they
 * create bound Instances through the API).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import type { Instance, InstanceStatus, RunTemplate } from "../../controller/src/api/types.js";
import { API_VERSION, INSTANCE_FINALIZER, LABELS } from "../../controller/src/api/types.js";
import type { RunningAgent } from "../../controller/src/agent/index.js";
import { leaseNameFor, startAgent } from "../../controller/src/agent/index.js";
import type { AgentOptionsInput } from "../../controller/src/agent/config.js";
import { DockerEngine } from "../../controller/src/docker/index.js";
import type { ContainerSummary } from "../../controller/src/docker/index.js";
import type { KubeClient, KubeEvent } from "../../controller/src/kube/index.js";
import {
  EVENTS,
  INSTANCES,
  LEASES,
  NODES,
  isNotFound,
  newKubeClient,
} from "../../controller/src/kube/index.js";
import { removeFinalizer } from "../../controller/src/runtime/finalizers.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { env, testNamespace, waitFor } from "../harness/index.js";

export const LEASE_NAMESPACE = "berth-system";

export function kube(): KubeClient {
  return newKubeClient(env().kc);
}

export function engine(): DockerEngine {
  return new DockerEngine({ url: env().dockerHost });
}

export interface AgentWorld {
  client: KubeClient;
  docker: DockerEngine;
  namespace: string;
  nodeName: string;
  /** The engine URL the test's agents register (see engineUrlOfOwn). */
  url: string;
  /** Agents started for the test; stopped before anything else is cleaned up. */
  agents: RunningAgent[];
}

/** A namespace and a node name of the test's own, cleaned up after it. */
export async function agentWorld(t: TestContext): Promise<AgentWorld> {
  const client = kube();
  const docker = engine();
  const namespace = await testNamespace(t, "berth-agent");
  const nodeName = `agent-test-${randomBytes(4).toString("hex")}`;
  const url = await engineUrlOfOwn(t);
  const world: AgentWorld = { client, docker, namespace, nodeName, url, agents: [] };
  t.after(() => cleanUp(world));
  return world;
}

/**
 * A URL of the test's own for the shared engine: a symlink to its socket. An agent refuses
 * a URL another live agent registered, and other agents (a benchmark, an end-to-end run)
 * may hold the engine's usual URL meanwhile; Berth's node label keeps their containers
 * apart, so a second name for the same socket is all the test needs.
 */
async function engineUrlOfOwn(t: TestContext): Promise<string> {
  const shared = env().dockerHost;
  if (!shared.startsWith("unix://")) return shared;
  const dir = await mkdtemp(path.join(os.tmpdir(), "berth-agent-test-"));
  const socket = path.join(dir, "docker.sock");
  await symlink(shared.slice("unix://".length), socket);
  t.after(() => rm(dir, { recursive: true, force: true }));
  return `unix://${socket}`;
}

/** Options that make the agent quick enough to test: short intervals and back-offs. */
export function fastOptions(
  world: AgentWorld,
  overrides: Partial<AgentOptionsInput> = {},
): AgentOptionsInput {
  return {
    nodeName: world.nodeName,
    url: world.url,
    address: "127.0.0.1",
    labels: { "berth.dev/test": "agent" },
    leaseNamespace: LEASE_NAMESPACE,
    leaseDurationMs: 15_000,
    leaseRenewIntervalMs: 1000,
    statusIntervalMs: 5000,
    stopGraceSeconds: 2,
    crashLoop: { baseMs: 2000, maxMs: 8000, resetAfterMs: 60_000 },
    resyncIntervalMs: 3000,
    workers: 4,
    ...overrides,
  };
}

/** Runs an agent until the test ends (or until the returned agent is stopped). */
export async function runAgent(
  world: AgentWorld,
  overrides: Partial<AgentOptionsInput> = {},
): Promise<RunningAgent> {
  const logger = createLogger({ level: process.env.BERTH_TEST_LOG === "1" ? "debug" : "error" });
  const agent = await startAgent(fastOptions(world, overrides), { client: world.client, logger });
  world.agents.push(agent);
  return agent;
}

/**
 * Creates an Instance bound to the world's node, as the controller would. No Definition is
 * made unless asked for: a controller running elsewhere against the same API server would
 * otherwise act on it (create Instances of its own for it).
 */
export async function createInstance(
  world: AgentWorld,
  name: string,
  template: RunTemplate,
  extra: { hostPort?: number; definition?: string } = {},
): Promise<Instance> {
  const definition = extra.definition ?? name;
  return await world.client.create(INSTANCES, {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      name,
      namespace: world.namespace,
      finalizers: [INSTANCE_FINALIZER],
      labels: { [LABELS.node]: world.nodeName },
    },
    spec: {
      definition,
      deploymentId: "test0000001",
      nodeName: world.nodeName,
      ...(extra.hostPort ? { hostPort: extra.hostPort } : {}),
      template,
    },
  });
}

export async function getInstance(world: AgentWorld, name: string): Promise<Instance | undefined> {
  try {
    return await world.client.get(INSTANCES, { namespace: world.namespace, name });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Waits until the Instance's status satisfies `check`; the failure names the last status seen. */
export async function waitForStatus(
  world: AgentWorld,
  name: string,
  description: string,
  check: (status: InstanceStatus) => boolean,
  timeoutMs = 60_000,
): Promise<InstanceStatus> {
  let last: InstanceStatus | undefined;
  try {
    return await waitFor(
      description,
      async () => {
        last = (await getInstance(world, name))?.status;
        return last && check(last) ? last : undefined;
      },
      { timeoutMs },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last)}`);
  }
}

export function condition(status: InstanceStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

/** This node's Berth containers for one Instance. */
export async function containersOf(world: AgentWorld, name: string): Promise<ContainerSummary[]> {
  return await world.docker.listContainers({
    [LABELS.node]: world.nodeName,
    [LABELS.namespace]: world.namespace,
    [LABELS.instance]: name,
  });
}

/** Events recorded on an Instance. */
export async function eventsOf(world: AgentWorld, name: string): Promise<KubeEvent[]> {
  const events = await world.client.list(EVENTS, { namespace: world.namespace });
  return events.items.filter(
    (event) => event.regarding?.name === name && event.regarding.kind === "Instance",
  );
}

async function cleanUp(world: AgentWorld): Promise<void> {
  const { client, docker, namespace, nodeName } = world;
  for (const agent of world.agents) await agent.stop();
  // With the agents stopped, let the Instances go and remove what they left.
  const instances = await client.list(INSTANCES, { namespace }).catch(() => ({ items: [] as Instance[] }));
  for (const instance of instances.items) {
    await removeFinalizer(client, INSTANCES, instance, INSTANCE_FINALIZER).catch(() => undefined);
  }
  for (const container of await docker.listContainers({ [LABELS.node]: nodeName }).catch(() => [])) {
    await docker.removeContainer(container.id, { force: true }).catch(() => undefined);
  }
  await client.delete(NODES, { name: nodeName }).catch(() => undefined);
  await client
    .delete(LEASES, { namespace: LEASE_NAMESPACE, name: leaseNameFor(nodeName) })
    .catch(() => undefined);
}
