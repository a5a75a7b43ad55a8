// Mutation testing of the pure logic and the runtime primitives: Stryker changes the code
// (a mutant) and runs the unit tests that cover it; a mutant no test notices is a gap.
// One module at a time, each with its own incremental file, so a change re-tests only the
// mutants it touched:
//   npm run test:mutation                         every module, one after another
//   npm run test:mutation -- scheduler leader     only these
//   npm run test:mutation:changed                 what a change touched, time-bounded
//                                                 (hack/mutation-changed.mjs)
// docs/architecture.md (Tests) says more.
import process from "node:process";

/**
 * module -> the code mutated and the unit tests that are its safety net. In a must-kill
 * module every mutant is killed, or marked in the code as equivalent with the reason
 * (`// Stryker disable next-line <Mutator>: why`); the pass over a change fails otherwise.
 */
export const MODULES = {
  scheduler: {
    mustKill: true,
    mutate: ["controller/src/controllers/scheduler/placement.ts"],
    tests: ["controller/src/controllers/scheduler/placement.test.ts"],
  },
  rollout: {
    mustKill: true,
    mutate: ["controller/src/controllers/definition/rollout.ts"],
    tests: ["controller/src/controllers/definition/rollout.test.ts"],
  },
  leader: {
    mustKill: true,
    mutate: ["controller/src/runtime/leader.ts"],
    tests: ["controller/src/runtime/leader.test.ts", "controller/src/runtime/leader-lifecycle.test.ts"],
  },
  status: {
    mutate: ["controller/src/controllers/definition/definition-status.ts"],
    tests: ["controller/src/controllers/definition/definition-status.test.ts"],
  },
  dependencies: {
    mutate: ["controller/src/controllers/definition/dependencies.ts"],
    tests: ["controller/src/controllers/definition/dependencies.test.ts"],
  },
  "deployment-id": {
    mutate: ["controller/src/controllers/definition/deployment-id.ts"],
    tests: ["controller/src/controllers/definition/deployment-id.test.ts"],
  },
  quantity: {
    mutate: ["controller/src/api/quantity.ts"],
    tests: ["controller/src/api/quantity.test.ts", "controller/src/controllers/scheduler/placement.test.ts"],
  },
  prober: {
    mutate: ["controller/src/agent/prober.ts", "controller/src/agent/probe-verdict.ts"],
    tests: ["controller/src/agent/prober.test.ts"],
  },
  workqueue: {
    mutate: ["controller/src/runtime/workqueue.ts"],
    tests: ["controller/src/runtime/workqueue.test.ts"],
  },
  informer: {
    mutate: ["controller/src/runtime/informer.ts"],
    tests: ["controller/src/runtime/informer.test.ts"],
  },
  "status-writer": {
    mutate: ["controller/src/runtime/conditions.ts"],
    tests: ["controller/src/runtime/conditions.test.ts"],
  },
  events: {
    mutate: ["controller/src/runtime/events.ts"],
    tests: ["controller/src/runtime/events.test.ts"],
  },
  discovery: {
    mutate: ["controller/src/controllers/discovery/discovery.ts"],
    tests: ["controller/src/controllers/discovery/discovery.test.ts"],
  },
  "repository-commits": {
    mutate: ["controller/src/controllers/definition/repository-commits.ts"],
    tests: ["controller/src/controllers/definition/repository-commits.test.ts"],
  },
  "image-preparation": {
    mutate: ["controller/src/agent/image-preparation.ts"],
    tests: ["controller/src/agent/image-preparation.test.ts"],
  },
};

const name = process.env.BERTH_MUTATION_MODULE ?? "scheduler";
const selected = MODULES[name];
if (!selected) throw new Error(`unknown mutation module ${name}; one of: ${Object.keys(MODULES).join(", ")}`);
// The pass over a change mutates only what it touched ("file:from-to" line ranges): its
// results are partial, so they neither read nor replace the module's incremental file and
// report; the mutant log (BERTH_MUTATION_LOG) is their record.
const scoped = process.env.BERTH_MUTATION_MUTATE ? JSON.parse(process.env.BERTH_MUTATION_MUTATE) : undefined;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "tap",
  tap: { testFiles: selected.tests, nodeArgs: ["--import", "tsx"], forceBail: true },
  checkers: ["typescript"],
  plugins: ["@stryker-mutator/*", "./hack/stryker-ignore-logs.mjs", "./hack/stryker-mutant-log.mjs"],
  ignorers: ["LogStatements"],
  tsconfigFile: "tsconfig.json",
  mutate: scoped ?? selected.mutate,
  coverageAnalysis: "perTest",
  incremental: scoped === undefined,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  // The machine is small and shared: one test process and one checker at a time.
  concurrency: 1,
  timeoutMS: 10_000,
  reporters: scoped
    ? ["clear-text", "mutant-log", "progress-append-only"]
    : ["clear-text", "json", "mutant-log", "progress-append-only"],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
  thresholds: { high: 90, low: 80, break: null },
  // The pass over a change has a sandbox directory of its own: stopped at its budget, it
  // removes that directory, and so must not touch the one of a full run going on beside it.
  tempDirName: scoped ? ".stryker-tmp-changed" : ".stryker-tmp",
  // Not copied into the sandbox: the local control plane's and engines' state (large, and
  // changing while tests run), reports, builds, and the sandboxes of other runs.
  ignorePatterns: [".berth", "reports", "dist", "coverage", ".stryker-tmp*"],
  cleanTempDir: "always",
};
