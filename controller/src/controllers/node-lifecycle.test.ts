import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Node } from "../api/types.js";
import type { Lease } from "../kube/resources.js";
import { assessNode, leaseLiveUntil } from "./node-lifecycle.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const timings = { nodeGracePeriodMs: 40_000, nodeEvictionTimeoutMs: 60_000 };
const iso = (ms: number): string => new Date(ms).toISOString();

function node(
  lastHeartbeat: number | undefined,
  ready?: { status: "True" | "False" | "Unknown"; since: number },
): Node {
  return {
    apiVersion: API_VERSION,
    kind: "Node",
    metadata: { name: "a", creationTimestamp: iso(T0 - 3_600_000) },
    spec: { url: "unix:///x", address: "127.0.0.1" },
    status: {
      ...(lastHeartbeat !== undefined ? { lastHeartbeat: iso(lastHeartbeat) } : {}),
      ...(ready
        ? {
            conditions: [
              {
                type: "Ready",
                status: ready.status,
                reason: "r",
                message: "",
                lastTransitionTime: iso(ready.since),
              },
            ],
          }
        : {}),
    },
  };
}

function lease(renewed: number): Lease {
  return { metadata: { name: "berth-node-a" }, spec: { renewTime: iso(renewed) } };
}

const cases: Array<{
  name: string;
  node: Node;
  lease?: Lease;
  now: number;
  stale: boolean;
  evict: boolean;
  nextCheckAt?: number;
}> = [
  {
    name: "fresh lease keeps the node live even with an old status heartbeat",
    node: node(T0 - 120_000, { status: "True", since: T0 - 3_600_000 }),
    lease: lease(T0 - 5_000),
    now: T0,
    stale: false,
    evict: false,
    nextCheckAt: T0 + 35_000,
  },
  {
    name: "heartbeat older than the grace period: stale, eviction later",
    node: node(T0 - 45_000, { status: "True", since: T0 - 3_600_000 }),
    now: T0,
    stale: true,
    evict: false,
    nextCheckAt: T0 - 5_000 + 60_000,
  },
  {
    name: "stale past the eviction timeout: evict",
    node: node(T0 - 100_000, { status: "Unknown", since: T0 - 60_000 }),
    now: T0,
    stale: true,
    evict: true,
  },
  {
    name: "agent reports NotReady (engine down) with a fresh lease: evict after the timeout from the transition",
    node: node(T0 - 1_000, { status: "False", since: T0 - 61_000 }),
    lease: lease(T0 - 1_000),
    now: T0,
    stale: false,
    evict: true,
  },
  {
    name: "never heartbeated: counts from creation",
    node: node(undefined),
    now: T0,
    stale: true,
    evict: true,
  },
];

for (const c of cases) {
  test(`assessNode: ${c.name}`, () => {
    const result = assessNode(c.node, c.lease, c.now, timings);
    assert.equal(result.stale, c.stale, "stale");
    assert.equal(result.evict, c.evict, "evict");
    if (c.nextCheckAt !== undefined) assert.equal(result.nextCheckAt, c.nextCheckAt, "nextCheckAt");
  });
}

test("a node Lease tells until when its agent is alive, and nothing once released", () => {
  const held: Lease = {
    metadata: { name: "berth-node-a" },
    spec: { holderIdentity: "agent-1", renewTime: iso(T0), leaseDurationSeconds: 40 },
  };
  assert.equal(leaseLiveUntil(held), T0 + 40_000);
  assert.equal(leaseLiveUntil({ ...held, spec: { ...held.spec, holderIdentity: null } }), undefined);
  assert.equal(leaseLiveUntil({ metadata: { name: "berth-node-a" } }), undefined);
  assert.equal(leaseLiveUntil(undefined), undefined);
});
