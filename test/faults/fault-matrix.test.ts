/**
 * The fault matrix: three test machines (hack/machines.sh) brought up once, every scenario
 * of scenarios/index.ts played in turn, each in a namespace of its own, bounded in time and
 * followed by a repair of whatever it did to the machines and the control plane. The
 * results go to .berth/fault-results.json, from which `npx tsx hack/reliability-doc.ts`
 * renders docs/reliability.md. Everything is stopped when the run ends, failed or not.
 *
 * BERTH_FAULTS_SCENARIOS=a,b plays only the named scenarios (all by default).
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { DEFINITIONS, NAMESPACES } from "../../controller/src/kube/resources.js";
import { ignoreNotFound } from "../../controller/src/kube/errors.js";
import { waitFor } from "../harness/index.js";
import { InvariantChecker } from "./checker.js";
import { type SuiteCluster, TIMINGS, startCluster } from "./cluster.js";
import type { Scenario, ScenarioResult } from "./contract.js";
import { SCENARIOS } from "./scenarios/index.js";

/** The most one scenario may take, its settling included. */
const SCENARIO_LIMIT_MS = 4 * 60_000;
export const RESULTS_FILE = path.resolve(import.meta.dirname, "../../.berth/fault-results.json");

export interface FaultRun {
  startedAt: string;
  durationMs: number;
  machines: number;
  timings: typeof TIMINGS;
  results: Array<ScenarioResult & { fault: string; durationMs: number }>;
}

function chosen(): Scenario[] {
  const only = (process.env.BERTH_FAULTS_SCENARIOS ?? "").split(",").filter(Boolean);
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length)
    throw new Error(`BERTH_FAULTS_SCENARIOS names unknown scenarios: ${unknown.join(", ")}`);
  return only.length ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS;
}

function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** The processes' logs so far, for reading after a failed scenario (the last 256 KiB of each). */
async function keepLogs(cluster: SuiteCluster, scenario: string): Promise<void> {
  const dir = path.join(path.dirname(RESULTS_FILE), "fault-logs", scenario);
  await mkdir(dir, { recursive: true });
  const tail = (text: string) => text.slice(-256 * 1024);
  for (const machine of cluster.machines) {
    await writeFile(path.join(dir, `agent-${machine.name}.log`), tail(machine.agentOutput()));
  }
  await writeFile(path.join(dir, "controller.log"), tail(cluster.controlPlane.controllerOutput()));
}

/** Undoes whatever a scenario may have done, whether it finished or not. */
async function repair(cluster: SuiteCluster): Promise<void> {
  await cluster.controlPlane.ensureRunning();
  for (const machine of cluster.machines) {
    await machine.thawDockerd();
    await machine.heal();
    await machine.freeDisk();
    await machine.startDockerd();
    await machine.startAgent();
  }
  await cluster.controlPlane.startController();
}

/** Deletes the namespaces the scenario made and waits until they are gone. */
async function removeScenarioNamespaces(cluster: SuiteCluster): Promise<void> {
  const made = cluster.namespacesMade.splice(0);
  for (const name of made) {
    for (const definition of (await cluster.client.list(DEFINITIONS, { namespace: name })).items) {
      await ignoreNotFound(
        cluster.client.delete(DEFINITIONS, { namespace: name, name: definition.metadata.name ?? "" }),
      );
    }
    await ignoreNotFound(cluster.client.delete(NAMESPACES, { name }));
  }
  await waitFor(
    `scenario namespaces ${made.join(", ")} gone`,
    async () => {
      const left = (await cluster.client.list(NAMESPACES)).items.filter((n) =>
        made.includes(n.metadata?.name ?? ""),
      );
      return left.length === 0;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

test("fault matrix on three test machines", { timeout: 20 * 60_000 }, async (t) => {
  const started = Date.now();
  const scenarios = chosen();
  const cluster = await startCluster(t, 3);
  const run: FaultRun = {
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    machines: cluster.machines.length,
    timings: TIMINGS,
    results: [],
  };
  for (const scenario of scenarios) {
    await t.test(scenario.name, async () => {
      const scenarioStarted = Date.now();
      let result: ScenarioResult;
      try {
        result = await bounded(scenario.run(cluster), SCENARIO_LIMIT_MS, scenario.name);
      } catch (err) {
        result = {
          scenario: scenario.name,
          recoveryMs: -1,
          observations: {
            maxContainersPerInstance: 0,
            duplicateInstancesSeen: 0,
            maxExtraCopies: 0,
            longestTwoCopiesMs: 0,
            longestNoAnswerMs: 0,
            longestNoCopyMs: 0,
            orphanContainers: [],
            instancesWithoutContainer: [],
            lostInstances: [],
            unmetDefinitions: [],
          },
          passed: false,
          notes: [`the scenario failed: ${(err as Error).stack ?? String(err)}`],
          boundedBy: [],
        };
      }
      run.results.push({ ...result, fault: scenario.fault, durationMs: Date.now() - scenarioStarted });
      // A scenario that failed half-way left its checker sampling, which would keep this
      // process alive after the last test.
      await InvariantChecker.stopAll();
      await keepLogs(cluster, scenario.name);
      await repair(cluster);
      await removeScenarioNamespaces(cluster);
      assert.ok(result.passed, `${scenario.name} failed:\n${result.notes.join("\n")}`);
    });
  }
  run.durationMs = Date.now() - started;
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(run, null, 2)}\n`);
  t.diagnostic(
    `results in ${RESULTS_FILE}; render docs/reliability.md with: npx tsx hack/reliability-doc.ts`,
  );
});
