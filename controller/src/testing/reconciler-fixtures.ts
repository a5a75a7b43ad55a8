/**
 * A world for the reconcilers' unit tests: the in-memory API server, the role's informer
 * caches running over it (real Informers, so a held watch is a lagging cache), a fake clock
 * and recorded Events. Tests call a reconciler's reconcile() by key and look at what the
 * server stores; they play the agent and the user by writing to the server.
 */
import {
  API_VERSION,
  type Definition,
  type DefinitionSpec,
  type Instance,
  type InstanceStatus,
  type Node,
} from "../api/types.js";
import { CONFIGMAPS, DEFINITIONS, INSTANCES, LEASES, NODES, SECRETS, type Lease } from "../kube/resources.js";
import { FakeClock, flushPromises } from "./fake-clock.js";
import type { ReconcileContext, Reconciler, Result } from "../runtime/controller.js";
import { RecordingEventRecorder } from "./recording-events.js";
import { FakeApiServer } from "./fake-apiserver.js";
import { Informer, parseKey } from "../runtime/informer.js";
import { nullLogger } from "../runtime/log.js";
import { toTimestamp } from "../runtime/conditions.js";
import { CONDITIONS, nodeLeaseName } from "../api/vocabulary.js";
import { DEFAULT_SETTINGS, type ControllerContext } from "../controllers/context.js";
import { DeploymentSalt } from "../controllers/definition/deployment-salt.js";
import { ReferencedContentHashes, metadataOnly } from "../controllers/definition/referenced-content.js";
import { ApplyTrace } from "../controllers/apply-trace.js";
import { instanceForCache } from "../controllers/cache-shape.js";

export const NS = "team";

/** A Definition spec of the image test Definitions share, with the fields a test sets. */
export const webSpec = (spec: Partial<DefinitionSpec> = {}): DefinitionSpec => ({
  image: { name: "registry.invalid/web:1", port: 8080 },
  ...spec,
});

