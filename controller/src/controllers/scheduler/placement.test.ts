import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Node, type NodeSpec } from "../../api/types.js";
import { NodeTotals } from "./placed-by-node.js";
import { schedule, type NodeLoad, type PlacedInstance, type SchedulingCandidate } from "./placement.js";

/** What placement asks of a node, from a list of placements on any node. */
function on(placed: readonly PlacedInstance[]): (node: string) => NodeLoad {
  return (node) => NodeTotals.of(placed.filter((p) => p.nodeName === node));
}

function node(
  name: string,
  spec: Partial<NodeSpec> = {},
  ready: "True" | "False" | "Unknown" = "True",
): Node {
  return {
    apiVersion: API_VERSION,
    kind: "Node",
    metadata: { name },
    spec: { url: `tcp://${name}:2375`, address: name, ...spec },
    status: {
      conditions: [
        {
          type: "Ready",
          status: ready,
          reason: "x",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
    },
  };
}

function placed(nodeName: string, definition = "other", extra: Partial<PlacedInstance> = {}): PlacedInstance {
  return { namespace: "ns", definition, nodeName, ...extra };
}

const web: SchedulingCandidate = { namespace: "ns", definition: "web" };

interface Case {
  name: string;
  candidate?: Partial<SchedulingCandidate>;
  nodes: Node[];
  placed?: PlacedInstance[];
  want: string | RegExp;
}

const cases: Case[] = [
  { name: "one ready node", nodes: [node("a")], want: "a" },
  { name: "no nodes at all", nodes: [], want: /0\/0 nodes.*no Node is registered/ },
  { name: "skips not ready", nodes: [node("a", {}, "Unknown"), node("b")], want: "b" },
  { name: "skips unschedulable", nodes: [node("a", { unschedulable: true }), node("b")], want: "b" },
  {
    name: "nodeSelector",
    candidate: { nodeSelector: { zone: "b" } },
    nodes: [node("a", { labels: { zone: "a" } }), node("b", { labels: { zone: "b", disk: "ssd" } })],
    want: "b",
  },
  {
    name: "fixed hostPort avoids the node holding it",
    candidate: { hostPort: 8080 },
    nodes: [node("a"), node("b")],
    placed: [placed("a", "web", { hostPort: 8080 })],
    want: "b",
  },
  {
    name: "fixed hostPort held by another namespace's Instance still blocks",
    candidate: { hostPort: 8080 },
    nodes: [node("a"), node("b")],
    placed: [
      { namespace: "other", definition: "x", nodeName: "a", hostPort: 8080 },
      placed("b"),
      placed("b"),
    ],
    want: "b",
  },
  {
    name: "more fixed-port replicas than nodes: unschedulable with reasons",
    candidate: { hostPort: 8080 },
    nodes: [node("a"), node("b"), node("c", {}, "False")],
    placed: [placed("a", "web", { hostPort: 8080 }), placed("b", "web", { hostPort: 8080 })],
    want: "0/3 nodes are available: 2 already running an Instance on host port 8080, 1 not Ready.",
  },
  {
    name: "a privileged hostPort goes only to a Node that allows privileged ports",
    candidate: { hostPort: 80 },
    nodes: [node("a"), node("b", { allowPrivilegedPorts: true }), node("c", { allowPrivilegedPorts: false })],
    placed: [placed("b"), placed("b")],
    want: "b",
  },
  {
    name: "a privileged hostPort and no Node allowing it: unschedulable, saying what to set",
    candidate: { hostPort: 1023 },
    nodes: [node("a"), node("b", { allowPrivilegedPorts: false })],
    want: "0/2 nodes are available: 2 not allowing privileged host port 1023 (below 1024: an admin sets spec.allowPrivilegedPorts on the Node).",
  },
  {
    name: "host port 1024 needs no permission",
    candidate: { hostPort: 1024 },
    nodes: [node("a")],
    want: "a",
  },
  {
    name: "capacity.instances",
    nodes: [node("a", { capacity: { instances: 1 } }), node("b", { capacity: { instances: 5 } })],
    placed: [placed("a"), placed("b"), placed("b")],
    want: "b",
  },
  // In each capacity case spread alone would pick a (fewer Instances there): only the limit sends it to b.
  {
    name: "capacity.memory",
    candidate: { resources: { memory: "512Mi" } },
    nodes: [node("a", { capacity: { memory: "1Gi" } }), node("b", { capacity: { memory: "2Gi" } })],
    placed: [placed("a", "x", { resources: { memory: "768Mi" } }), placed("b"), placed("b")],
    want: "b",
  },
  {
    name: "capacity.memory exactly full still fits",
    candidate: { resources: { memory: "256Mi" } },
    nodes: [node("a", { capacity: { memory: "1Gi" } }), node("b")],
    placed: [placed("a", "x", { resources: { memory: "768Mi" } }), placed("b"), placed("b")],
    want: "a",
  },
  {
    name: "capacity.memory over on every node",
    candidate: { resources: { memory: "2Gi" } },
    nodes: [node("a", { capacity: { memory: "1Gi" } })],
    want: "0/1 nodes are available: 1 without enough memory left (capacity.memory).",
  },
  {
    name: "capacity.memory counts what every Instance on the node claims",
    candidate: { resources: { memory: "300Mi" } },
    nodes: [node("a", { capacity: { memory: "1Gi" } }), node("b")],
    placed: [
      placed("a", "x", { resources: { memory: "400Mi" } }),
      placed("a", "y", { resources: { memory: "400Mi" } }),
      placed("b"),
      placed("b"),
      placed("b"),
    ],
    want: "b",
  },
  {
    name: "capacity.cpus sends it to the busier node",
    candidate: { resources: { cpus: "1" } },
    nodes: [node("a", { capacity: { cpus: "1.5" } }), node("b", { capacity: { cpus: "4" } })],
    placed: [placed("a", "x", { resources: { cpus: "1" } }), placed("b"), placed("b")],
    want: "b",
  },
  {
    name: "capacity.instances exactly full still fits",
    nodes: [node("a", { capacity: { instances: 2 } }), node("b")],
    placed: [placed("a"), placed("b"), placed("b")],
    want: "a",
  },
  {
    name: "capacity.instances full everywhere",
    nodes: [node("a", { capacity: { instances: 1 } }), node("b", { capacity: { instances: 1 } })],
    placed: [placed("a"), placed("b")],
    want: "0/2 nodes are available: 2 full (capacity.instances).",
  },
  {
    name: "capacity.cpus exactly full still fits",
    candidate: { resources: { cpus: "200m" } },
    nodes: [node("a", { capacity: { cpus: "0.3" } })],
    placed: [placed("a", "x", { resources: { cpus: "100m" } })],
    want: "a",
  },
  {
    name: "capacity.cpus over",
    candidate: { resources: { cpus: "1" } },
    nodes: [node("a", { capacity: { cpus: "500m" } })],
    want: /1 without enough CPUs left/,
  },
  {
    name: "spread: fewest of the same Definition first",
    nodes: [node("a"), node("b")],
    placed: [placed("a", "web"), placed("b"), placed("b")],
    want: "b",
  },
  {
    name: "spread: then the least loaded",
    nodes: [node("a"), node("b"), node("c")],
    placed: [placed("a"), placed("a"), placed("b")],
    want: "c",
  },
  {
    name: "spread: a Definition of the same name in another namespace is another Definition",
    nodes: [node("a"), node("b")],
    placed: [
      { namespace: "elsewhere", definition: "web", nodeName: "a" },
      { namespace: "elsewhere", definition: "web", nodeName: "a" },
      placed("b", "web"),
    ],
    want: "a",
  },
  {
    name: "every rejection is named in the message",
    candidate: { hostPort: 80, nodeSelector: { zone: "z" }, resources: { memory: "1Gi", cpus: "1" } },
    nodes: [
      node("a", {}, "False"),
      node("b", { unschedulable: true }),
      node("c", { labels: { zone: "y" } }),
      node("d", { labels: { zone: "z" }, allowPrivilegedPorts: true }),
      node("e", { labels: { zone: "z" }, capacity: { instances: 0 }, allowPrivilegedPorts: true }),
      node("f", { labels: { zone: "z" }, capacity: { memory: "1Mi" }, allowPrivilegedPorts: true }),
      node("g", { labels: { zone: "z" }, capacity: { cpus: "100m" }, allowPrivilegedPorts: true }),
      node("h", { labels: { zone: "z" } }),
    ],
    placed: [placed("d", "x", { hostPort: 80 })],
    want: '0/8 nodes are available: 1 not Ready, 1 marked unschedulable, 1 without the labels of placement.nodeSelector {"zone":"z"}, 1 already running an Instance on host port 80, 1 full (capacity.instances), 1 without enough memory left (capacity.memory), 1 without enough CPUs left (capacity.cpus), 1 not allowing privileged host port 80 (below 1024: an admin sets spec.allowPrivilegedPorts on the Node).',
  },
  { name: "spread: ties go to the name", nodes: [node("c"), node("b")], want: "b" },
  {
    name: "pack: the fullest node",
    candidate: { spread: "Pack" },
    nodes: [node("a"), node("b")],
    placed: [placed("b", "web"), placed("b")],
    want: "b",
  },
];

for (const c of cases) {
  test(`schedule: ${c.name}`, () => {
    const result = schedule({ ...web, ...c.candidate }, c.nodes, on(c.placed ?? []));
    if (typeof c.want === "string" && !c.want.includes(" ")) {
      assert.equal(result.node, c.want, "node" in result && result.node === undefined ? result.message : "");
    } else {
      assert.equal(result.node, undefined);
      assert.ok(result.node === undefined && result.reason === "Unschedulable");
      if (typeof c.want === "string") assert.equal(result.message, c.want);
      else assert.match(result.message, c.want);
    }
  });
}

test("replicas with a fixed host port land on different nodes, one by one", () => {
  const nodes = [node("a"), node("b"), node("c")];
  const bound: PlacedInstance[] = [];
  const chosen: Array<string | undefined> = [];
  for (let i = 0; i < 4; i++) {
    const result = schedule({ ...web, hostPort: 9000 }, nodes, on(bound));
    chosen.push(result.node);
    if (result.node) bound.push(placed(result.node, "web", { hostPort: 9000 }));
  }
  assert.deepEqual(chosen, ["a", "b", "c", undefined]);
});
