import { test } from "node:test";
import assert from "node:assert/strict";
import type { Node, NodeStatus } from "../api/types.js";
import type { ListOptions, ListResult, ObjectRef } from "../kube/client.js";
import type { KubeObject, Lease, ResourceDescriptor } from "../kube/resources.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { nullLogger } from "../runtime/log.js";
import { setCondition } from "../runtime/conditions.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import type { AgentDocker } from "./docker-port.js";
import { NodeHeartbeat, type NodeCache } from "./heartbeat.js";
import { nodeStatusFor, readinessDrifted, type NodeUsage } from "./node-status.js";
import type { NodeIdentity } from "./registration.js";

const identity: NodeIdentity = {
  nodeName: "node-a",
  url: "unix:///fake/docker.sock",
  address: "10.0.0.5",
  labels: {},
  agentId: "agent-1",
  leaseNamespace: "berth-system",
  leaseDurationSeconds: 40,
};

/** Answers get(Node) with one stored Node and folds status patches into it. */
class NodeStore extends FakeKubeClient {
  node: Node = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Node",
    metadata: { name: "node-a" },
    spec: {},
  } as Node;

  override async get<T extends KubeObject>(_resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    this.calls.push({ verb: "get", ref });
    return structuredClone(this.node) as unknown as T;
  }
  override async list<T extends KubeObject>(
    _resource: ResourceDescriptor<T>,
    _options?: ListOptions,
  ): Promise<ListResult<T>> {
    this.calls.push({ verb: "list" });
    return { items: [structuredClone(this.node)] as unknown as T[], resourceVersion: "1" };
  }
  override async patchStatus<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    await super.patchStatus(resource, ref, patch);
    const status = (patch as { status: NodeStatus }).status;
    this.node = { ...this.node, status: { ...this.node.status, ...status } };
    return structuredClone(this.node) as unknown as T;
  }
  statusWrites(): number {
    return this.calls.filter((call) => call.verb === "patchStatus").length;
  }
}

const engine = {
  version: () =>
    Promise.resolve({
      version: "20.10.24",
      apiVersion: "1.41",
      os: "linux",
      arch: "amd64",
      kernelVersion: "6",
    }),
} as unknown as AgentDocker;

function heartbeatWith(
  client: NodeStore,
  clock: FakeClock,
  usage: () => NodeUsage = () => ({ instances: 0, memoryBytes: 0, nanoCpus: 0 }),
  nodes?: NodeCache,
  as: NodeIdentity = identity,
): NodeHeartbeat {
  const lease: Lease = {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: "berth-node-node-a", namespace: "berth-system" },
    spec: { holderIdentity: "agent-1", leaseDurationSeconds: 40 },
  };
  return new NodeHeartbeat({
    identity: as,
    client,
    docker: engine,
    clock,
    logger: nullLogger,
    lease,
    leaseRenewMs: 10_000,
    statusRefreshMs: 60_000,
    usage,
    ...(nodes ? { nodes } : {}),
    onLost: () => assert.fail("the node was not lost"),
  });
}

test("readiness drifted: the Node does not read what the agent reports for its engine", () => {
  const up = { reachable: true, version: "20.10.24" };
  const written = nodeStatusFor(undefined, {
    identity,
    engine: up,
    usage: { instances: 0, memoryBytes: 0, nanoCpus: 0 },
    otherNodes: 0,
    now: 0,
  });
  assert.equal(readinessDrifted(written, up), false);
  assert.equal(readinessDrifted(undefined, up), true, "never written");
  const unknown: NodeStatus = {
    ...written,
    ready: "Unknown",
    conditions: setCondition(
      written.conditions,
      { type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: "stale lease" },
      1000,
    ),
  };
  assert.equal(readinessDrifted(unknown, up), true);
  assert.equal(readinessDrifted(written, { reachable: false }), true, "the engine went away");
});

test("after an outage the next beat re-posts Ready=True, without waiting for the status interval", async () => {
  const clock = new FakeClock();
  const client = new NodeStore();
  const heartbeat = heartbeatWith(client, clock);
  await heartbeat.start();
  assert.equal(client.statusWrites(), 1, "the first beat writes the status");
  assert.equal(client.node.status?.ready, "True");

  await clock.advanceAsync(10_000, 10_000);
  await flushPromises();
  assert.equal(client.statusWrites(), 1, "nothing changed: the Lease carries liveness between refreshes");

  // The controller saw a stale Lease meanwhile and marked the Node Unknown.
  const status = client.node.status ?? {};
  client.node = {
    ...client.node,
    status: {
      ...status,
      ready: "Unknown",
      conditions: setCondition(
        status.conditions,
        { type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: "stale lease" },
        clock.now(),
      ),
    },
  };
  await clock.advanceAsync(10_000, 10_000);
  await flushPromises();
  assert.equal(client.statusWrites(), 2, "the next beat (10 s, not 60 s) writes the status again");
  assert.equal(client.node.status?.ready, "True");
  const ready = client.node.status?.conditions?.find((c) => c.type === "Ready");
  assert.equal(ready?.status, "True");
  assert.equal(ready?.reason, "AgentReady");
  await heartbeat.stop();
});

