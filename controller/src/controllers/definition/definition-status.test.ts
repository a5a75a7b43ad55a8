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