export interface World {
  server: FakeApiServer;
  clock: FakeClock;
  events: RecordingEventRecorder;
  context: ControllerContext;
  /** Runs one reconcile of `key` and lets the watch events it caused reach the caches. */
  reconcile(reconciler: Reconciler, key: string): Promise<Result | void>;
  /** Lets pending watch events reach the caches. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export async function newWorld(): Promise<World> {
  const clock = new FakeClock(Date.parse("2026-03-01T12:00:00Z"));
  const server = new FakeApiServer({ now: () => clock.now() });
  // The caches keep their own clock: the reconcilers' time moves, their watch timers never fire.
  const cacheClock = new FakeClock();
  const settings = { ...DEFAULT_SETTINGS };
  const caches = {
    definitions: new Informer(server, DEFINITIONS, { clock: cacheClock }),
    // As the controller role keeps them: templates shared and frozen, so a reconciler that
    // wrote to one would throw in its tests.
    instances: new Informer(server, INSTANCES, { clock: cacheClock, transform: instanceForCache }),
    nodes: new Informer(server, NODES, { clock: cacheClock }),
    secrets: new Informer(server, SECRETS, { clock: cacheClock, transform: metadataOnly }),
    configMaps: new Informer(server, CONFIGMAPS, { clock: cacheClock, transform: metadataOnly }),
    leases: new Informer(server, LEASES, { clock: cacheClock, namespace: settings.leaseNamespace }),
  };
  for (const informer of Object.values(caches)) {
    informer.start();
    await informer.waitForSync();
  }
  const events = new RecordingEventRecorder();
  const context: ControllerContext = {
    client: server,
    caches,
    clock,
    logger: nullLogger,
    events,
    settings,
    referencedContent: new ReferencedContentHashes(
      server,
      new DeploymentSalt(server, settings.deploymentSaltNamespace),
      caches,
    ),
    trace: new ApplyTrace(),
  };
  context.trace.watch(caches.definitions, caches.instances);
  const settle = async (): Promise<void> => flushPromises();
  await settle();
  return {
    server,
    clock,
    events,
    context,
    settle,
    async reconcile(reconciler, key) {
      const ctx: ReconcileContext = {
        log: nullLogger,
        reconcileID: "test",
        signal: new AbortController().signal,
        clock,
      };
      const result = await reconciler.reconcile({ key, ...parseKey(key) }, ctx);
      await settle();
      return result;
    },
    async stop() {
      for (const informer of Object.values(caches)) await informer.stop();
    },
  };
}

export async function applyDefinition(world: World, name: string, spec: DefinitionSpec): Promise<Definition> {
  const existing = world.server.peek(DEFINITIONS, { namespace: NS, name });
  const body: Definition = {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { namespace: NS, name },
    spec,
  };
  const stored = existing
    ? await world.server.replace(DEFINITIONS, { ...body, metadata: existing.metadata })
    : await world.server.create(DEFINITIONS, body);
  await world.settle();
  return stored;
}

/** A Node whose agent reports it Ready with a fresh heartbeat (Lease renewed now). */
export async function readyNode(
  world: World,
  name: string,
  extra: Partial<Node["spec"]> = {},
): Promise<void> {
  const stamp = toTimestamp(world.clock.now());
  await world.server.create(NODES, {
    apiVersion: API_VERSION,
    kind: "Node",
    metadata: { name },
    spec: { url: `tcp://${name}.invalid:2375`, address: `${name}.invalid`, ...extra },
  });
  await world.server.patchStatus(NODES, { name }, { status: readyStatus(stamp) });
  await renewLease(world, name);
}

function readyStatus(stamp: string): Node["status"] {
  return {
    lastHeartbeat: stamp,
    ready: "True",
    conditions: [
      {
        type: CONDITIONS.ready,
        status: "True",
        reason: "AgentReady",
        message: "",
        lastTransitionTime: stamp,
      },
    ],
  };
}

/** What the node's agent does every 10 s. */
export async function renewLease(world: World, node: string): Promise<void> {
  const ref = { namespace: world.context.settings.leaseNamespace, name: nodeLeaseName(node) };
  const renewTime = new Date(world.clock.now()).toISOString();
  if (world.server.peek(LEASES, ref)) {
    await world.server.mergePatch(LEASES, ref, { spec: { renewTime } });
  } else {
    const lease: Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: ref,
      spec: { holderIdentity: node, leaseDurationSeconds: 40, renewTime },
    };
    await world.server.create(LEASES, lease);
  }
  await world.settle();
}

/** What the agent writes once the container runs and passes its health check. */
export async function markRunning(world: World, name: string, ready = true): Promise<void> {
  const stamp = toTimestamp(world.clock.now());
  const status: InstanceStatus = {
    phase: "Running",
    ready,
    conditions: [
      {
        type: CONDITIONS.ready,
        status: ready ? "True" : "False",
        reason: "Probe",
        message: "",
        lastTransitionTime: stamp,
      },
    ],
  };
  await world.server.patchStatus(INSTANCES, { namespace: NS, name }, { status });
  await world.settle();
}

/** Binds an Instance as the scheduler would (tests that are not about scheduling). */
export async function bind(world: World, name: string, node: string): Promise<void> {
  await world.server.mergePatch(INSTANCES, { namespace: NS, name }, { spec: { nodeName: node } });
  await world.settle();
}

export function instances(world: World, definition?: string): Instance[] {
  return world.server
    .peekAll(INSTANCES, NS)
    .filter((i) => definition === undefined || i.spec.definition === definition);
}

export function names(list: readonly Instance[]): string[] {
  return list.map((i) => i.metadata.name ?? "");
}

export function eventReasons(world: World, key?: string): string[] {
  return world.events.events.filter((e) => key === undefined || e.key === key).map((e) => e.reason);
}
