// Mutation testing of the pure logic and the runtime primitives: Stryker changes the code
// (a mutant) and runs the unit tests that cover it; a mutant no test notices is a gap.
// One module at a time, each with its own incremental file, so a change re-tests only the
// mutants it touched:
//   npm run test:mutation                         every module, one after another
//   npm run test:mutation -- scheduler leader     only these
// docs/architecture.md (Tests) says more.
import process from "node:process";

/** module -> the code mutated and the unit tests that are its safety net. */
export const MODULES = {
  scheduler: {
    mutate: ["controller/src/controllers/scheduler/placement.ts"],
    tests: ["controller/src/controllers/scheduler/placement.test.ts"],
  },
  rollout: {
    mutate: ["controller/src/controllers/definition/rollout.ts"],
    tests: ["controller/src/controllers/definition/rollout.test.ts"],
  },
  leader: {
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
    mutate: ["controller/src/controllers/discovery.ts"],
    tests: ["controller/src/controllers/discovery.test.ts"],
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

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "tap",
  tap: { testFiles: selected.tests, nodeArgs: ["--import", "tsx"], forceBail: true },
  checkers: ["typescript"],
  plugins: ["@stryker-mutator/*", "./hack/stryker-ignore-logs.mjs"],
  ignorers: ["LogStatements"],
  tsconfigFile: "tsconfig.json",
  mutate: selected.mutate,
  coverageAnalysis: "perTest",
  incremental: true,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  // The machine is small and shared: one test process and one checker at a time.
  concurrency: 1,
  timeoutMS: 10_000,
  reporters: ["clear-text", "json", "progress-append-only"],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: ".stryker-tmp",
  // Not copied into the sandbox: the local control plane's and engines' state (large, and
  // changing while tests run), reports, builds, and the sandboxes of other runs.
  ignorePatterns: [".berth", "reports", "dist", "coverage", ".stryker-tmp*"],
  cleanTempDir: "always",
};
