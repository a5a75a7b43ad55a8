/**
 * Fixtures for the agent's integration tests: the agent runs in-process against the real
 * API server and Docker engine, and the tests play the controller's part by hand (they
 * create bound Instances through the API).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { PassThrough } from "node:stream";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import type { Instance, InstanceStatus, RunTemplate } from "../../controller/src/api/types.js";
import { API_VERSION } from "../../controller/src/api/types.js";
import { INSTANCE_FINALIZER, LABELS } from "../../controller/src/api/vocabulary.js";
import type { AgentDeps, RunningAgent } from "../../controller/src/agent/agent-role.js";
import { nodeLeaseName } from "../../controller/src/api/vocabulary.js";
import { startAgent } from "../../controller/src/agent/agent-role.js";
import type { AgentOptionsInput } from "../../controller/src/agent/options.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import type { ContainerSummary } from "../../controller/src/docker/types.js";
import type { KubeClient, WatchHandle } from "../../controller/src/kube/client.js";
import type { KubeEvent } from "../../controller/src/kube/resources.js";
import {
  EVENTS,
  INSTANCES,
  LEASES,
  NAMESPACES,
  NODES,
  SECRETS,
} from "../../controller/src/kube/resources.js";
import { isAlreadyExists, isNotFound } from "../../controller/src/kube/errors.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import type { DeliveredEnvironment } from "../../controller/src/environment/delivery.js";
import { environmentSecret, nodeNamespace } from "../../controller/src/environment/delivery.js";
import { removeFinalizer } from "../../controller/src/runtime/finalizers.js";
import { createLogger, type Logger } from "../../controller/src/runtime/log.js";
import { env, startExtraEngine, stopExtraEngine, testNamespace, waitFor } from "../harness/index.js";

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
  /** Where the node's published ports answer: 127.0.0.1, or 127.0.0.<N> on extra engine N. */
  address: string;
  /** Node labels of this world's agents: unique, so placement can aim at this node alone. */
  labels: Record<string, string>;
  /** Agents started for the test; stopped before anything else is cleaned up. */
  agents: Array<Pick<RunningAgent, "stop">>;
  /** The number of the world's extra engine (hack/engines.sh), when it runs on one. */
  engineNumber?: number;
  /** Stops the world's extra engine, after everything else is cleaned up. */
  stopEngine?: () => Promise<void>;
  /** The state directory of the world's agents: private, removed after the test. */
  stateDir: string;
}

export interface AgentWorldOptions {
  /**
   * Run on an extra engine of hack/engines.sh (started here, images loaded unless
   * loadImages is false, stopped after): "extra" for one whose number the harness hands
   * out; a number names the engine (older tests; two files naming one number collide).
   */
  engine?: "extra" | number;
  /** Copy the test images into the extra engine (default true). */
  loadImages?: boolean;
  /** Share a namespace with another world (a second node in the same namespace). */
  namespace?: string;
}

/** A namespace and a node name of the test's own, cleaned up after it. */
export async function agentWorld(t: TestContext, options: AgentWorldOptions = {}): Promise<AgentWorld> {
  const client = kube();
  const namespace = options.namespace ?? (await testNamespace(t, "berth-agent"));
  const nodeName = `agent-test-${randomBytes(4).toString("hex")}`;
  const world: AgentWorld = {
    client,
    docker: engine(),
    namespace,
    nodeName,
    url: "",
    address: "127.0.0.1",
    labels: { "berth.dev/test": nodeName },
    agents: [],
    stateDir: await mkdtemp(path.join(os.tmpdir(), "berth-agent-state-")),
  };
  // Registered before the engine starts, so that a failed start is cleaned up too.
  t.after(() => cleanUp(world));
  if (options.engine === undefined) {
    world.url = await engineUrlOfOwn(t);
  } else {
    const loadImages = options.loadImages ?? true;
    const engine =
      options.engine === "extra"
        ? await startExtraEngine({ loadImages })
        : await startExtraEngine(options.engine, { loadImages });
    world.engineNumber = engine.number;
    world.stopEngine = () => stopExtraEngine(engine.number);
    world.url = engine.url;
    world.docker = new DockerEngine({ url: world.url });
    world.address = engine.address;
  }
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
    address: world.address,
    labels: world.labels,
    stateDir: world.stateDir,
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

/** The log level of Berth's parts in tests: BERTH_TEST_LOG=1 shows everything. */
export function testLogger(): Logger {
  return createLogger({ level: process.env.BERTH_TEST_LOG === "1" ? "debug" : "error" });
}

/** A debug-level logger whose lines are kept in memory, for tests that read what was logged. */
export function capturedLog(): { logger: Logger; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk.toString()));
  return { logger: createLogger({ level: "debug", stream }), text: () => chunks.join("") };
}

/**
 * The one way tests run an agent in-process: for the world's node with fastOptions (and
 * these overrides), until the test ends or the returned agent is stopped. deps replace the
 * world's API client (another identity) or give the agent its own Docker module (one with
 * an observer).
 */
