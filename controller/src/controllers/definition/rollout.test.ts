import { test } from "node:test";
import assert from "node:assert/strict";
import type { InstanceView } from "./instances.js";
import {
  DEFAULT_ROLLOUT,
  byRemovalPreference,
  planRollout,
  rolloutSettings,
  type RolloutSettings,
} from "./rollout.js";

const NOW = 1_000_000_000;

/**
 * "n0" = new not ready, "N1" = new ready, "o2"/"O3" = old, "t4" = old terminating, "x5" = new
 * terminating; a
 * trailing "?" leaves it unbound (the scheduler found no Node yet). Bound ones are spread
 * over two nodes; later codes were created later.
 */
function instances(spec: string): InstanceView[] {
  return spec
    .split(" ")
    .filter(Boolean)
    .map((code, index) => {
      const kind = code[0] ?? "";
      const unbound = code.endsWith("?");
      return {
        name: unbound ? code.slice(0, -1) : code,
        deploymentId: kind.toLowerCase() === "n" || kind === "x" ? "new" : "old",
        ...(unbound ? {} : { nodeName: index % 2 === 0 ? "node-a" : "node-b" }),
        ready: kind === "N" || kind === "O",
        terminating: kind === "t" || kind === "x",
        phase: unbound ? "Pending" : "Running",
        createdAt: NOW - 10_000 + index,
        ...(kind === "N" || kind === "O" ? { readySince: NOW - 5_000 } : {}),
      };
    });
}

interface Case {
  name: string;
  replicas: number;
  settings?: Partial<RolloutSettings>;
  have: string;
  allowCreate?: boolean;
  create: number;
  delete: string[];
  complete?: boolean;
}

const cases: Case[] = [
  { name: "first apply creates all", replicas: 3, have: "", create: 3, delete: [] },
  { name: "steady state does nothing", replicas: 2, have: "N0 N1", create: 0, delete: [], complete: true },
  { name: "scale up", replicas: 3, have: "N0", create: 2, delete: [] },
  {
    name: "scale down removes not-ready first",
    replicas: 1,
    have: "N0 n1 N2",
    create: 0,
    delete: ["n1", "N2"],
  },
  {
    name: "scale down removes the unbound first, though older than a bound one not ready",
    replicas: 2,
    have: "n0? n1 N2",
    create: 0,
    delete: ["n0"],
  },
  {
    name: "scale down removes the unbound before the ready",
    replicas: 1,
    have: "N0 n1?",
    create: 0,
    delete: ["n1"],
  },
  {
    name: "scale down among the ready removes the newest",
    replicas: 2,
    have: "N0 N1 N2",
    create: 0,
    delete: ["N2"],
  },
  {
    name: "rolling: an unbound new Instance keeps every old one",
    replicas: 2,
    have: "O0 O1 n2?",
    create: 0,
    delete: [],
  },
  {
    name: "scale down among the ready removes the newest, whatever the names say",
    replicas: 1,
    have: "N5 N3",
    create: 0,
    delete: ["N3"],
  },
  { name: "not complete while a new one is not ready", replicas: 2, have: "N0 n1", create: 0, delete: [] },
  { name: "rolling: surge one new first", replicas: 3, have: "O0 O1 O2", create: 1, delete: [] },
  { name: "rolling: new not ready keeps old", replicas: 3, have: "O0 O1 O2 n3", create: 0, delete: [] },
  {
    name: "rolling: new ready removes one old and surges again",
    replicas: 3,
    have: "O0 O1 O2 N3",
    create: 1,
    delete: ["O2"],
  },
  {
    name: "rolling: last old goes when all new ready",
    replicas: 2,
    have: "O0 N1 N2",
    create: 0,
    delete: ["O0"],
  },
  { name: "rolling: old not ready go at once", replicas: 2, have: "O0 o1", create: 2, delete: ["o1"] },
  {
    name: "rolling: maxUnavailable 1, maxSurge 0 removes first",
    replicas: 3,
    settings: { maxSurge: 0, maxUnavailable: 1 },
    have: "O0 O1 O2",
    create: 1,
    delete: ["O2"],
  },
  {
    name: "rolling: maxSurge 2 creates two",
    replicas: 3,
    settings: { maxSurge: 2 },
    have: "O0 O1 O2",
    create: 2,
    delete: [],
  },
  {
    name: "rolling: both zero counts as surge 1",
    replicas: 1,
    settings: { maxSurge: 0, maxUnavailable: 0 },
    have: "O0",
    create: 1,
    delete: [],
  },
  { name: "terminating are not counted", replicas: 1, have: "t0", create: 1, delete: [] },
  { name: "dependencies gate creation", replicas: 2, have: "", allowCreate: false, create: 0, delete: [] },
  { name: "gated rollout keeps old", replicas: 1, have: "O0", allowCreate: false, create: 0, delete: [] },
  {
    name: "recreate: removes all old first",
    replicas: 2,
    settings: { strategy: "Recreate" },
    have: "O0 O1",
    create: 0,
    delete: ["O0", "O1"],
  },
  {
    name: "recreate: waits for terminating old",
    replicas: 2,
    settings: { strategy: "Recreate" },
    have: "t0",
    create: 0,
    delete: [],
  },
  {
    name: "recreate: a terminating new Instance does not hold the rest back",
    replicas: 3,
    settings: { strategy: "Recreate" },
    have: "N0 x1",
    create: 2,
    delete: [],
  },
  {
    name: "recreate: scale up with no old one left",
    replicas: 2,
    settings: { strategy: "Recreate" },
    have: "N0",
    create: 1,
    delete: [],
  },
  {
    name: "recreate: then creates all",
    replicas: 2,
    settings: { strategy: "Recreate" },
    have: "",
    create: 2,
    delete: [],
  },
  {
    name: "recreate: gated keeps old serving",
    replicas: 1,
    settings: { strategy: "Recreate" },
    have: "O0",
    allowCreate: false,
    create: 0,
    delete: [],
  },
];

