/**
 * The Node status the agent writes, pure: conditions (Ready, DockerReachable, Misconfigured)
 * from what it sees of its engine and the other Nodes, and allocatable from its capacity
 * less what its Instances claim. heartbeat.ts writes it on its loop.
 */
import type { Condition, NodeCapacity, NodeStatus } from "../api/types.js";
import { CONDITIONS } from "../api/vocabulary.js";
import { setCondition, toTimestamp } from "../runtime/conditions.js";
import { parseCpuQuantity, parseMemoryQuantity } from "./container-request.js";
import { isLoopback, type NodeIdentity } from "./registration.js";

export interface EngineHealth {
  reachable: boolean;
  version?: string;
  /** Why it is not reachable. */
  message?: string;
}

/** What the node carries: counted from the Instances bound to it. */
export interface NodeUsage {
  instances: number;
  memoryBytes: number;
  nanoCpus: number;
}

export interface StatusInput {
  identity: NodeIdentity;
  engine: EngineHealth;
  usage: NodeUsage;
  otherNodes: number;
  now: number;
  stopping?: boolean;
}

/** The Node status for what the agent sees now (lastHeartbeat included). Pure. */
export function nodeStatusFor(current: NodeStatus | undefined, input: StatusInput): NodeStatus {
  const { identity, engine, now } = input;
  let conditions: Condition[] | undefined = current?.conditions;
  conditions = setCondition(
    conditions,
    engine.reachable
      ? {
          type: CONDITIONS.dockerReachable,
          status: "True",
          reason: "EngineAnswered",
          message: `Docker ${engine.version ?? ""} answers at ${identity.url}`.replace("  ", " "),
        }
      : {
          type: CONDITIONS.dockerReachable,
          status: "False",
          reason: "EngineUnreachable",
          message: engine.message ?? `Docker at ${identity.url} does not answer`,
        },
    now,
  );
  const ready = input.stopping
    ? { status: "False" as const, reason: "AgentStopped", message: "the agent was stopped" }
    : engine.reachable
      ? {
          status: "True" as const,
          reason: "AgentReady",
          message: "the agent heartbeats and its Docker engine answers",
        }
      : {
          status: "False" as const,
          reason: "EngineUnreachable",
          message: `the Docker engine at ${identity.url} does not answer`,
        };
  conditions = setCondition(conditions, { type: CONDITIONS.ready, ...ready }, now);
  conditions = setCondition(conditions, misconfiguredCondition(identity, input.otherNodes), now);
  const status: NodeStatus = {
    lastHeartbeat: toTimestamp(now),
    ready: ready.status,
    agentId: identity.agentId,
    instances: input.usage.instances,
    conditions,
  };
  const version = engine.version ?? current?.dockerVersion;
  if (version) status.dockerVersion = version;
  const allocatable = allocatableFor(identity.capacity, input.usage);
  if (allocatable) status.allocatable = allocatable;
  return status;
}

/**
 * Whether the Node's readiness differs from what the agent would report for this engine:
 * someone else (the controller's node-liveness loop) wrote it, or it was never written.
 */
export function readinessDrifted(status: NodeStatus | undefined, engine: EngineHealth): boolean {
  const expected = engine.reachable ? "True" : "False";
  const condition = status?.conditions?.find((c) => c.type === CONDITIONS.ready);
  return condition?.status !== expected || status?.ready !== expected;
}

/** The seed's "suboptimally configured node": a loopback URL or address while other Nodes exist. */
export function misconfiguredCondition(
  identity: Pick<NodeIdentity, "url" | "address">,
  otherNodes: number,
): Omit<Condition, "lastTransitionTime"> {
  const loopback = [
    isLoopback(identity.url) ? `URL ${identity.url}` : undefined,
    isLoopback(identity.address) ? `address ${identity.address}` : undefined,
  ].filter((part): part is string => part !== undefined);
  if (otherNodes > 0 && loopback.length > 0) {
    return {
      type: CONDITIONS.misconfigured,
      status: "True",
      reason: "LoopbackInMultiNodeRegistry",
      message:
        `this Node's ${loopback.join(" and ")} is loopback while ${otherNodes} other Node(s) exist: ` +
        `other machines cannot reach it. Set --address (and --url) to this machine's network address.`,
    };
  }
  return {
    type: CONDITIONS.misconfigured,
    status: "False",
    reason: "AsExpected",
    message: "no configuration problem seen",
  };
}

function allocatableFor(capacity: NodeCapacity | undefined, usage: NodeUsage): NodeCapacity | undefined {
  if (!capacity) return undefined;
  const result: NodeCapacity = {};
  if (capacity.instances !== undefined) result.instances = Math.max(0, capacity.instances - usage.instances);
  if (capacity.memory) {
    result.memory = String(Math.max(0, parseMemoryQuantity(capacity.memory) - usage.memoryBytes));
  }
  if (capacity.cpus) {
    const milli = Math.max(0, Math.floor((parseCpuQuantity(capacity.cpus) - usage.nanoCpus) / 1e6));
    result.cpus = `${milli}m`;
  }
  return result;
}
