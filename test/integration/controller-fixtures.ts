/**
 * Fixtures for the controller's integration tests against the real API server: the
 * controller role in-process, Nodes with a heartbeat, and a stand-in for the agent that
 * plays its part through the API only (marks bound Instances running and ready, removes the
 * container finalizer of deleted ones), so the controller can be tested without Docker.
 */
import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import {
  API_VERSION,
  type Definition,
  type DefinitionSpec,
  type Instance,
  type Node,
} from "../../controller/src/api/types.js";
import { INSTANCE_FINALIZER } from "../../controller/src/api/vocabulary.js";
import { startController, type ControllerHandle } from "../../controller/src/controllers/controller-role.js";
import { nodeLeaseName } from "../../controller/src/api/vocabulary.js";
import { nodeNamespace } from "../../controller/src/environment/delivery.js";
import { DEFINITIONS, INSTANCES, LEASES, NAMESPACES, NODES } from "../../controller/src/kube/resources.js";
import {
  getOrUndefined,
  ignoreNotFound,
  isConflict,
  isNotFound,
  isPatchTestFailed,
} from "../../controller/src/kube/errors.js";
import { newKubeClient, type KubeClient } from "../../controller/src/kube/client.js";
import { removeFinalizer } from "../../controller/src/runtime/finalizers.js";
import { createLogger, type Logger } from "../../controller/src/runtime/log.js";
import { TEST_FILE_REPOSITORIES, env, waitFor } from "../harness/index.js";

export const LEASE_NAMESPACE = "berth-system";

let shared: KubeClient | undefined;

/**
 * The test process's client of the local API server. One for the process: every client
 * has its own keep-alive connection pool, and a client per call (a heartbeat every 500 ms)
 * left hundreds of idle connections open.
 */
export function client(): KubeClient {
  shared ??= newKubeClient(env().kc);
  return shared;
}

/** The log level of the controllers tests run: BERTH_TEST_LOG=1 shows everything. */
function controllerLogger(): Logger {
  return createLogger({ level: process.env.BERTH_TEST_LOG === "1" ? "debug" : "error" });
}

/**
 * The one way tests run the controller role in-process: the test lease namespace and file
 * repositories, these options on top, as `kube` (the admin by default). The caller stops it
 * and waits for synced() (runController does both).
 */
export function startTestController(
  options: Parameters<typeof startController>[0] = {},
  logger: Logger = controllerLogger(),
  kube: KubeClient = client(),
): ControllerHandle {
  return startController(
    { leaseNamespace: LEASE_NAMESPACE, fileRepositories: TEST_FILE_REPOSITORIES, ...options },
    { client: kube, logger },
  );
}

/** startTestController until the test ends; resolves once its caches have synced. */
export async function runController(
  t: TestContext,
  options: Parameters<typeof startController>[0] = {},
  logger: Logger = controllerLogger(),
  kube: KubeClient = client(),
): Promise<ControllerHandle> {
  const handle = startTestController(options, logger, kube);
  t.after(() => handle.stop());
  await handle.synced();
  return handle;
}

/** A label that keeps a test's Instances on that test's Nodes (other tests may leave Nodes). */
export function testLabel(): Record<string, string> {
  return { "berth.dev/test": randomBytes(4).toString("hex") };
}

/** How often the test Nodes heartbeat: well inside any grace period a test configures. */
export const TEST_HEARTBEAT_MS = 500;

export interface TestNodes {
  labels: Record<string, string>;
  nodes: string[];
  /** Stops one Node's heartbeat, as a lost machine would. */
  stopBeating(node: string): void;
}

/**
 * Nodes named node-<role>-<suffix>, one per role, carrying a label unique to this test (so
 * its Definitions select them and nothing else), heartbeating while the test runs (the
 * controller marks a silent Node Ready=Unknown after its grace period), deleted after it.
 */
export async function testNodes(t: TestContext, roles: string[]): Promise<TestNodes> {
  const labels = testLabel();
  const suffix = Object.values(labels)[0] ?? "";
  const nodes = roles.map((role) => `node-${role}-${suffix}`);
  const { stopBeating } = await createNodes(t, nodes, labels);
  return { labels, nodes, stopBeating };
}

export async function createNodes(
  t: TestContext,
  names: string[],
  labels: Record<string, string>,
): Promise<Pick<TestNodes, "stopBeating">> {
  const kube = client();
  const beating = new Set(names);
  for (const name of names) {
    const node: Node = {
      apiVersion: API_VERSION,
      kind: "Node",
      metadata: { name },
      spec: { url: `tcp://${name}.invalid:2375`, address: `${name}.invalid`, labels },
    };
    await kube.create(NODES, node);
    await heartbeat(name);
  }
  const failures: unknown[] = [];
  let beat: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beat = beat.then(async () => {
      for (const name of beating) await heartbeat(name).catch((err: unknown) => failures.push(err));
    });
  }, TEST_HEARTBEAT_MS);
  t.after(async () => {
    clearInterval(timer);
    await beat;
    for (const name of names) {
      await ignoreNotFound(kube.delete(NODES, { name }));
      await ignoreNotFound(kube.delete(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(name) }));
      // Where the controller delivered the environments of the Node's Instances.
      await ignoreNotFound(kube.delete(NAMESPACES, { name: nodeNamespace(name) }));
    }
    if (failures.length > 0) throw new Error(`test Node heartbeats failed: ${String(failures[0])}`);
  });
  return { stopBeating: (name) => beating.delete(name) };
}

