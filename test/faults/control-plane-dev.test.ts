/**
 * The fault matrix's control-plane scenarios on the development cluster (extra engines as
 * machines, see dev-cluster.ts): each scenario must pass, and its figures are printed (and
 * written to $BERTH_STATE/fault-results/<scenario>.json). BERTH_FAULTS_SCENARIOS=a,b runs
 * those by name; all of them run by default.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { env } from "../harness/index.js";
import type { Scenario } from "./contract.js";
import { startDevCluster } from "./dev-cluster.js";
import { apiServerRestart } from "./scenarios/apiserver-restart.js";
import { controllerKill } from "./scenarios/controller-kill.js";
import { etcdCompaction } from "./scenarios/etcd-compaction.js";
import { nodeDeleted } from "./scenarios/node-deleted.js";
import { registryReplicaKilled } from "./scenarios/registry-replica-killed.js";

const ALL: Scenario[] = [
  apiServerRestart,
  etcdCompaction,
  controllerKill,
  nodeDeleted,
  registryReplicaKilled,
];

function chosen(): Scenario[] {
  const names = (process.env.BERTH_FAULTS_SCENARIOS ?? "").split(",").filter(Boolean);
  if (names.length === 0) return ALL;
  const unknown = names.filter((n) => !ALL.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `BERTH_FAULTS_SCENARIOS names ${unknown.join(", ")}; known: ${ALL.map((s) => s.name).join(", ")}`,
    );
  }
  return ALL.filter((s) => names.includes(s.name));
}

test("control-plane faults on the development cluster", { timeout: 1_800_000 }, async (t) => {
  const scenarios = chosen();
  const cluster = await startDevCluster(env().kubeconfigPath, 3);
  t.after(() => cluster.close());
  const out = path.join(process.env.BERTH_STATE ?? ".", "fault-results");
  await mkdir(out, { recursive: true });
  for (const scenario of scenarios) {
    await t.test(scenario.name, async (st) => {
      const started = Date.now();
      let outcome;
      try {
        outcome = await scenario.run(cluster);
      } finally {
        await writeFile(path.join(out, `${scenario.name}.log`), cluster.outputs());
      }
      st.diagnostic(`${scenario.name} took ${Date.now() - started} ms: ${JSON.stringify(outcome)}`);
      await writeFile(path.join(out, `${scenario.name}.json`), JSON.stringify(outcome, null, 2));
      assert.ok(outcome.passed, `${scenario.name} failed: ${outcome.notes.join("; ")}`);
    });
  }
});
