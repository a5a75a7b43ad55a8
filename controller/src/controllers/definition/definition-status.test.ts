import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Definition } from "../../api/types.js";
import type { DependencyCheck } from "./dependencies.js";
import type { InstanceView } from "./instances.js";
import type { RolloutPlan } from "./rollout.js";
import { planRollout, rolloutSettings } from "./rollout.js";
import { aggregateStatus, type ConditionSpec } from "./definition-status.js";

const definition: Definition = {
  apiVersion: API_VERSION,
  kind: "Definition",
  metadata: { name: "web", namespace: "team", generation: 4 },
  spec: { image: { name: "berth-test/echo:1", port: 8080 }, replicas: 2 },
};

function instance(name: string, extra: Partial<InstanceView> = {}): InstanceView {
  return {
    name,
    deploymentId: "new",
    nodeName: "a",
    ready: false,
    terminating: false,
    phase: "Running",
    createdAt: 0,
    ...extra,
  };
}

const noDeps: DependencyCheck = { missing: [], notReady: [] };
const inProgress: RolloutPlan = { create: 0, delete: [], complete: false, stalled: false };
const complete: RolloutPlan = { ...inProgress, complete: true };

function conditions(specs: ConditionSpec[]): Record<string, string> {
  return Object.fromEntries(specs.map((c) => [c.type, `${c.status}/${c.reason}`]));
}

interface Case {
  name: string;
  instances: InstanceView[];
  deps?: DependencyCheck;
  plan?: RolloutPlan;
  replicas?: number;
  want: Record<string, string>;
  message?: RegExp;
}