/** What an agent does every few seconds: renew its Lease and report its Node Ready. */
export async function heartbeat(name: string): Promise<void> {
  const kube = client();
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, ".000000Z");
  const leaseRef = { namespace: LEASE_NAMESPACE, name: nodeLeaseName(name) };
  try {
    await kube.mergePatch(LEASES, leaseRef, { spec: { renewTime: now, holderIdentity: name } });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await kube.create(LEASES, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: leaseRef,
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: now },
    });
  }
  const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  await kube.patchStatus(
    NODES,
    { name },
    {
      status: {
        lastHeartbeat: stamp,
        ready: "True",
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "AgentReady",
            message: "test agent",
            lastTransitionTime: stamp,
          },
        ],
      },
    },
  );
}

export async function applyDefinition(
  namespace: string,
  name: string,
  spec: DefinitionSpec,
): Promise<Definition> {
  const kube = client();
  const body: Definition = {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace },
    spec,
  };
  try {
    const current = await kube.get(DEFINITIONS, { namespace, name });
    return await kube.replace(DEFINITIONS, { ...body, metadata: { ...current.metadata } });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return await kube.create(DEFINITIONS, body);
  }
}

export async function getDefinition(namespace: string, name: string): Promise<Definition | undefined> {
  return await getOrUndefined(() => client().get(DEFINITIONS, { namespace, name }));
}

export async function listInstances(namespace: string, definition?: string): Promise<Instance[]> {
  const { items } = await client().list(INSTANCES, {
    namespace,
    ...(definition ? { labelSelector: `berth.dev/definition=${definition}` } : {}),
  });
  return items.sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
}

export function condition(definition: Definition | undefined, type: string): string | undefined {
  const found = definition?.status?.conditions?.find((c) => c.type === type);
  return found ? `${found.status}/${found.reason}` : undefined;
}

export async function waitForCondition(
  namespace: string,
  name: string,
  type: string,
  want: string,
  timeoutMs = 30_000,
): Promise<Definition> {
  let last: string | undefined;
  return await waitFor(
    `Definition ${name} ${type}=${want}`,
    async () => {
      const definition = await getDefinition(namespace, name);
      last = condition(definition, type);
      return last === want ? definition : undefined;
    },
    { timeoutMs },
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (last: ${last ?? "none"})`);
  });
}

/**
 * Plays the agent for the given Nodes in one namespace: Instances bound there become Running
 * and ready (unless `readyWhen` says no), deleted ones lose their container finalizer.
 */
export class StandInAgent {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private readonly kube = client();
  private nextPort = 31000;
  readonly errors: unknown[] = [];

  constructor(
    private readonly namespace: string,
    private readonly nodes: Set<string>,
    private readonly readyWhen: (instance: Instance) => boolean = () => true,
  ) {}

  start(t: TestContext): this {
    const tick = (): void => {
      // A timer that fired just before stop() still reaches here: it must not start again.
      if (this.stopped) return;
      this.running = this.pass().catch((err: unknown) => {
        this.errors.push(err);
      });
      this.timer = setTimeout(() => void this.running.then(tick), 200);
    };
    tick();
    t.after(() => this.stop());
    return this;
  }

  /** Stops, then fails the test if a pass failed for a reason other than a lost race. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.errors.length > 0) {
      throw new Error(
        `the stand-in agent failed ${this.errors.length} time(s); first: ${String(this.errors[0])}`,
      );
    }
  }

  /** Stops serving one node (its Instances are no longer touched). */
  forget(node: string): void {
    this.nodes.delete(node);
  }

  private async pass(): Promise<void> {
    for (const instance of await listInstances(this.namespace)) {
      const node = instance.spec.nodeName;
      if (!node || !this.nodes.has(node)) continue;
      try {
        await this.serve(instance, node);
      } catch (err) {
        // The controller changed or removed the Instance since the list: the next pass sees it anew.
        if (isNotFound(err) || isConflict(err) || isPatchTestFailed(err)) continue;
        throw err;
      }
    }
  }

  private async serve(instance: Instance, node: string): Promise<void> {
    if (instance.metadata.deletionTimestamp) {
      await removeFinalizer(this.kube, INSTANCES, instance, INSTANCE_FINALIZER);
      return;
    }
    if (instance.status?.phase === "Running" || instance.status?.phase === "Starting") return;
    const ready = this.readyWhen(instance);
    const port = instance.spec.hostPort ?? this.nextPort++;
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    await this.kube.patchStatus(
      INSTANCES,
      { namespace: this.namespace, name: instance.metadata.name ?? "" },
      {
        status: {
          phase: ready ? "Running" : "Starting",
          ready,
          address: { url: `http://${node}.invalid:${port}`, host: `${node}.invalid`, port },
          conditions: [
            {
              type: "Ready",
              status: ready ? "True" : "False",
              reason: "Probe",
              message: "",
              lastTransitionTime: stamp,
            },
          ],
        },
      },
    );
  }
}
