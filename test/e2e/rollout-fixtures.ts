/**
 * Fixtures for the end-to-end tests of the controller with real agents: extra Docker
 * engines standing in for machines (hack/engines.sh), agents in-process or as `berth agent`
 * child processes (which a test may SIGKILL), the controller as a `berth controller` child
 * process, and checks that read the world back: Berth's containers on every engine,
 * Definition status and the addresses it lists answering HTTP.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import type { Definition, Instance } from "../../controller/src/api/types.js";
import { DEFINITION_FINALIZER, INSTANCE_FINALIZER, LABELS } from "../../controller/src/api/vocabulary.js";
import { nodeLeaseName } from "../../controller/src/api/vocabulary.js";
import { type RunningAgent } from "../../controller/src/agent/agent-role.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { type ContainerSummary } from "../../controller/src/docker/types.js";
import { DEFINITIONS, INSTANCES, LEASES, NODES } from "../../controller/src/kube/resources.js";
import { ignoreNotFound } from "../../controller/src/kube/errors.js";
import { removeFinalizer } from "../../controller/src/runtime/finalizers.js";
import type { ControllerHandle } from "../../controller/src/controllers/controller-role.js";
import { parseDuration } from "../../controller/src/runtime/flags.js";
import {
  type BerthProcess,
  httpGet,
  startBerthProcess,
  startExtraEngine,
  stopExtraEngine,
  waitFor,
} from "../harness/index.js";

import { type AgentWorld, runAgent } from "../integration/agent-fixtures.js";
import {
  LEASE_NAMESPACE,
  client,
  getDefinition,
  listInstances,
  startTestController,
} from "../integration/controller-fixtures.js";

export type { BerthProcess } from "../harness/index.js";

/** Liveness timings short enough for a test: a lost node is replaced within ~6 s. */
export const NODE_GRACE = "3s";
export const NODE_EVICTION = "3s";

/** One extra engine and the Node that stands for it. */
export interface EngineNode {
  engine: number;
  nodeName: string;
  url: string;
  /** The loopback address the engine publishes ports on: 127.0.0.<engine>. */
  address: string;
  docker: DockerEngine;
}

export interface World {
  namespace: string;
  /** A label only this test's Nodes carry: its Definitions select it. */
  labels: Record<string, string>;
  nodes: EngineNode[];
  stateDir: string;
  /** Run last-in first-out when the test ends, before the engines stop: agents, controllers. */
  cleanups: Array<() => Promise<void>>;
}

/**
 * Starts `engines` extra engines, numbered by the harness (a list of numbers, for older
 * tests, names them), with the test images loaded, and names a Node for each. When the test
 * ends: the world's cleanups run (agents and controllers stop, newest first), whatever the
 * test left in its namespace loses its finalizers (no agent is left to honour them), then
 * the engines stop (removing their containers) and the Nodes and Leases go.
 */
export async function startEngines(
  t: TestContext,
  namespace: string,
  engines: number | readonly number[],
): Promise<World> {
  const labels = { "berth.dev/test": randomBytes(4).toString("hex") };
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-e2e-rollout-"));
  const nodes: EngineNode[] = [];
  const world: World = { namespace, labels, nodes, stateDir, cleanups: [] };
  t.after(async () => {
    for (const cleanup of world.cleanups.reverse()) await cleanup();
    await releaseLeftovers(namespace);
    for (const node of nodes) {
      await stopExtraEngine(node.engine);
      await ignoreNotFound(client().delete(NODES, { name: node.nodeName }));
      await ignoreNotFound(
        client().delete(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(node.nodeName) }),
      );
    }
    await rm(stateDir, { recursive: true, force: true });
  });
  const wanted = typeof engines === "number" ? Array.from({ length: engines }, () => undefined) : engines;
  for (const number of wanted) {
    const {
      number: engine,
      url,
      address,
    } = number === undefined ? await startExtraEngine() : await startExtraEngine(number);
    nodes.push({
      engine,
      nodeName: `e2e-${labels["berth.dev/test"]}-${engine}`,
      url,
      address,
      docker: new DockerEngine({ url }),
    });
  }
  return world;
}

