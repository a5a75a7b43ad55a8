/**
 * The agent's runtime choice: Docker (the default) or, for scale measurements, the simulated
 * runtime (many Nodes in one process, containers in memory; see nodes.ts).
 */
import type { FlagValues } from "../runtime/flags.js";
import { FlagError, defineFlags } from "../runtime/flags.js";
import type { SimulatedNodesOptions } from "./nodes.js";

export const RUNTIMES = ["docker", "simulated"] as const;
export type Runtime = (typeof RUNTIMES)[number];

export const runtimeFlags = defineFlags({
  runtime: {
    name: "runtime",
    env: "BERTH_RUNTIME",
    type: "string",
    default: "docker",
    choices: RUNTIMES,
    help: "docker runs Instances as containers on the engine at --url. simulated is for scale measurements only: no container runs, Instances are records in memory on --simulated-nodes Nodes named <node-name>-<i>, with real Node registration, heartbeats and status writes.",
  },
  simulatedNodes: {
    name: "simulated-nodes",
    env: "BERTH_SIMULATED_NODES",
    type: "int",
    default: 1,
    help: "With --runtime=simulated: how many Nodes this process registers and runs.",
    validate: (value: unknown) =>
      Number(value) < 1 || Number(value) > 1000 ? "must be between 1 and 1000" : undefined,
  },
  simulatedStartLatency: {
    name: "simulated-start-latency",
    env: "BERTH_SIMULATED_START_LATENCY",
    type: "duration",
    default: 0,
    help: "With --runtime=simulated: how long a container start takes.",
    validate: (value: unknown) => (Number(value) < 0 ? "must not be negative" : undefined),
  },
  simulatedReadinessDelay: {
    name: "simulated-readiness-delay",
    env: "BERTH_SIMULATED_READINESS_DELAY",
    type: "duration",
    default: 0,
    help: "With --runtime=simulated: how long after start exec health checks begin to pass (tcp and http checks reach no simulated service and fail).",
    validate: (value: unknown) => (Number(value) < 0 ? "must not be negative" : undefined),
  },
  simulatedFailureRate: {
    name: "simulated-failure-rate",
    env: "BERTH_SIMULATED_FAILURE_RATE",
    type: "number",
    default: 0,
    help: "With --runtime=simulated: the share of container starts, from 0 to 1, that crash at once (exit code 1).",
    validate: (value: unknown) =>
      Number(value) >= 0 && Number(value) <= 1 ? undefined : "must be between 0 and 1",
  },
});

export type RuntimeFlagValues = FlagValues<typeof runtimeFlags>;

/** The simulated runtime's settings, or undefined for the Docker runtime. */
export function simulatedFromFlags(values: RuntimeFlagValues): SimulatedNodesOptions | undefined {
  if (values.runtime === "docker") {
    const set =
      values.simulatedNodes !== 1 ||
      values.simulatedStartLatency !== 0 ||
      values.simulatedReadinessDelay !== 0 ||
      values.simulatedFailureRate !== 0;
    if (set) throw new FlagError("the --simulated-* flags need --runtime=simulated");
    return undefined;
  }
  return {
    nodes: values.simulatedNodes,
    behaviour: {
      startLatencyMs: values.simulatedStartLatency,
      readinessDelayMs: values.simulatedReadinessDelay,
      failureRate: values.simulatedFailureRate,
    },
  };
}
