/**
 * SIMULATED RUNTIME: one process standing in for many Nodes, the way kwok stands in for
 * kubelets. Each simulated Node is a real agent (its own Node object, Lease heartbeat,
 * Instance reconciler, status writes and state directory) whose Docker engine is a
 * SimulatedEngine in memory. Only `berth agent --runtime=simulated` and the benchmarks start
 * it; the Docker runtime is the default.
 */
import path from "node:path";
import { NODE_NAME_MAX_LENGTH } from "../api/vocabulary.js";
import type { AgentDeps, RunningAgent } from "../agent/agent-role.js";
import { startAgent } from "../agent/agent-role.js";
import type { AgentOptions } from "../agent/options.js";
import type { SimulatedBehaviour } from "./engine.js";
import { DYNAMIC_PORTS, SimulatedEngine } from "./engine.js";

/** The Node label every simulated Node carries, so placement can choose (or avoid) them. */
export const SIMULATED_NODE_LABEL = "berth.dev/simulated";

export interface SimulatedNodesOptions {
  /** How many Nodes this process runs. */
  nodes: number;
  /** Images the simulated engines hold from the start (others are "pulled" instantly). */
  images?: string[];
  behaviour: SimulatedBehaviour;
}

export interface RunningSimulatedNodes {
  nodeNames: string[];
  engines: SimulatedEngine[];
  stop(): Promise<void>;
}

/** The name of simulated Node `index` of `count` under a base name: <base>-<index>. */
export function simulatedNodeName(base: string, index: number): string {
  const name = `${base}-${index}`;
  if (name.length > NODE_NAME_MAX_LENGTH) {
    throw new Error(
      `--node-name: "${name}" (the name of a simulated Node) is longer than ${NODE_NAME_MAX_LENGTH} characters; choose a shorter base name`,
    );
  }
  return name;
}

/**
 * Starts `nodes` agents named <options.nodeName>-<i>, each on its own simulated engine and
 * with its own state directory under options.stateDir. If one cannot start, those already
 * started are stopped and the error is thrown.
 */
export async function startSimulatedNodes(
  options: AgentOptions,
  simulated: SimulatedNodesOptions,
  deps: Omit<AgentDeps, "docker" | "agentId">,
): Promise<RunningSimulatedNodes> {
  if (!Number.isInteger(simulated.nodes) || simulated.nodes < 1) {
    throw new Error(`--simulated-nodes: must be a whole number of at least 1, got ${simulated.nodes}`);
  }
  const names = Array.from({ length: simulated.nodes }, (_, i) => simulatedNodeName(options.nodeName, i));
  const portsPerNode = Math.floor(DYNAMIC_PORTS.count / simulated.nodes);
  const agents: RunningAgent[] = [];
  const engines: SimulatedEngine[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(agents.map((agent) => agent.stop()));
  };
  try {
    // A few at a time: a hundred registrations at once would only queue at the API server.
    const pending = [...names];
    await Promise.all(
      Array.from({ length: Math.min(8, names.length) }, async () => {
        for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
          const url = `tcp://${name}.simulated.invalid:2375`;
          const engine = new SimulatedEngine({
            url,
            images: simulated.images ?? [],
            bindAddress: options.bindAddress || "127.0.0.1",
            behaviour: simulated.behaviour,
            // The Nodes share one address: each publishes on a share of the ports of its own.
            hostPorts: {
              first: DYNAMIC_PORTS.first + names.indexOf(name) * portsPerNode,
              count: portsPerNode,
            },
          });
          engines.push(engine);
          const agent = await startAgent(
            {
              ...options,
              nodeName: name,
              url,
              bindAddress: options.bindAddress || "127.0.0.1",
              labels: { ...options.labels, [SIMULATED_NODE_LABEL]: "true" },
              stateDir: path.join(options.stateDir, "simulated", name),
            },
            { ...deps, docker: engine, agentId: `simulated-${name}` },
          );
          agents.push(agent);
        }
      }),
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { nodeNames: names, engines, stop: stopAll };
}