/** Drops the finalizers of what a failed test left behind, so its namespace can go. */
async function releaseLeftovers(namespace: string): Promise<void> {
  const kube = client();
  for (const instance of await listInstances(namespace)) {
    await ignoreNotFound(removeFinalizer(kube, INSTANCES, instance, INSTANCE_FINALIZER));
  }
  for (const definition of (await kube.list(DEFINITIONS, { namespace })).items) {
    await ignoreNotFound(removeFinalizer(kube, DEFINITIONS, definition, DEFINITION_FINALIZER));
  }
}

/** Agent settings that make node loss, probes and garbage collection quick to observe. */
const AGENT_TIMINGS = {
  leaseDurationMs: 3000,
  leaseRenewIntervalMs: 1000,
  statusIntervalMs: 2000,
  stopGraceSeconds: 2,
  resyncIntervalMs: 2000,
} as const;

/** runAgent for the node, with the world's timings, stopped before the engines. */
export async function runAgentInProcess(world: World, node: EngineNode): Promise<RunningAgent> {
  const nodeWorld: AgentWorld = {
    client: client(),
    docker: node.docker,
    namespace: world.namespace,
    nodeName: node.nodeName,
    url: node.url,
    address: node.address,
    labels: world.labels,
    agents: [],
    stateDir: path.join(world.stateDir, node.nodeName),
  };
  const agent = await runAgent(nodeWorld, {
    stateDir: nodeWorld.stateDir,
    crashLoop: { baseMs: 1000, maxMs: 4000, resetAfterMs: 60_000 },
    ...AGENT_TIMINGS,
  });
  world.cleanups.push(() => agent.stop());
  return agent;
}

/** startTestController with short liveness timings, stopped before the engines. */
export async function runControllerInProcess(world: World): Promise<ControllerHandle> {
  const handle = startTestController({
    nodeGracePeriodMs: parseDuration(NODE_GRACE) ?? 3000,
    nodeEvictionTimeoutMs: parseDuration(NODE_EVICTION) ?? 3000,
  });
  world.cleanups.push(() => handle.stop());
  await handle.synced();
  return handle;
}

/** `berth <role>` for the world, as the harness runs it (text logs), killed before the engines stop. */
function startBerth(
  t: TestContext,
  world: World,
  role: "agent" | "controller",
  args: string[],
): BerthProcess {
  const berth = startBerthProcess(t, role, args, { BERTH_LOG_FORMAT: "text" });
  world.cleanups.push(berth.kill);
  return berth;
}

