import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Condition, type Instance, type InstanceStatus } from "../../api/types.js";
import { INSTANCES } from "../../kube/resources.js";
import { newDiscoveryController } from "./discovery-watches.js";
import { discoveryOfInstanceMayDiffer } from "./instance-changes.js";
import { NS, applyDefinition, type World } from "../../testing/reconciler-fixtures.js";
import { KEY, mirrorWorld, writes } from "../../testing/discovery-fixtures.js";

const WEB = { namespace: NS, name: "web-abc-0" };
const EXTERNAL = { namespace: NS, name: "web-ext-0" };

interface Watched {
  world: World;
  /** How many keys the Instance changes made `change` enqueue (every one is KEY). */
  wakes(change: () => Promise<unknown>): Promise<number>;
  /** One discovery pass; the API writes it made. */
  pass(): Promise<string[]>;
}

/** The discovery controller's watches on a fake API server, the keys they enqueue counted. */
async function watched(t: TestContext): Promise<Watched> {
  const { world, mirror, reconcile } = await mirrorWorld(t);
  await applyDefinition(world, "web", { image: { name: "web", port: 80 } });
  const controller = newDiscoveryController(world.context, mirror);
  const enqueued: string[] = [];
  controller.enqueue = (key: string) => void enqueued.push(key);
  return {
    world,
    async wakes(change) {
      enqueued.length = 0;
      await change();
      await world.settle();
      assert.ok(
        enqueued.every((key) => key === KEY),
        `only the slug's key: ${enqueued.join(", ")}`,
      );
      return enqueued.length;
    },
    async pass() {
      world.server.calls.length = 0;
      await reconcile();
      return writes(world);
    },
  };
}

function condition(type: string, status: Condition["status"], reason: string): Condition {
  return { type, status, reason, message: "", lastTransitionTime: "2026-03-01T12:00:00Z" };
}

function instance(name: string, spec: Partial<Instance["spec"]>): Instance {
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { namespace: NS, name, labels: { "berth.dev/definition": "web" } },
    spec: { definition: "web", ...spec },
  };
}

const RUN = { deploymentId: "abc", template: { image: { name: "web", port: 80 } } };
const ADDRESS = { url: "http://10.0.0.5:31000", host: "10.0.0.5", port: 31000 };

/** A Berth-run Instance bound to node-a, ready at ADDRESS, as the agent leaves it. */
async function readyInstance(world: World): Promise<void> {
  await world.server.create(INSTANCES, instance(WEB.name, { ...RUN, nodeName: "node-a" }));
  await status(world, WEB, {
    phase: "Running",
    ready: true,
    address: ADDRESS,
    containerId: "c1",
    lastProbeTime: "2026-03-01T12:00:00Z",
    firstReadyTime: "2026-03-01T12:00:00Z",
    conditions: [condition("Ready", "True", "HealthCheckPassed")],
  });
}

async function status(world: World, ref: typeof WEB, patch: InstanceStatus): Promise<void> {
  await world.server.patchStatus(INSTANCES, ref, { status: patch });
  await world.settle();
}

test("the agent's status writes on the way to Ready wake no discovery pass, and a pass would write nothing for them", async (t) => {
  const { world, wakes, pass } = await watched(t);
  await world.server.create(INSTANCES, instance(WEB.name, { ...RUN, nodeName: "node-a" }));
  await world.settle();
  assert.ok((await pass()).length > 0, "the Service and the Definition's Published condition");
  const scheduled = condition("Scheduled", "True", "Bound");
  const steps: InstanceStatus[] = [
    { phase: "Scheduled", conditions: [scheduled], message: "bound to node-a" },
    {
      phase: "Pulling",
      message: "pulling web",
      conditions: [scheduled, condition("Ready", "False", "Pulling")],
    },
    {
      phase: "Starting",
      containerId: "c1",
      message: "starting",
      conditions: [
        scheduled,
        condition("ContainerReady", "True", "Started"),
        condition("Ready", "False", "Starting"),
      ],
    },
  ];
  for (const step of steps) {
    assert.equal(await wakes(() => status(world, WEB, step)), 0, `phase ${step.phase}`);
    assert.deepEqual(await pass(), [], `phase ${step.phase}: nothing to publish`);
  }
});

test("a ready Instance's later status writes that leave readiness and address alone wake no pass", async (t) => {
  const { world, wakes, pass } = await watched(t);
  await readyInstance(world);
  await pass();
  assert.deepEqual(await pass(), [], "published");
  const changes: Array<[string, InstanceStatus]> = [
    ["lastProbeTime", { lastProbeTime: "2026-03-01T12:10:00Z" }],
    ["restarts and containerId", { restarts: 1, containerId: "c2" }],
    ["firstReadyTime", { firstReadyTime: "2026-03-01T12:05:00Z" }],
    ["observedGeneration", { observedGeneration: 2 }],
    ["message", { message: "serving" }],
    ["the Ready condition's reason", { conditions: [condition("Ready", "True", "Probed")] }],
    [
      "another condition",
      { conditions: [condition("Ready", "True", "Probed"), condition("Custom", "False", "X")] },
    ],
  ];
  for (const [what, change] of changes) {
    assert.equal(await wakes(() => status(world, WEB, change)), 0, what);
    assert.deepEqual(await pass(), [], `${what}: nothing to publish`);
  }
});

test("an external Instance's recorded heartbeat (renewTime) wakes no pass", async (t) => {
  const { world, wakes, pass } = await watched(t);
  await world.server.create(
    INSTANCES,
    instance(EXTERNAL.name, { external: { url: "http://10.1.2.3:8080", ttlSeconds: 30 } }),
  );
  await status(world, EXTERNAL, { ready: true, renewTime: "2026-03-01T12:00:00Z" });
  await pass();
  assert.equal(await wakes(() => status(world, EXTERNAL, { renewTime: "2026-03-01T12:00:20Z" })), 0);
  assert.deepEqual(await pass(), []);
});

