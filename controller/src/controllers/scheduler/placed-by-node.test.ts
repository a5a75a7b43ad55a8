import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Instance, type Resources } from "../../api/types.js";
import { INSTANCES } from "../../kube/resources.js";
import { Informer } from "../../runtime/informer.js";
import { FakeClock, flushPromises } from "../../testing/fake-clock.js";
import { FakeKubeClient } from "../../testing/fake-kube-client.js";
import { combinedLoad, NodeTotals, PlacedByNode } from "./placed-by-node.js";
import type { NodeLoad } from "./placement.js";

function instance(
  name: string,
  rv: string,
  node?: string,
  hostPort?: number,
  { definition = "web", resources }: { definition?: string; resources?: Resources } = {},
): Instance {
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { namespace: "ns", name, resourceVersion: rv },
    spec: {
      definition,
      ...(node ? { nodeName: node } : {}),
      ...(hostPort ? { hostPort } : {}),
      ...(resources ? { template: { image: "x", resources } } : {}),
    },
  } as Instance;
}

/** What placement can read of a load, over the Definitions and host ports these tests use. */
function seen(load: NodeLoad): object {
  return {
    count: load.count,
    memoryBytes: load.memoryBytes,
    cpuNanos: load.cpuNanos,
    web: load.countOf("ns", "web"),
    api: load.countOf("ns", "api"),
    ports: [1, 2, 3, 4].filter((port) => load.holdsHostPort(port)),
  };
}

async function started(items: Instance[]): Promise<{ client: FakeKubeClient; informer: Informer<Instance> }> {
  const client = new FakeKubeClient();
  client.listResults.push({ items, resourceVersion: "10" });
  const informer = new Informer<Instance>(client, INSTANCES, { clock: new FakeClock() });
  informer.start();
  await informer.waitForSync();
  await flushPromises();
  return { client, informer };
}

test("a node's totals follow binds, changes, moves, deletes and a relist; nothing is left of emptied nodes", async () => {
  const { client, informer } = await started([
    instance("a", "1", "n1", 1, { resources: { memory: "64Mi", cpus: "0.5" } }),
    instance("b", "2", "n2", 2),
    instance("c", "3"),
  ]);
  const placed = new PlacedByNode(informer);
  assert.deepEqual(
    seen(placed.load("n1")),
    { count: 1, memoryBytes: 64 * 2 ** 20, cpuNanos: 5e8, web: 1, api: 0, ports: [1] },
    "what was cached before it started",
  );
  assert.deepEqual(seen(placed.load("n3")), {
    count: 0,
    memoryBytes: 0,
    cpuNanos: 0,
    web: 0,
    api: 0,
    ports: [],
  });

  const watch = client.watches[0]!;
  watch.emit({ type: "MODIFIED", object: instance("c", "11", "n1", 3, { definition: "api" }) });
  assert.deepEqual(
    seen(placed.load("n1")),
    { count: 2, memoryBytes: 64 * 2 ** 20, cpuNanos: 5e8, web: 1, api: 1, ports: [1, 3] },
    "a binding the cache shows",
  );
  watch.emit({
    type: "MODIFIED",
    object: instance("a", "12", "n1", 4, { resources: { memory: "32Mi", cpus: "0.25" } }),
  });
  assert.deepEqual(
    seen(placed.load("n1")),
    { count: 2, memoryBytes: 32 * 2 ** 20, cpuNanos: 2.5e8, web: 1, api: 1, ports: [3, 4] },
    "a change of a bound Instance replaces what it counted",
  );
  watch.emit({ type: "MODIFIED", object: instance("a", "13", "n2", 4, { resources: { memory: "32Mi" } }) });
  assert.deepEqual(
    seen(placed.load("n1")),
    { count: 1, memoryBytes: 0, cpuNanos: 0, web: 0, api: 1, ports: [3] },
    "moved away: out of the node it left",
  );
  assert.deepEqual(
    seen(placed.load("n2")),
    { count: 2, memoryBytes: 32 * 2 ** 20, cpuNanos: 0, web: 2, api: 0, ports: [2, 4] },
    "moved: into the node it went to",
  );
  watch.emit({ type: "DELETED", object: instance("c", "14", "n1", 3, { definition: "api" }) });
  assert.deepEqual(seen(placed.load("n1")), seen(new NodeTotals()), "a delete");
  assert.equal(placed.nodeCount(), 1, "an emptied node leaves nothing");

  client.listResults.push({ items: [instance("b", "20", "n2", 2)], resourceVersion: "30" });
  watch.emit({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } });
  await flushPromises();
  assert.deepEqual(
    seen(placed.load("n2")),
    { count: 1, memoryBytes: 0, cpuNanos: 0, web: 1, api: 0, ports: [2] },
    "a relist that finds one gone",
  );
  client.watches[1]!.emit({ type: "DELETED", object: instance("b", "31", "n2", 2) });
  assert.equal(placed.nodeCount(), 0);
  await informer.stop();
});

test("after any run of events each node's totals equal a recount of what the cache shows", async () => {
  const nodes = ["n1", "n2", "n3"];
  const { client, informer } = await started([]);
  const placed = new PlacedByNode(informer);
  const watch = client.watches[0]!;
  // A fixed pseudo-random walk: binds, rebinds, unbinds, port and resource changes, deletes.
  let seed = 7;
  const next = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let step = 0; step < 400; step++) {
    const name = `i${next(12)}`;
    const exists = informer.getByKey(`ns/${name}`) !== undefined;
    if (exists && next(5) === 0) {
      watch.emit({ type: "DELETED", object: instance(name, String(100 + step)) });
      continue;
    }
    const node = next(4) === 0 ? undefined : nodes[next(3)];
    const object = instance(name, String(100 + step), node, next(3) === 0 ? 1 + next(4) : undefined, {
      definition: next(2) === 0 ? "web" : "api",
      ...(next(2) === 0 ? { resources: { memory: `${1 + next(4)}Mi`, cpus: `0.${1 + next(9)}` } } : {}),
    });
    watch.emit({ type: exists ? "MODIFIED" : "ADDED", object });
    for (const n of nodes) {
      const recount = NodeTotals.of(
        informer
          .list()
          .filter((i) => i.spec.nodeName === n)
          .map((i) => ({
            namespace: "ns",
            definition: i.spec.definition,
            nodeName: n,
            ...(i.spec.hostPort ? { hostPort: i.spec.hostPort } : {}),
            ...(i.spec.template?.resources ? { resources: i.spec.template.resources } : {}),
          })),
      );
      assert.deepEqual(seen(placed.load(n)), seen(recount), `node ${n} after step ${step}`);
    }
  }
  await informer.stop();
});

test("a host port held twice is still held after one holder goes; the totals of two loads add up", () => {
  const totals = new NodeTotals();
  const first = { namespace: "ns", definition: "web", nodeName: "n", hostPort: 1 };
  const second = { namespace: "ns", definition: "api", nodeName: "n", hostPort: 1, resources: { cpus: "1" } };
  totals.add(first);
  totals.add(second);
  totals.remove(first);
  assert.deepEqual(seen(totals), { count: 1, memoryBytes: 0, cpuNanos: 1e9, web: 0, api: 1, ports: [1] });
  const assumed = NodeTotals.of([{ namespace: "ns", definition: "web", nodeName: "n", hostPort: 2 }]);
  assert.deepEqual(seen(combinedLoad(totals, assumed)), {
    count: 2,
    memoryBytes: 0,
    cpuNanos: 1e9,
    web: 1,
    api: 1,
    ports: [1, 2],
  });
});
