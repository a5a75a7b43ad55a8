/**
 * The scheduler's decision for one Instance, pure: which Node it goes to, or why none can
 * take it. Filters, in order: the Node is Ready, not marked unschedulable, carries every
 * label of placement.nodeSelector, allows privileged ports when the fixed hostPort is below
 * 1024 (spec.allowPrivilegedPorts), has the fixed hostPort free (no Instance bound there
 * holds it, terminating ones included: their container may still own the port), and has
 * room (capacity.instances, memory, cpus against what its Instances claim). Among the
 * Nodes left, Spread takes the one with the fewest Instances of the same Definition, then
 * the fewest Instances overall; Pack takes the fullest. Ties go to the Node name, so the
 * same world always gives the same answer.
 */
import type { Node, Resources } from "../../api/types.js";
import { FIRST_UNPRIVILEGED_PORT } from "../../api/vocabulary.js";
import { compareStrings } from "../definition/deployment-id.js";
import { nodeIsReady } from "../../api/vocabulary.js";
import { cpuNanos, memoryBytes } from "../../api/quantity.js";

export interface SchedulingCandidate {
  namespace: string;
  definition: string;
  hostPort?: number;
  resources?: Resources;
  nodeSelector?: Record<string, string>;
  spread?: "Spread" | "Pack";
}

/** An Instance already bound to a Node (or assumed bound by this scheduler). */
export interface PlacedInstance {
  namespace: string;
  definition: string;
  nodeName: string;
  hostPort?: number;
  resources?: Resources;
}

/** What placement reads of the Instances placed on one Node: totals, not the Instances. */
export interface NodeLoad {
  /** Instances placed there. */
  readonly count: number;
  /** Memory (whole bytes) and CPUs (NanoCpus) they claim; an Instance without a claim adds 0. */
  readonly memoryBytes: number;
  readonly cpuNanos: number;
  /** Instances of this Definition placed there. */
  countOf(namespace: string, definition: string): number;
  /** Whether an Instance placed there holds this host port. */
  holdsHostPort(port: number): boolean;
}

export type SchedulingResult =
  { node: string } | { node?: undefined; reason: "Unschedulable"; message: string };

type Rejection =
  | "not Ready"
  | "unschedulable"
  | "selector"
  | "privilegedPort"
  | "hostPort"
  | "instances"
  | "memory"
  | "cpus";

const REJECTION_TEXT: Record<Rejection, (c: SchedulingCandidate) => string> = {
  "not Ready": () => "not Ready",
  unschedulable: () => "marked unschedulable",
  selector: (c) => `without the labels of placement.nodeSelector ${JSON.stringify(c.nodeSelector ?? {})}`,
  privilegedPort: (c) =>
    // Stryker disable next-line StringLiteral: only a candidate with a host port is refused for one
    `not allowing privileged host port ${c.hostPort ?? ""} (below ${FIRST_UNPRIVILEGED_PORT}: an admin sets spec.allowPrivilegedPorts on the Node)`,
  // Stryker disable next-line StringLiteral: only a candidate with a host port is refused for one
  hostPort: (c) => `already running an Instance on host port ${c.hostPort ?? ""}`,
  instances: () => "full (capacity.instances)",
  memory: () => "without enough memory left (capacity.memory)",
  cpus: () => "without enough CPUs left (capacity.cpus)",
};

export function schedule(
  candidate: SchedulingCandidate,
  nodes: readonly Node[],
  loadOn: (node: string) => NodeLoad,
): SchedulingResult {
  const rejections = new Map<Rejection, number>();
  const fitting: Array<{ name: string; total: number; same: number }> = [];
  for (const node of nodes) {
    // Stryker disable next-line StringLiteral: a stored Node always has a name; "" only satisfies the type
    const name = node.metadata.name ?? "";
    const load = loadOn(name);
    const rejection = rejectionOf(candidate, node, load);
    if (rejection) {
      rejections.set(rejection, (rejections.get(rejection) ?? 0) + 1);
      continue;
    }
    const same = load.countOf(candidate.namespace, candidate.definition);
    fitting.push({ name, total: load.count, same });
  }

  if (fitting.length === 0) {
    return { reason: "Unschedulable", message: unschedulableMessage(candidate, nodes.length, rejections) };
  }
  const pack = candidate.spread === "Pack";
  fitting.sort((a, b) =>
    pack
      ? b.total - a.total || compareStrings(a.name, b.name)
      : a.same - b.same || a.total - b.total || compareStrings(a.name, b.name),
  );
  return { node: fitting[0]!.name };
}

function rejectionOf(candidate: SchedulingCandidate, node: Node, load: NodeLoad): Rejection | undefined {
  if (!nodeIsReady(node)) return "not Ready";
  if (node.spec.unschedulable === true) return "unschedulable";
  const labels = node.spec.labels ?? {};
  for (const [key, value] of Object.entries(candidate.nodeSelector ?? {})) {
    if (labels[key] !== value) return "selector";
  }
  if (
    candidate.hostPort !== undefined &&
    candidate.hostPort < FIRST_UNPRIVILEGED_PORT &&
    node.spec.allowPrivilegedPorts !== true
  )
    return "privilegedPort";
  if (candidate.hostPort !== undefined && load.holdsHostPort(candidate.hostPort)) return "hostPort";
  const capacity = node.spec.capacity ?? {};
  if (capacity.instances !== undefined && load.count + 1 > capacity.instances) return "instances";
  const claim = candidate.resources;
  if (exceeds(capacity.memory, load.memoryBytes, claim?.memory, memoryBytes)) return "memory";
  if (exceeds(capacity.cpus, load.cpuNanos, claim?.cpus, cpuNanos)) return "cpus";
  return undefined;
}

/** True when the node has a limit for this resource and the candidate would go over it. */
function exceeds(
  limitText: string | undefined,
  used: number,
  claimText: string | undefined,
  parse: (text: string) => number | undefined,
): boolean {
  const limit = limitText === undefined ? undefined : parse(limitText);
  if (limit === undefined) return false;
  return used + claimOf(claimText, parse) > limit;
}

/**
 * What one claim of a resource counts for: whole bytes or NanoCpus, as the agent gives the
 * engine (0.1 + 0.2 cores fit into 0.3); nothing, or nothing readable, counts 0.
 */
export function claimOf(text: string | undefined, parse: (text: string) => number | undefined): number {
  return (text === undefined ? undefined : parse(text)) ?? 0;
}

function unschedulableMessage(
  candidate: SchedulingCandidate,
  nodeCount: number,
  rejections: ReadonlyMap<Rejection, number>,
): string {
  if (nodeCount === 0)
    return "0/0 nodes are available: no Node is registered; start a Berth agent on a Docker machine.";
  const parts = [...rejections.entries()].map(
    ([rejection, count]) => `${count} ${REJECTION_TEXT[rejection](candidate)}`,
  );
  return `0/${nodeCount} nodes are available: ${parts.join(", ")}.`;
}