/** `berth agent` for the node as a child process; resolves once its Node reports Ready. */
export async function startAgentProcess(
  t: TestContext,
  world: World,
  node: EngineNode,
): Promise<BerthProcess> {
  const labels = Object.entries(world.labels).map(([key, value]) => `${key}=${value}`);
  const agent = startBerth(t, world, "agent", [
    `--node-name=${node.nodeName}`,
    `--url=${node.url}`,
    `--address=${node.address}`,
    `--node-labels=${labels.join(",")}`,
    `--node-lease-namespace=${LEASE_NAMESPACE}`,
    `--node-lease-duration=${AGENT_TIMINGS.leaseDurationMs}ms`,
    `--node-lease-renew-interval=${AGENT_TIMINGS.leaseRenewIntervalMs}ms`,
    `--node-status-interval=${AGENT_TIMINGS.statusIntervalMs}ms`,
    `--stop-grace-period=${AGENT_TIMINGS.stopGraceSeconds}s`,
    `--agent-resync-interval=${AGENT_TIMINGS.resyncIntervalMs}ms`,
    `--state-dir=${path.join(world.stateDir, node.nodeName)}`,
  ]);
  await waitFor(
    `agent of ${node.nodeName} registered and Ready`,
    async () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
      const found = await client().get(NODES, { name: node.nodeName });
      return found.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\nagent output:\n${agent.output()}`);
  });
  return agent;
}

/** `berth controller` as a child process (no leader election), with short liveness timings. */
export function startControllerProcess(t: TestContext, world: World): BerthProcess {
  return startBerth(t, world, "controller", [
    "--leader-elect=false",
    `--node-grace-period=${NODE_GRACE}`,
    `--node-eviction-timeout=${NODE_EVICTION}`,
    `--node-lease-namespace=${LEASE_NAMESPACE}`,
  ]);
}

/** Berth's containers of a namespace (and Definition) on one engine, running or not. */
export async function containersOn(
  node: EngineNode,
  namespace: string,
  definition?: string,
): Promise<ContainerSummary[]> {
  return await node.docker.listContainers({
    [LABELS.namespace]: namespace,
    ...(definition ? { [LABELS.definition]: definition } : {}),
  });
}

/** Per node name: how many of the Definition's containers run on that engine. */
export async function containerCounts(world: World, definition: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const node of world.nodes) {
    counts.set(node.nodeName, (await containersOn(node, world.namespace, definition)).length);
  }
  return counts;
}

/** Instances that are not being deleted. */
export async function liveInstances(namespace: string, definition: string): Promise<Instance[]> {
  return (await listInstances(namespace, definition)).filter((i) => !i.metadata.deletionTimestamp);
}

/** The HTTP answers of every address a Definition's status lists; undefined for an address that did not answer. */
export async function answersOf(
  definition: Definition | undefined,
): Promise<Array<{ address: string; status?: number; body?: string }>> {
  const addresses = definition?.status?.addresses ?? [];
  return await Promise.all(
    addresses.map(async (address) => {
      const answer = await httpGet(`${address}/`, 1000);
      return { address, ...(answer ? { status: answer.status, body: answer.body } : {}) };
    }),
  );
}

/**
 * Waits until the Definition's status lists `count` addresses, each accepted by `address`
 * and answering 200 with a body accepted by `body`; returns the Definition.
 */
export async function waitForAnsweringAddresses(
  namespace: string,
  name: string,
  count: number,
  opts: { body?: (text: string) => boolean; address?: (url: string) => boolean; timeoutMs?: number } = {},
): Promise<Definition> {
  const { body = () => true, address = () => true, timeoutMs = 60_000 } = opts;
  let last: unknown;
  return await waitFor(
    `${name} lists ${count} addresses that answer`,
    async () => {
      const definition = await getDefinition(namespace, name);
      const answers = await answersOf(definition);
      last = { status: definition?.status, answers };
      const good = answers.every((a) => address(a.address) && a.status === 200 && body(a.body ?? ""));
      return answers.length === count && good ? definition : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`);
  });
}

/** Every engine's containers of the Definition, with the name of the engine's node. */
export async function definitionContainers(
  world: World,
  definition: string,
): Promise<Array<{ node: string; labels: Record<string, string> }>> {
  const found: Array<{ node: string; labels: Record<string, string> }> = [];
  for (const node of world.nodes) {
    for (const container of await containersOn(node, world.namespace, definition)) {
      found.push({ node: node.nodeName, labels: container.labels });
    }
  }
  return found;
}

/**
 * Deletes the Definition and waits until it is gone (its finalizer waits for its Instances,
 * theirs for their containers). Returns the containers of it still on any engine: none, when
 * deletion works.
 */
export async function deleteDefinitionAndWait(
  world: World,
  name: string,
): Promise<Awaited<ReturnType<typeof definitionContainers>>> {
  await client().delete(DEFINITIONS, { namespace: world.namespace, name });
  await waitFor(`${name} gone`, async () => (await getDefinition(world.namespace, name)) === undefined, {
    timeoutMs: 60_000,
  });
  return await definitionContainers(world, name);
}

/** What the echo image answers on `/`: its ID, then MESSAGE on a second line. */
export const saying =
  (message: string) =>
  (body: string): boolean =>
    body.split("\n")[1] === message;