for (const c of cases) {
  test(`planRollout: ${c.name}`, () => {
    const plan = planRollout({
      replicas: c.replicas,
      deploymentId: "new",
      settings: rolloutSettings({ rollout: { ...c.settings } }),
      instances: instances(c.have),
      allowCreate: c.allowCreate ?? true,
      now: NOW,
    });
    assert.equal(plan.create, c.create, "create");
    assert.deepEqual([...plan.delete].sort(), [...c.delete].sort(), "delete");
    assert.equal(plan.complete, c.complete ?? false, "complete");
  });
}

test("a rollout whose new Instance never gets ready stalls after the deadline and keeps the old", () => {
  const have = instances("O0 O1 n2");
  const settings = { ...DEFAULT_ROLLOUT, progressDeadlineSeconds: 60 };
  const input = { replicas: 2, deploymentId: "new", settings, instances: have, allowCreate: true };
  const early = planRollout({ ...input, now: NOW });
  assert.equal(early.stalled, false);
  assert.equal(early.deadlineAt, NOW - 10_000 + 2 + 60_000);
  const late = planRollout({ ...input, now: NOW + 60_000 });
  assert.equal(late.stalled, true);
  assert.deepEqual(late.delete, []);
  assert.equal(late.create, 0);
});

test("progress is the newest creation or readiness among the new Instances; the deadline is inclusive", () => {
  const settings = { ...DEFAULT_ROLLOUT, progressDeadlineSeconds: 60 };
  const have = instances("O0 n1 n2");
  const input = { replicas: 2, deploymentId: "new", settings, instances: have, allowCreate: true };
  const deadlineAt = NOW - 10_000 + 2 + 60_000;
  assert.equal(planRollout({ ...input, now: NOW }).deadlineAt, deadlineAt);
  assert.equal(planRollout({ ...input, now: NOW }).lastProgressAt, NOW - 10_000 + 2);
  assert.equal(planRollout({ ...input, now: deadlineAt - 1 }).stalled, false);
  assert.equal(planRollout({ ...input, now: deadlineAt }).stalled, true);
});

test("removal order: unbound, then not ready, then the newest, then by name", () => {
  const view = (name: string, extra: Partial<InstanceView>): InstanceView => ({
    name,
    deploymentId: "d",
    nodeName: "node-a",
    ready: true,
    terminating: false,
    phase: "Running",
    createdAt: NOW,
    ...extra,
  });
  const order = byRemovalPreference([
    view("a", {}),
    view("c", {}),
    view("b", {}),
    view("old", { createdAt: NOW - 1 }),
    view("new", { createdAt: NOW + 1 }),
    view("sick", { ready: false, createdAt: NOW - 5 }),
    view("pending", { nodeName: undefined, ready: false, createdAt: NOW - 9 }),
  ]).map((i) => i.name);
  assert.deepEqual(order, ["pending", "sick", "new", "c", "b", "a", "old"]);
});

test("a stalled rollout keeps ready old Instances even when maxUnavailable would allow removal", () => {
  const settings = { ...DEFAULT_ROLLOUT, maxUnavailable: 1, progressDeadlineSeconds: 1 };
  const plan = planRollout({
    replicas: 2,
    deploymentId: "new",
    settings,
    instances: instances("O0 O1 n2"),
    allowCreate: true,
    now: NOW + 10_000,
  });
  assert.equal(plan.stalled, true);
  assert.deepEqual(plan.delete, []);
});

test("a complete rollout has no deadline", () => {
  const plan = planRollout({
    replicas: 1,
    deploymentId: "new",
    settings: DEFAULT_ROLLOUT,
    instances: instances("N0"),
    allowCreate: true,
    now: NOW + 10_000_000,
  });
  assert.equal(plan.complete, true);
  assert.equal(plan.stalled, false);
  assert.equal(plan.deadlineAt, undefined);
});

test("a rolling update converges when every new Instance becomes ready at once", () => {
  // Simulate passes: each pass applies the plan and new Instances become ready immediately.
  let world = instances("O0 O1 O2 O3");
  let next = 10;
  for (let pass = 0; pass < 20; pass++) {
    const plan = planRollout({
      replicas: 4,
      deploymentId: "new",
      settings: DEFAULT_ROLLOUT,
      instances: world,
      allowCreate: true,
      now: NOW,
    });
    if (plan.complete) break;
    const ready = world.filter((i) => i.ready).length;
    world = world.filter((i) => !plan.delete.includes(i.name));
    assert.ok(
      world.filter((i) => i.ready).length >= Math.min(ready, 4),
      "never fewer ready than maxUnavailable allows",
    );
    for (let k = 0; k < plan.create; k++) {
      world.push({ ...instances(`N${next}`)[0]!, name: `N${next++}`, createdAt: NOW });
    }
    assert.ok(world.length <= 5, "never more than replicas + maxSurge");
  }
  assert.deepEqual(
    world.map((i) => i.deploymentId),
    ["new", "new", "new", "new"],
  );
});
