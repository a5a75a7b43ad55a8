/**
 * What the scenarios share: Definitions of the test echo image aimed at the machines, waits
 * on the cluster, and `conclude`, which settles the checker and turns what it saw into the
 * contract's ScenarioResult with one rule for passing.
 */
import type { Definition, DefinitionSpec, Instance } from "../../controller/src/api/types.js";
import { API_VERSION } from "../../controller/src/api/types.js";
import { DEFINITIONS, INSTANCES, NODES } from "../../controller/src/kube/resources.js";
import { isAlreadyExists } from "../../controller/src/kube/errors.js";
import { waitFor } from "../harness/index.js";
import { InvariantChecker, findingsClean } from "./checker.js";
import {
  MACHINE_LABEL,
  type SuiteCluster,
  type SuiteMachine,
  THIS_MACHINE_LABEL,
  TIMINGS,
} from "./cluster.js";
import type { FaultCluster, ScenarioResult } from "./contract.js";

/** The runner hands every scenario a SuiteCluster; the contract's type is what scenarios declare. */
export function suite(cluster: FaultCluster): SuiteCluster {
  return cluster as SuiteCluster;
}

/** A machine scenario's opening: the suite, the machine it aims at, its namespace and a checker of it. */
export async function onMachine(
  cluster: FaultCluster,
  machineIndex: number,
  namespacePrefix: string,
): Promise<{ c: SuiteCluster; machine: SuiteMachine; namespace: string; checker: InvariantChecker }> {
  const c = suite(cluster);
  const machine = c.machines[machineIndex];
  if (!machine)
    throw new Error(`the scenario needs machine ${machineIndex + 1}, the suite has ${c.machines.length}`);
  const namespace = await c.namespace(namespacePrefix);
  return { c, machine, namespace, checker: new InvariantChecker(c, namespace) };
}

export const ECHO_IMAGE = "berth-test/echo:1";

/** The echo image, health-checked every second, on the suite's machines (or on one). */
export function echoSpec(
  replicas: number,
  extra: Partial<DefinitionSpec> & { machine?: string } = {},
): DefinitionSpec {
  const { machine, ...rest } = extra;
  return {
    image: { name: ECHO_IMAGE, port: 8080 },
    replicas,
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
    placement: {
      nodeSelector: machine
        ? { [THIS_MACHINE_LABEL]: machine }
        : { [MACHINE_LABEL.key]: MACHINE_LABEL.value },
    },
    ...rest,
  };
}

export async function applyDefinition(
  cluster: FaultCluster,
  namespace: string,
  name: string,
  spec: DefinitionSpec,
): Promise<Definition> {
  const body: Definition = {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace },
    spec,
  };
  try {
    return await cluster.client.create(DEFINITIONS, body);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const current = await cluster.client.get(DEFINITIONS, { namespace, name });
    return await cluster.client.replace(DEFINITIONS, { ...current, spec });
  }
}

/** The Instances of `definition` (or of every Definition) not being deleted. */
export async function instancesOf(
  cluster: FaultCluster,
  namespace: string,
  definition?: string,
): Promise<Instance[]> {
  const { items } = await cluster.client.list(INSTANCES, {
    namespace,
    ...(definition ? { labelSelector: `berth.dev/definition=${definition}` } : {}),
  });
  return items.filter((i) => !i.metadata.deletionTimestamp);
}

/** Waits until the checker finds the namespace whole (every Definition met); fails otherwise. */
export async function waitWhole(checker: InvariantChecker, what: string, timeoutMs = 120_000): Promise<void> {
  const { settledAt, findings } = await checker.settle(timeoutMs);
  if (settledAt === undefined)
    throw new Error(`${what} not reached in ${timeoutMs} ms: ${JSON.stringify(findings)}`);
}

/** Whether the Node's Ready condition has this status now. */
export async function nodeReady(cluster: SuiteCluster, nodeName: string): Promise<string | undefined> {
  const node = await cluster.client.get(NODES, { name: nodeName });
  return node.status?.conditions?.find((c) => c.type === "Ready")?.status;
}