/** Changes that change what discovery publishes, or may: each still wakes one pass. */
const WAKING: Array<[string, (world: World) => Promise<unknown>]> = [
  ["a change of status.ready (turning false)", (world) => status(world, WEB, { ready: false })],
  [
    "a change of status.address.url",
    (world) => status(world, WEB, { address: { ...ADDRESS, url: "https://10.0.0.5:31000" } }),
  ],
  [
    "a change of status.address.host",
    (world) => status(world, WEB, { address: { ...ADDRESS, host: "10.0.0.6" } }),
  ],
  [
    "a change of status.address.port",
    (world) => status(world, WEB, { address: { ...ADDRESS, port: 31001 } }),
  ],
  [
    "a change of metadata.labels",
    (world) => world.server.mergePatch(INSTANCES, WEB, { metadata: { labels: { team: "a" } } }),
  ],
  [
    "a change of metadata.annotations",
    (world) => world.server.mergePatch(INSTANCES, WEB, { metadata: { annotations: { a: "b" } } }),
  ],
  [
    "a change of metadata.finalizers",
    (world) => world.server.mergePatch(INSTANCES, WEB, { metadata: { finalizers: ["x/y"] } }),
  ],
  [
    "a change of a status field discovery has not been told of",
    (world) => status(world, WEB, { future: 1 } as InstanceStatus),
  ],
  ["a delete (no finalizer: gone at once)", (world) => world.server.delete(INSTANCES, WEB)],
];

for (const [what, change] of WAKING) {
  test(`${what} wakes a discovery pass`, async (t) => {
    const { world, wakes } = await watched(t);
    await readyInstance(world);
    assert.equal(await wakes(() => change(world)), 1);
  });
}

test("an Instance turning ready wakes a pass, as does its address appearing", async (t) => {
  const { world, wakes } = await watched(t);
  await world.server.create(INSTANCES, instance(WEB.name, { ...RUN, nodeName: "node-a" }));
  await world.settle();
  assert.equal(
    await wakes(() => status(world, WEB, { phase: "Running", address: ADDRESS })),
    1,
    "the address",
  );
  assert.equal(await wakes(() => status(world, WEB, { ready: true })), 1, "readiness");
});

test("an Instance's create, its binding to a Node, its deletion (terminating) and its going each wake a pass", async (t) => {
  const { world, wakes } = await watched(t);
  const create = () => world.server.create(INSTANCES, { ...instance(WEB.name, RUN) });
  assert.equal(await wakes(create), 1, "the create");
  assert.equal(
    await wakes(() => world.server.mergePatch(INSTANCES, WEB, { spec: { nodeName: "node-a" } })),
    1,
    "spec.nodeName",
  );
  await world.server.mergePatch(INSTANCES, WEB, { metadata: { finalizers: ["berth.dev/agent"] } });
  await world.settle();
  assert.equal(await wakes(() => world.server.delete(INSTANCES, WEB)), 1, "metadata.deletionTimestamp");
  const gone = () => world.server.mergePatch(INSTANCES, WEB, { metadata: { finalizers: null } });
  assert.equal(await wakes(gone), 1, "the delete");
});

test("an external Instance's readiness and endpoint wake a pass", async (t) => {
  const { world, wakes } = await watched(t);
  await world.server.create(
    INSTANCES,
    instance(EXTERNAL.name, { external: { url: "http://10.1.2.3:8080", ttlSeconds: 30 } }),
  );
  await status(world, EXTERNAL, { ready: true, renewTime: "2026-03-01T12:00:00Z" });
  assert.equal(await wakes(() => status(world, EXTERNAL, { ready: false })), 1, "its heartbeat expired");
  const moved = { spec: { external: { url: "http://10.1.2.4:8080", ttlSeconds: 30 } } };
  assert.equal(
    await wakes(() => world.server.mergePatch(INSTANCES, EXTERNAL, moved)),
    1,
    "spec.external.url",
  );
});

test("of the metadata, only resourceVersion and managedFields are passed over", () => {
  const before: Instance = { ...instance(WEB.name, RUN), status: { ready: true, address: ADDRESS } };
  const after: Instance = {
    ...before,
    metadata: {
      ...before.metadata,
      resourceVersion: "9",
      managedFields: [{ manager: "agent" }],
    } as Instance["metadata"],
  };
  assert.equal(discoveryOfInstanceMayDiffer(before, after), false);
  const withoutStatus: Instance = { ...before, status: undefined };
  assert.equal(
    discoveryOfInstanceMayDiffer(withoutStatus, { ...before, status: { phase: "Pending" } }),
    false,
  );
  assert.equal(discoveryOfInstanceMayDiffer(withoutStatus, before), true);
});

test("the spec counts by itself, not only through the generation a spec change bumps", () => {
  const unbound: Instance = {
    ...instance(WEB.name, RUN),
    metadata: { ...instance(WEB.name, RUN).metadata, generation: 1 },
  };
  const bound: Instance = { ...unbound, spec: { ...unbound.spec, nodeName: "node-a" } };
  assert.equal(discoveryOfInstanceMayDiffer(unbound, bound), true, "spec.nodeName");
  const external = instance(EXTERNAL.name, { external: { url: "http://10.1.2.3:8080" } });
  const moved: Instance = {
    ...external,
    spec: { ...external.spec, external: { url: "http://10.1.2.4:8080" } },
  };
  assert.equal(discoveryOfInstanceMayDiffer(external, moved), true, "spec.external.url");
});