const cases: Case[] = [
  {
    name: "all ready",
    instances: [
      instance("b", { ready: true, address: "http://b:1" }),
      instance("a", { ready: true, address: "http://a:1" }),
    ],
    plan: complete,
    want: { Ready: "True/InstancesReady", Progressing: "True/RolloutComplete", Degraded: "False/AsExpected" },
  },
  {
    name: "starting",
    instances: [instance("a"), instance("b")],
    want: {
      Ready: "False/InstancesNotReady",
      Progressing: "True/RolloutInProgress",
      Degraded: "False/AsExpected",
    },
  },
  {
    name: "scaled to zero",
    replicas: 0,
    instances: [],
    plan: complete,
    want: { Ready: "True/ScaledToZero", Progressing: "True/RolloutComplete", Degraded: "False/AsExpected" },
  },
  {
    name: "dependency cycle",
    instances: [],
    deps: { missing: [], notReady: [], cycle: ["web", "db", "web"] },
    want: {
      Ready: "False/DependencyCycle",
      Progressing: "False/DependencyCycle",
      Degraded: "True/DependencyCycle",
    },
    message: /web -> db -> web/,
  },
  {
    name: "dependency missing",
    instances: [],
    deps: { missing: ["db"], notReady: [] },
    want: {
      Ready: "False/DependencyMissing",
      Progressing: "False/DependencyMissing",
      Degraded: "True/DependencyMissing",
    },
    message: /db, which does not exist in namespace team/,
  },
  {
    name: "waiting for dependencies",
    instances: [],
    deps: { missing: [], notReady: ["db"] },
    want: {
      Ready: "False/DependenciesNotReady",
      Progressing: "False/WaitingForDependencies",
      Degraded: "False/AsExpected",
    },
  },
  {
    name: "unschedulable replica",
    instances: [
      instance("a", { ready: true, address: "http://a:1" }),
      {
        name: "b",
        deploymentId: "new",
        ready: false,
        terminating: false,
        phase: "Pending",
        createdAt: 0,
        unschedulable: {
          type: "Scheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/1 nodes are available: 1 already running an Instance on host port 80.",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      },
    ],
    want: {
      Ready: "False/Unschedulable",
      Progressing: "True/RolloutInProgress",
      Degraded: "True/Unschedulable",
    },
    message: /host port 80/,
  },
  {
    name: "failed instance",
    instances: [instance("a", { phase: "Failed", message: "image pull failed" }), instance("b")],
    want: {
      Ready: "False/InstancesFailed",
      Progressing: "True/RolloutInProgress",
      Degraded: "True/InstancesFailed",
    },
    message: /image pull failed/,
  },
  {
    name: "stalled rollout with old ones serving",
    instances: [
      instance("o1", { deploymentId: "old", ready: true, address: "http://o1:1" }),
      instance("o2", { deploymentId: "old", ready: true, address: "http://o2:1" }),
      instance("n1"),
    ],
    plan: { ...inProgress, stalled: true },
    want: {
      Ready: "True/InstancesReady",
      Progressing: "False/ProgressDeadlineExceeded",
      Degraded: "True/ProgressDeadlineExceeded",
    },
  },
];

for (const c of cases) {
  test(`aggregateStatus: ${c.name}`, () => {
    const result = aggregateStatus({
      definition: { ...definition, spec: { ...definition.spec, replicas: c.replicas ?? 2 } },
      deploymentId: "new",
      instances: c.instances,
      dependencies: c.deps ?? noDeps,
      plan: c.plan ?? inProgress,
    });
    assert.deepEqual(conditions(result.conditions), c.want);
    if (c.message) {
      assert.ok(
        result.conditions.some((cond) => c.message!.test(cond.message)),
        `some condition message matches ${String(c.message)}`,
      );
    }
  });
}

test("counts and addresses: ready ones only, sorted, terminating left out", () => {
  const result = aggregateStatus({
    definition,
    deploymentId: "new",
    instances: [
      instance("c", { ready: true, address: "http://10.0.0.2:32768" }),
      instance("a", { ready: true, address: "http://10.0.0.1:32770", deploymentId: "old" }),
      instance("b", { ready: false }),
      instance("d", { ready: true, address: "http://10.0.0.3:1", terminating: true }),
    ],
    dependencies: noDeps,
    plan: inProgress,
  });
  assert.deepEqual(result.fields, {
    observedGeneration: 4,
    deploymentId: "new",
    replicas: 3,
    readyReplicas: 2,
    updatedReplicas: 2,
    readySummary: "2/2",
    addresses: ["http://10.0.0.1:32770", "http://10.0.0.2:32768"],
  });
});

/**
 * The status as the Definition controller builds it: the rollout planner's view of the
 * same Instances at a moment, then the aggregation. Times in seconds after creation.
 */
interface LifeCase {
  name: string;
  replicas: number;
  instances: InstanceView[];
  /** Seconds after the Instances were created (the progress deadline is 300 s). */
  at: number;
  want: Record<string, string>;
  /** Every pattern must match some condition's message. */
  messages?: RegExp[];
  /** No condition's message may match. */
  never?: RegExp;
}

const HEALTH_404 = "GET http://10.0.0.5:32768/healthz: status 404, want 200-399";

const lifeCases: LifeCase[] = [
  {
    name: "a finished rollout whose only Instance turns unhealthy: unhealthy, not a rollout",
    replicas: 1,
    instances: [instance("a", { firstReadyAt: 5_000, healthCheckFailure: HEALTH_404 })],
    at: 3600,
    want: {
      Ready: "False/InstancesUnhealthy",
      Progressing: "True/RolloutComplete",
      Degraded: "True/InstancesUnhealthy",
    },
    messages: [/1 Instance fails its health check \(a: GET .*status 404/],
    never: /ProgressDeadlineExceeded|progressDeadlineSeconds|old Instances|previous deployment/,
  },
  {
    name: "an unhealthy Instance that passes its check again: back to ready",
    replicas: 1,
    instances: [instance("a", { ready: true, firstReadyAt: 5_000, readySince: 3_000_000 })],
    at: 3600,
    want: { Ready: "True/InstancesReady", Progressing: "True/RolloutComplete", Degraded: "False/AsExpected" },
  },
  {
    name: "a first deploy that is not ready yet, within its deadline",
    replicas: 1,
    instances: [instance("a", { phase: "Starting", healthCheckFailure: HEALTH_404 })],
    at: 60,
    want: {
      Ready: "False/InstancesNotReady",
      Progressing: "True/RolloutInProgress",
      Degraded: "False/AsExpected",
    },
  },
  {
    name: "a first deploy that never gets ready: says so, and nothing about old Instances",
    replicas: 1,
    instances: [instance("a", { phase: "Starting", healthCheckFailure: HEALTH_404 })],
    at: 301,
    want: {
      Ready: "False/InstancesNotReady",
      Progressing: "False/ProgressDeadlineExceeded",
      Degraded: "True/ProgressDeadlineExceeded",
    },
    messages: [
      /0 of 1 Instances of deployment new became ready within progressDeadlineSeconds\. a is not ready: GET .*404/,
    ],
    never: /old Instances|previous deployment|keep serving/,
  },
  {
    name: "a rolling update that stalls while the previous deployment serves: says the old ones serve",
    replicas: 1,
    instances: [
      instance("o", { deploymentId: "old", ready: true, firstReadyAt: 1, address: "http://o:1" }),
      instance("n", { phase: "Starting", healthCheckFailure: HEALTH_404 }),
    ],
    at: 301,
    want: {
      Ready: "True/InstancesReady",
      Progressing: "False/ProgressDeadlineExceeded",
      Degraded: "True/ProgressDeadlineExceeded",
    },
    messages: [/The rollout is stopped and the old Instances keep serving \(1 ready\)/],
  },
  {
    name: "a replica being created (scale up or a lost one replaced) is a rollout in progress",
    replicas: 2,
    instances: [instance("a", { ready: true, firstReadyAt: 5_000, address: "http://a:1" })],
    at: 3600,
    want: {
      Ready: "False/InstancesNotReady",
      Progressing: "True/RolloutInProgress",
      Degraded: "False/AsExpected",
    },
  },
  {
    name: "the created replica became ready once and fails now: the rollout is complete, the Instance unhealthy",
    replicas: 2,
    instances: [
      instance("a", { ready: true, firstReadyAt: 5_000, address: "http://a:1" }),
      instance("b", { firstReadyAt: 3_500_000, healthCheckFailure: HEALTH_404 }),
    ],
    at: 3600,
    want: {
      Ready: "False/InstancesUnhealthy",
      Progressing: "True/RolloutComplete",
      Degraded: "True/InstancesUnhealthy",
    },
  },
  {
    name: "a new deploymentId is a rollout even though the old Instances were ready",
    replicas: 1,
    instances: [instance("o", { deploymentId: "old", ready: true, firstReadyAt: 1, address: "http://o:1" })],
    at: 3600,
    want: {
      Ready: "True/InstancesReady",
      Progressing: "True/RolloutInProgress",
      Degraded: "False/AsExpected",
    },
  },
];

for (const c of lifeCases) {
  test(`planned status: ${c.name}`, () => {
    const spec = { ...definition.spec, replicas: c.replicas };
    const plan = planRollout({
      replicas: c.replicas,
      deploymentId: "new",
      settings: rolloutSettings(spec),
      instances: c.instances,
      allowCreate: true,
      now: c.at * 1000,
    });
    const result = aggregateStatus({
      definition: { ...definition, spec },
      deploymentId: "new",
      instances: c.instances,
      dependencies: noDeps,
      plan,
    });
    assert.deepEqual(conditions(result.conditions), c.want);
    for (const pattern of c.messages ?? []) {
      assert.ok(
        result.conditions.some((cond) => pattern.test(cond.message)),
        `some condition message matches ${String(pattern)}: ${result.conditions.map((cond) => cond.message).join(" | ")}`,
      );
    }
    if (c.never) {
      for (const cond of result.conditions) assert.doesNotMatch(`${cond.reason} ${cond.message}`, c.never);
    }
  });
}

/** The three conditions as `kubectl describe` shows them: status, reason and message. */
function described(input: {
  instances: InstanceView[];
  replicas?: number;
  deps?: DependencyCheck;
  plan?: RolloutPlan;
  namespace?: string;
}): Record<string, [string, string, string]> {
  const result = aggregateStatus({
    definition: {
      ...definition,
      metadata: { ...definition.metadata, namespace: input.namespace },
      spec: { ...definition.spec, replicas: input.replicas ?? 2 },
    },
    deploymentId: "new",
    instances: input.instances,
    dependencies: input.deps ?? noDeps,
    plan: input.plan ?? inProgress,
  });
  return Object.fromEntries(result.conditions.map((c) => [c.type, [c.status, c.reason, c.message]]));
}

const asExpected: [string, string, string] = ["False", "AsExpected", "Nothing needs attention."];

test("messages: one missing dependency, in the namespace the Definition lives in", () => {
  const missing =
    "dependsOn names db, which does not exist in namespace team. Create it or remove it from dependsOn.";
  assert.deepEqual(described({ instances: [], deps: { missing: ["db"], notReady: [] }, namespace: "team" }), {
    Ready: ["False", "DependencyMissing", `0 of 2 Instances are ready. ${missing}`],
    Progressing: ["False", "DependencyMissing", "Blocked: db missing (see Degraded)."],
    Degraded: ["True", "DependencyMissing", missing],
  });
});

test("messages: several missing dependencies, plural, and the default namespace when none is set", () => {
  const missing =
    "dependsOn names cache, db, which do not exist in namespace default. Create them or remove them from dependsOn.";
  assert.deepEqual(described({ instances: [], deps: { missing: ["cache", "db"], notReady: ["queue"] } }), {
    Ready: ["False", "DependencyMissing", `0 of 2 Instances are ready. ${missing}`],
    Progressing: ["False", "DependencyMissing", "Blocked: cache, db missing (see Degraded)."],
    Degraded: ["True", "DependencyMissing", missing],
  });
});

test("messages: a dependency cycle wins over missing dependencies", () => {
  const cycle =
    "dependsOn forms a cycle: web -> db -> web. No Instance starts until one of these Definitions stops depending on the next.";
  assert.deepEqual(
    described({ instances: [], deps: { missing: ["cache"], notReady: [], cycle: ["web", "db", "web"] } }),
    {
      Ready: ["False", "DependencyCycle", `0 of 2 Instances are ready. ${cycle}`],
      Progressing: ["False", "DependencyCycle", "Blocked by a dependsOn cycle (see Degraded)."],
      Degraded: ["True", "DependencyCycle", cycle],
    },
  );
});

test("messages: dependencies not ready yet hold the rollout without degrading", () => {
  assert.deepEqual(described({ instances: [], deps: { missing: [], notReady: ["db", "queue"] } }), {
    Ready: [
      "False",
      "DependenciesNotReady",
      "0 of 2 Instances are ready. Waiting for db, queue to have a ready Instance before starting Instances.",
    ],
    Progressing: ["False", "WaitingForDependencies", "Waiting for db, queue to have a ready Instance."],
    Degraded: asExpected,
  });
});

test("messages: a dependency that stops being ready does not undo a rollout that has every Instance", () => {
  // Every current Instance exists (updated = desired) but not all ready: still rolling out.
  assert.deepEqual(
    described({
      instances: [instance("a", { ready: true }), instance("b")],
      deps: { missing: [], notReady: ["db"] },
    }),
    {
      Ready: [
        "False",
        "DependenciesNotReady",
        "1 of 2 Instances are ready. Waiting for db to have a ready Instance before starting Instances.",
      ],
      Progressing: ["True", "RolloutInProgress", "Deployment new: 2 of 2 Instances updated, 1 ready."],
      Degraded: asExpected,
    },
  );
  // Rolled out: the dependency no longer matters to this Definition's conditions.
  assert.deepEqual(
    described({
      instances: [instance("a", { ready: true }), instance("b", { ready: true })],
      deps: { missing: [], notReady: ["db"] },
      plan: complete,
    }),
    {
      Ready: ["True", "InstancesReady", "2 of 2 Instances are ready."],
      Progressing: ["True", "RolloutComplete", "Deployment new is rolled out: 2 Instances ready."],
      Degraded: asExpected,
    },
  );
});

test("messages: rollout in progress, complete for one replica, scaled to zero", () => {
  assert.deepEqual(
    described({ instances: [instance("a", { ready: true }), instance("o", { deploymentId: "old" })] }),
    {
      Ready: [
        "False",
        "InstancesNotReady",
        "1 of 2 Instances are ready; the others are starting or failing their health check.",
      ],
      Progressing: ["True", "RolloutInProgress", "Deployment new: 1 of 2 Instances updated, 1 ready."],
      Degraded: asExpected,
    },
  );
  assert.deepEqual(described({ replicas: 1, instances: [instance("a", { ready: true })], plan: complete }), {
    Ready: ["True", "InstancesReady", "1 of 1 Instances are ready."],
    Progressing: ["True", "RolloutComplete", "Deployment new is rolled out: 1 Instance ready."],
    Degraded: asExpected,
  });
  assert.deepEqual(described({ replicas: 0, instances: [], plan: complete }).Ready, [
    "True",
    "ScaledToZero",
    "replicas is 0: nothing to run.",
  ]);
});

const unschedulable = (message: string) => ({
  type: "Scheduled",
  status: "False" as const,
  reason: "Unschedulable",
  message,
  lastTransitionTime: "2026-01-01T00:00:00Z",
});

test("messages: unschedulable Instances, counted, the first one explained", () => {
  assert.deepEqual(
    described({ instances: [instance("a", { unschedulable: unschedulable("no node has 4 GiB") })] }).Degraded,
    ["True", "Unschedulable", "1 Instance cannot be placed on a node (a: no node has 4 GiB)."],
  );
  const two = described({
    instances: [
      instance("a", { unschedulable: unschedulable("host port 80 is taken") }),
      instance("b", { unschedulable: unschedulable("other") }),
      instance("c", { phase: "Failed" }),
    ],
  });
  const message = "2 Instances cannot be placed on a node (a: host port 80 is taken).";
  assert.deepEqual(two.Ready, ["False", "Unschedulable", `0 of 2 Instances are ready. ${message}`]);
  assert.deepEqual(two.Degraded, ["True", "Unschedulable", message]);
  // The condition comes from the API server, where a message may be absent.
  const bare = { ...unschedulable(""), message: undefined } as unknown as ReturnType<typeof unschedulable>;
  assert.deepEqual(described({ instances: [instance("a", { unschedulable: bare })] }).Degraded, [
    "True",
    "Unschedulable",
    "1 Instance cannot be placed on a node (a: no node fits).",
  ]);
});

test("messages: failed Instances, counted, with their message or where to look", () => {
  assert.deepEqual(
    described({ instances: [instance("a", { phase: "Failed", message: "image pull failed" })] }).Degraded,
    ["True", "InstancesFailed", "1 Instance failed (a: image pull failed)."],
  );
  const two = described({
    instances: [instance("a", { phase: "Failed" }), instance("b", { phase: "Failed" })],
  });
  const message = "2 Instances failed (a: see kubectl describe instance a).";
  assert.deepEqual(two.Ready, ["False", "InstancesFailed", `0 of 2 Instances are ready. ${message}`]);
  assert.deepEqual(two.Degraded, ["True", "InstancesFailed", message]);
  // A terminating failed Instance is on its way out and counts for nothing.
  assert.deepEqual(
    described({ instances: [instance("a", { phase: "Failed", terminating: true })] }).Degraded,
    asExpected,
  );
});

test("messages: Instances that were ready and fail their health check, plural", () => {
  const two = described({
    instances: [
      instance("a", { firstReadyAt: 1, healthCheckFailure: "connection refused" }),
      instance("b", { firstReadyAt: 1, healthCheckFailure: "timeout" }),
    ],
    plan: complete,
  });
  const message = "2 Instances fail their health check (a: connection refused).";
  assert.deepEqual(two.Ready, ["False", "InstancesUnhealthy", `0 of 2 Instances are ready. ${message}`]);
  assert.deepEqual(two.Degraded, ["True", "InstancesUnhealthy", message]);
});

const stalled: RolloutPlan = { ...inProgress, stalled: true };
const suffix = " See kubectl get instances -l berth.dev/deployment-id=new.";

test("messages: a stalled rollout names the first current Instance that never got ready, and why", () => {
  const stuck = (extra: Partial<InstanceView>) =>
    described({
      instances: [
        // An old Instance that never got ready is not the current deployment's stuck one.
        instance("o", { deploymentId: "old" }),
        instance("r", { ready: true }),
        // Terminating Instances count nowhere: neither stuck nor serving.
        instance("t", { terminating: true, message: "going away" }),
        instance("s", extra),
      ],
      plan: stalled,
    });
  const progress = "1 of 2 Instances of deployment new became ready within progressDeadlineSeconds.";
  const withWhy = (why: string) => [
    "False",
    "ProgressDeadlineExceeded",
    `${progress} s is not ready: ${why}.${suffix}`,
  ];
  assert.deepEqual(
    stuck({ healthCheckFailure: "status 500", message: "m" }).Progressing,
    withWhy("status 500"),
  );
  assert.deepEqual(stuck({ message: "pulling image" }).Progressing, withWhy("pulling image"));
  assert.deepEqual(stuck({ phase: "Starting" }).Progressing, withWhy("phase Starting"));
  const pending = stuck({ phase: undefined });
  assert.deepEqual(pending.Progressing, withWhy("phase Pending"));
  assert.deepEqual(pending.Degraded, ["True", "ProgressDeadlineExceeded", pending.Progressing![2]]);
  // A stalled rollout is not why Instances are not ready: that is said by InstancesNotReady.
  assert.deepEqual(pending.Ready, [
    "False",
    "InstancesNotReady",
    "1 of 2 Instances are ready; the others are starting or failing their health check.",
  ]);
});

test("messages: a stalled rollout counts only ready old Instances as serving", () => {
  const result = described({
    replicas: 1,
    instances: [
      instance("o1", { deploymentId: "old", ready: true }),
      instance("o2", { deploymentId: "old" }),
      instance("o3", { deploymentId: "old", ready: true, terminating: true }),
      instance("n", { firstReadyAt: 1 }),
    ],
    plan: stalled,
  });
  const message = `1 of 1 Instances of deployment new became ready within progressDeadlineSeconds. The rollout is stopped and the old Instances keep serving (1 ready).${suffix}`;
  assert.deepEqual(result.Progressing, ["False", "ProgressDeadlineExceeded", message]);
  assert.deepEqual(result.Degraded, ["True", "ProgressDeadlineExceeded", message]);
  // A ready current Instance is not an old one serving.
  const none = described({ replicas: 1, instances: [instance("n", { ready: true })], plan: stalled });
  assert.deepEqual(none.Progressing, [
    "False",
    "ProgressDeadlineExceeded",
    `1 of 1 Instances of deployment new became ready within progressDeadlineSeconds.${suffix}`,
  ]);
});

test("fields: no observedGeneration before the API server sets a generation", () => {
  const { generation: _unset, ...metadata } = definition.metadata;
  const result = aggregateStatus({
    definition: { ...definition, metadata },
    deploymentId: "new",
    instances: [],
    dependencies: noDeps,
    plan: inProgress,
  });
  assert.equal("observedGeneration" in result.fields, false);
  assert.equal(result.fields.readySummary, "0/2");
});

test("fields: a ready Instance without an address adds no address", () => {
  const result = aggregateStatus({
    definition,
    deploymentId: "new",
    instances: [instance("a", { ready: true }), instance("b", { ready: true, address: "http://b:1" })],
    dependencies: noDeps,
    plan: complete,
  });
  assert.deepEqual(result.fields.addresses, ["http://b:1"]);
  assert.equal(result.fields.readyReplicas, 2);
});
