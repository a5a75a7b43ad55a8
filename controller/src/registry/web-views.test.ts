import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Condition, type Definition, type Instance, type Node } from "../api/types.js";
import type { KubeEvent } from "../kube/resources.js";
import { MAX_EVENTS, nodeRows, serviceDetail, serviceRows } from "./web-views.js";

const T = "2026-01-01T00:00:00Z";
const cond = (type: string, status: Condition["status"], reason: string, message = ""): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: T,
});

function definition(
  name: string,
  extra: Partial<Definition["spec"]> = {},
  conditions: Condition[] = [],
): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace: "team", labels: { tier: "web" } },
    spec: { image: { name: "x", port: 80 }, replicas: 2, ...extra },
    status: { deploymentId: "abc", conditions },
  };
}

function instance(name: string, slug: string, ready: boolean, url?: string): Instance {
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { name, namespace: "team", creationTimestamp: T },
    spec: { definition: slug, nodeName: "n1", deploymentId: "abc" },
    status: {
      ready,
      phase: ready ? "Running" : "Pulling",
      restarts: 2,
      message: ready ? undefined : "pulling x",
      ...(url ? { address: { url, host: "h", port: 1 } } : {}),
    },
  };
}

const node: Node = {
  apiVersion: API_VERSION,
  kind: "Node",
  metadata: { name: "n1" },
  spec: { url: "tcp://127.0.0.1:2375", address: "127.0.0.1", capacity: { instances: 3 } },
  status: {
    lastHeartbeat: T,
    conditions: [
      cond("Ready", "True", "AgentReady"),
      cond("DockerReachable", "False", "EngineDown", "no answer"),
      cond("Misconfigured", "True", "LoopbackURL", "loopback"),
    ],
  },
};
const nodeOf = (name: string) => (name === "n1" ? node : undefined);

test("a service row has its ready addresses, rollout state and why it is not ready", () => {
  const degraded = definition("web", {}, [
    cond("Ready", "False", "InstancesNotReady", "1/2 ready"),
    cond("Degraded", "True", "InstancesFailed", "image x is missing"),
    cond("Progressing", "True", "RolloutInProgress", "1 of 2 updated"),
  ]);
  const rows = serviceRows(
    [degraded, definition("api", {}, [cond("Ready", "False", "ScaledToZero")])],
    [
      instance("web-2", "web", true, "http://b:2"),
      instance("web-1", "web", true, "http://a:1"),
      instance("web-3", "web", false),
    ],
    nodeOf,
  );
  const web = rows.find((r) => r.slug === "web");
  assert.deepEqual(web?.addresses, ["http://a:1", "http://b:2"]);
  assert.equal(web?.ready, 2);
  assert.deepEqual(web?.problem, {
    status: "True",
    reason: "InstancesFailed",
    message: "image x is missing",
  });
  assert.equal(web?.rollout?.reason, "RolloutInProgress");
  assert.deepEqual(web?.labels, { tier: "web" });
  assert.equal(rows.find((r) => r.slug === "api")?.problem?.reason, "ScaledToZero");
  const healthy = serviceRows([definition("ok", {}, [cond("Ready", "True", "InstancesReady")])], [], nodeOf);
  assert.equal(healthy[0]?.problem, null);
});

test("a service's detail: instances, its own Events newest first, dependencies both ways", () => {
  const event = (name: string, kind: string, about: string, time: string): KubeEvent => ({
    metadata: { name, namespace: "team" },
    eventTime: time,
    reason: "R",
    note: `note ${name}`,
    type: "Warning",
    regarding: { kind, name: about },
  });
  const events = [
    event("old", "Definition", "web", "2026-01-01T00:00:01.000000Z"),
    event("new", "Instance", "web-1", "2026-01-01T00:00:05.000000Z"),
    event("other", "Definition", "api", "2026-01-01T00:00:09.000000Z"),
    ...Array.from({ length: MAX_EVENTS + 3 }, (_, i) =>
      event(`many${i}`, "Definition", "web", "2025-12-31T00:00:00Z"),
    ),
  ];
  const detail = serviceDetail("team", "web", {
    definitions: [
      definition("web", {
        dependsOn: ["db"],
        endpoints: [{ type: "openapi", url: "/openapi.json" }],
        clients: [{ language: "go", url: "https://x" }],
      }),
      definition("api", { dependsOn: ["web"] }),
      definition("db"),
    ],
    instances: [instance("web-1", "web", false), instance("api-1", "api", true, "http://c:3")],
    events,
    nodeOf,
  });
  assert.deepEqual(detail.dependsOn, ["db"]);
  assert.deepEqual(detail.dependents, ["api"]);
  assert.deepEqual(detail.endpoints, [{ type: "openapi", url: "/openapi.json" }]);
  assert.deepEqual(detail.clients, [{ language: "go", url: "https://x" }]);
  assert.deepEqual(
    detail.instances.map((i) => [i.name, i.ready, i.reason, i.restarts, i.phase, i.message]),
    [["web-1", false, "Pulling", 2, "Pulling", "pulling x"]],
  );
  assert.equal(detail.events.length, MAX_EVENTS);
  assert.deepEqual(
    detail.events.slice(0, 2).map((e) => [e.object, e.note]),
    [
      ["Instance/web-1", "note new"],
      ["Definition/web", "note old"],
    ],
  );
  assert.ok(detail.events.every((e) => e.note !== "note other"));
  const unknown = serviceDetail("team", "nope", { definitions: [], instances: [], events: [], nodeOf });
  assert.equal(unknown.defined, false);
  assert.equal(unknown.summary, null);
});

test("a Node's warnings: Misconfigured and an unreachable engine, not Ready itself", () => {
  const [row] = nodeRows([node]);
  assert.equal(row?.ready, "True");
  assert.deepEqual(
    row?.warnings.map((w) => w.reason),
    ["LoopbackURL", "EngineDown"],
  );
  assert.deepEqual(row?.capacity, { instances: 3 });
  assert.equal(row?.lastHeartbeat, T);
});