export { waitFor };

/** The timings that bound a scenario's figures, for its report. */
export const BOUNDS = {
  lease: `agent --node-lease-duration=${TIMINGS.leaseDuration} (default 40s), renewed every --node-lease-renew-interval=${TIMINGS.leaseRenewInterval} (default 10s)`,
  grace: `controller --node-grace-period=${TIMINGS.nodeGracePeriod}: a silent Node becomes Ready=Unknown and leaves the address lists`,
  eviction: `controller --node-eviction-timeout=${TIMINGS.nodeEvictionTimeout}: Instances of a Node not Ready this long are replaced elsewhere`,
  resync: `agent --agent-resync-interval=${TIMINGS.resyncInterval} (default 60s): how soon an agent looks at every container again (orphans, lost containers)`,
  retry: `agent --retry-backoff-base=${TIMINGS.retryBackoffBase} .. --retry-backoff-max=${TIMINGS.retryBackoffMax} (defaults 5s .. 5m): how soon a failed pull, build, create or start is tried again`,
  health: "Definition healthCheck.intervalSeconds=1: how soon a started container is Ready and listed",
  stopGrace: `agent --stop-grace-period=${TIMINGS.stopGracePeriod} (default 10s): how long a superseded container gets to exit`,
} as const;

export interface Conclusion {
  scenario: string;
  /** When the fault began (or ended, for a fault that lasts a set time): recovery counts from here. */
  faultAt: number;
  settleTimeoutMs: number;
  /** Extra copies are expected (a machine cut off keeps serving its old copy beside the replacement). */
  duplicatesExpected?: boolean;
  notes?: string[];
  /** Scenario-specific checks that failed (empty when all held). */
  failures?: string[];
  boundedBy: string[];
}

/**
 * Settles the checker, stops it and reports. A scenario passes when the namespace settled
 * whole within the time allowed, no engine ever ran two containers of one Instance, no
 * Instance ran on two machines at once unless the scenario expects it, and its own checks held.
 */
export async function conclude(checker: InvariantChecker, c: Conclusion): Promise<ScenarioResult> {
  const { settledAt, findings } = await checker.settle(c.settleTimeoutMs);
  const seen = await checker.stop();
  const notes = [...(c.notes ?? [])];
  const failures = [...(c.failures ?? [])];
  if (settledAt === undefined) failures.push(`did not settle within ${c.settleTimeoutMs} ms`);
  if (!findingsClean(findings) && findings.unreachableEngines.length) {
    failures.push(`engines not answering: ${findings.unreachableEngines.join(", ")}`);
  }
  if (seen.maxContainersPerInstance > 1) {
    failures.push(`an engine ran ${seen.maxContainersPerInstance} containers of one Instance at once`);
  }
  if (seen.duplicateInstancesSeen > 0) {
    failures.push(`${seen.duplicateInstancesSeen} Instance(s) ran on two machines at once`);
  }
  if ((seen.maxExtraCopies ?? 0) > 0 && !c.duplicatesExpected) {
    failures.push(`a Definition ran ${seen.maxExtraCopies} container(s) beyond its desired count`);
  }
  for (const [what, list] of Object.entries(findings)) {
    if (list.length) failures.push(`${what}: ${list.join("; ")}`);
  }
  return {
    scenario: c.scenario,
    recoveryMs: settledAt === undefined ? -1 : Math.max(0, settledAt - c.faultAt),
    observations: {
      ...seen,
      orphanContainers: findings.orphanContainers,
      instancesWithoutContainer: findings.instancesWithoutContainer,
      lostInstances: findings.lostInstances,
      unmetDefinitions: findings.unmetDefinitions,
    },
    passed: failures.length === 0,
    notes: [...failures, ...notes],
    boundedBy: c.boundedBy,
  };
}