export async function runAgent(
  world: AgentWorld,
  overrides: Partial<AgentOptionsInput> = {},
  logger: Logger = testLogger(),
  deps: Partial<Pick<AgentDeps, "client" | "docker">> = {},
): Promise<RunningAgent> {
  const agent = await startAgent(fastOptions(world, overrides), { client: world.client, logger, ...deps });
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
  extra: { hostPort?: number; definition?: string; environmentFrom?: "NodeSecret" } = {},
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
      ...(extra.environmentFrom ? { environmentFrom: extra.environmentFrom } : {}),
      template,
    },
  });
}

/**
 * Delivers an Instance's environment as the controller would: the Secret in the Node's
 * namespace (made here when missing), for an Instance created with environmentFrom NodeSecret.
 */
export async function deliverEnvironment(
  world: AgentWorld,
  instance: Instance,
  content: DeliveredEnvironment,
): Promise<void> {
  await deliverEnvironmentTo(world.client, world.nodeName, instance, content);
}

/** deliverEnvironment for a test without an AgentWorld: the Instance's Node by name. */
export async function deliverEnvironmentTo(
  client: KubeClient,
  nodeName: string,
  instance: Instance,
  content: DeliveredEnvironment,
): Promise<void> {
  await client
    .create(NAMESPACES, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: nodeNamespace(nodeName) },
    })
    .catch((err: unknown) => {
      if (!isAlreadyExists(err)) throw err;
    });
  await client.create(SECRETS, environmentSecret(instance, content));
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

/**
 * Every status of one Instance, from a watch, stamped with when it arrived: timing tests
 * measure from their own action to the status that answers it.
 */
export class StatusTimeline {
  readonly seen: Array<{ at: number; status: InstanceStatus }> = [];
  private handle: WatchHandle | undefined;
  private stopped = false;
  /** Why the watch could not be resumed, if it could not: named when a wait times out. */
  private watchError: unknown;

  private constructor(
    private readonly world: AgentWorld,
    private readonly name: string,
  ) {}

  static async start(t: TestContext, world: AgentWorld, name: string): Promise<StatusTimeline> {
    const timeline = new StatusTimeline(world, name);
    const current = await world.client.get(INSTANCES, { namespace: world.namespace, name });
    if (current.status) timeline.seen.push({ at: Date.now(), status: current.status });
    await timeline.watchFrom(current.metadata.resourceVersion ?? "");
    t.after(() => timeline.stop());
    return timeline;
  }

  stop(): void {
    this.stopped = true;
    this.handle?.stop();
  }

  /** The first status that arrived at or after `since` and satisfies `check`, waited for. */
  async first(
    description: string,
    since: number,
    check: (status: InstanceStatus) => boolean,
    timeoutMs = 60_000,
  ): Promise<{ at: number; status: InstanceStatus }> {
    return await waitFor(
      description,
      () => this.seen.find((entry) => entry.at >= since && check(entry.status)),
      { timeoutMs, intervalMs: 20 },
    ).catch((err: unknown) => {
      const why = this.watchError instanceof Error ? `; the watch failed: ${this.watchError.message}` : "";
      throw new Error(`${(err as Error).message}${why}`);
    });
  }

  private async watchFrom(resourceVersion: string): Promise<void> {
    let latest = resourceVersion;
    this.handle = await this.world.client.watch(
      INSTANCES,
      {
        namespace: this.world.namespace,
        fieldSelector: `metadata.name=${this.name}`,
        resourceVersion,
      },
      (event) => {
        if (event.type !== "ADDED" && event.type !== "MODIFIED") return;
        const instance = event.object as Instance;
        latest = instance.metadata.resourceVersion ?? latest;
        if (instance.status) this.seen.push({ at: Date.now(), status: instance.status });
      },
      () => {
        // The server ends watches now and then: resume where this one stopped.
        if (!this.stopped) {
          void this.watchFrom(latest).catch((err: unknown) => {
            this.watchError = err;
          });
        }
      },
    );
  }
}

export function condition(status: InstanceStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

/** The installation the world's agents label their containers with: the UID of berth-system. */
export async function installationOf(world: Pick<AgentWorld, "client">): Promise<string> {
  const namespace = await world.client.get(NAMESPACES, { name: LEASE_NAMESPACE });
  const uid = namespace.metadata?.uid;
  if (!uid) throw new Error(`namespace ${LEASE_NAMESPACE} has no UID`);
  return uid;
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
  // With the agents stopped, let the Instances go (the world's, and any other namespace's
  // bound to its node) and remove what they left.
  const instances = await client.list(INSTANCES).catch(() => ({ items: [] as Instance[] }));
  const ours = instances.items.filter(
    (instance) => instance.metadata.namespace === namespace || instance.spec.nodeName === nodeName,
  );
  for (const instance of ours) {
    await removeFinalizer(client, INSTANCES, instance, INSTANCE_FINALIZER).catch(() => undefined);
  }
  for (const container of await docker.listContainers({ [LABELS.node]: nodeName }).catch(() => [])) {
    await docker.removeContainer(container.id, { force: true }).catch(() => undefined);
  }
  await client.delete(NODES, { name: nodeName }).catch(() => undefined);
  await client
    .delete(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(nodeName) })
    .catch(() => undefined);
  await client.delete(NAMESPACES, { name: nodeNamespace(nodeName) }).catch(() => undefined);
  await world.stopEngine?.();
  await rm(world.stateDir, { recursive: true, force: true });
}