test("a changed instance count is written on the next beat, an unchanged one is not", async () => {
  const clock = new FakeClock();
  const client = new NodeStore();
  let instances = 0;
  const heartbeat = heartbeatWith(client, clock, () => ({ instances, memoryBytes: 0, nanoCpus: 0 }));
  await heartbeat.start();
  assert.equal(client.statusWrites(), 1);
  instances = 2;
  await clock.advanceAsync(10_000, 10_000);
  await flushPromises();
  assert.equal(client.statusWrites(), 2, "the count moved: written at the next beat");
  assert.equal(client.node.status?.instances, 2);
  await clock.advanceAsync(10_000, 10_000);
  await flushPromises();
  assert.equal(client.statusWrites(), 2, "unchanged: no write");
  await heartbeat.stop();
});

test("with a synced Node cache a beat reads neither its Node nor the Node list from the API server", async () => {
  const clock = new FakeClock();
  const client = new NodeStore();
  const cache: NodeCache = {
    hasSynced: () => true,
    get: () => structuredClone(client.node),
  };
  const heartbeat = heartbeatWith(client, clock, undefined, cache);
  await heartbeat.start();
  await clock.advanceAsync(30_000, 10_000);
  await flushPromises();
  const reads = client.calls.filter((call) => call.verb === "get" || call.verb === "list");
  assert.deepEqual(reads, [], "only Lease renewals and status writes reach the API server");
  assert.equal(client.statusWrites(), 1);
  await heartbeat.stop();
});

/** A NodeStore among `others` more Nodes: a one-item list answers with its remainingItemCount. */
class CrowdedNodeStore extends NodeStore {
  others = 4;
  override async list<T extends KubeObject>(
    _resource: ResourceDescriptor<T>,
    options?: ListOptions,
  ): Promise<ListResult<T>> {
    this.calls.push({ verb: "list", body: options ?? {} });
    assert.equal(options?.limit, 1, "a count reads one item, not every Node");
    return {
      items: [structuredClone(this.node)] as unknown as T[],
      resourceVersion: "1",
      remainingItemCount: this.others,
    };
  }
}

test("a loopback agent counts the other Nodes from one item's list, again only when its Node's status moved", async () => {
  const clock = new FakeClock();
  const client = new CrowdedNodeStore();
  let instances = 0;
  const heartbeat = heartbeatWith(
    client,
    clock,
    () => ({ instances, memoryBytes: 0, nanoCpus: 0 }),
    { hasSynced: () => true, get: () => structuredClone(client.node) },
    { ...identity, address: "127.0.0.1" },
  );
  const lists = (): number => client.calls.filter((call) => call.verb === "list").length;
  const misconfigured = (): string | undefined =>
    client.node.status?.conditions?.find((c) => c.type === "Misconfigured")?.message;
  await heartbeat.start();
  assert.equal(lists(), 1, "the first status write counts");
  assert.match(misconfigured() ?? "", /while 4 other Node\(s\) exist/);
  // Beats with nothing moved, past the status refresh: the refresh writes, and lists nothing.
  await clock.advanceAsync(70_000, 10_000);
  await flushPromises();
  assert.equal(client.statusWrites(), 2, "the refresh was written");
  assert.equal(lists(), 1, "a refresh alone does not count again");
  client.others = 6;
  instances = 1;
  await clock.advanceAsync(10_000, 10_000);
  await flushPromises();
  assert.equal(lists(), 2, "a moved count counts again");
  assert.match(misconfigured() ?? "", /while 6 other Node\(s\) exist/);
  await heartbeat.stop();
});

/** A NodeStore whose Node someone can delete; create and spec patches bring it back. */
class DeletableNodeStore extends NodeStore {
  gone = false;
  override async get<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    if (this.gone) {
      this.calls.push({ verb: "get", ref });
      throw Object.assign(new Error("not found"), { statusCode: 404 });
    }
    return await super.get(resource, ref);
  }
  override async create<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    await super.create(resource, obj);
    this.gone = false;
    this.node = { ...(structuredClone(obj) as unknown as Node), metadata: { name: "node-a", uid: "new" } };
    return structuredClone(this.node) as unknown as T;
  }
  override async mergePatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    await super.mergePatch(resource, ref, patch);
    const spec = (patch as { spec: Node["spec"] }).spec;
    this.node = { ...this.node, spec: { ...this.node.spec, ...spec } };
    return structuredClone(this.node) as unknown as T;
  }
}

test("a Node deleted while the agent runs is registered again at the next beat, with its status", async () => {
  const clock = new FakeClock();
  const client = new DeletableNodeStore();
  const heartbeat = heartbeatWith(client, clock, () => ({ instances: 3, memoryBytes: 0, nanoCpus: 0 }));
  await heartbeat.start();
  client.gone = true;
  client.node = { ...client.node, status: {} };
  await clock.advanceAsync(10_000, 10_000);
  await flushPromises();
  assert.equal(client.gone, false, "the Node was created again within one beat");
  assert.equal(client.calls.filter((call) => call.verb === "create").length, 1);
  assert.equal(client.node.spec.url, identity.url);
  assert.equal(client.node.spec.address, identity.address);
  assert.equal(client.node.status?.ready, "True", "and its status written in the same beat");
  assert.equal(client.node.status?.agentId, "agent-1");
  assert.equal(client.node.status?.instances, 3);
  await heartbeat.stop();
});

test("a stopping agent does not bring its deleted Node back", async () => {
  const clock = new FakeClock();
  const client = new DeletableNodeStore();
  const heartbeat = heartbeatWith(client, clock);
  await heartbeat.start();
  client.gone = true;
  await heartbeat.stop();
  assert.equal(client.gone, true);
  assert.equal(client.calls.filter((call) => call.verb === "create").length, 0);
});
