/**
 * The words both roles (and the registry) must agree on: label keys, finalizers, the Node's
 * namespace and Lease names, condition types, and what a Node's Ready condition and an
 * external Instance mean. One definition each, so the controller and the agent cannot drift
 * apart. (Quantities have theirs in quantity.ts.)
 */
import type { Instance, Node } from "./types.js";

/** Labels Berth puts on every container it runs; a container without them is never touched. */
export const LABELS = {
  instance: "berth.dev/instance",
  namespace: "berth.dev/namespace",
  definition: "berth.dev/definition",
  deploymentId: "berth.dev/deployment-id",
  node: "berth.dev/node",
  managedBy: "berth.dev/managed-by",
  /** The installation (cluster) whose agent made the container: see agent/installation.ts. */
  installation: "berth.dev/installation",
} as const;

/**
 * Prefix of the namespace per Node (`berth-node-<node>`) that Instances' environments are
 * delivered to, and of the Node's heartbeat Lease in berth-system.
 */
export const NODE_NAMESPACE_PREFIX = "berth-node-";
/** Node names are labels, and `berth-node-<name>` must be a namespace name (63 characters). */
export const NODE_NAME_MAX_LENGTH = 63 - NODE_NAMESPACE_PREFIX.length;
/** Host ports below this are privileged: only a Node with spec.allowPrivilegedPorts publishes them. */
export const FIRST_UNPRIVILEGED_PORT = 1024;

export const DEFINITION_FINALIZER = "berth.dev/instances";
export const INSTANCE_FINALIZER = "berth.dev/container";

/** The Lease an agent renews for its Node (in the heartbeat namespace, berth-system by default). */
export function nodeLeaseName(nodeName: string): string {
  return `${NODE_NAMESPACE_PREFIX}${nodeName}`;
}

/** The Node whose Lease this is; undefined for any other Lease. */
export function nodeOfLease(leaseName: string): string | undefined {
  return leaseName.startsWith(NODE_NAMESPACE_PREFIX)
    ? leaseName.slice(NODE_NAMESPACE_PREFIX.length)
    : undefined;
}

/** Condition types, by object: each one's meaning is documented on the status field that holds it. */
export const CONDITIONS = {
  /** Definition, Instance, Node: serving (an Instance), all replicas ready (a Definition), heartbeating (a Node). */
  ready: "Ready",
  /** Instance: bound to a Node, or why it cannot be (Unschedulable). */
  scheduled: "Scheduled",
  /** Instance: its container runs (the health check may still fail). */
  containerReady: "ContainerReady",
  /** Definition: a rollout is under way, or complete. */
  progressing: "Progressing",
  /** Definition: something needs a person's attention. */
  degraded: "Degraded",
  /** Node: the agent reaches its Docker engine. */
  dockerReachable: "DockerReachable",
  /** Node: the agent's configuration cannot work here (a loopback URL while other Nodes exist). */
  misconfigured: "Misconfigured",
} as const;

/**
 * An external Instance (spec.external) is an address Berth does not run: no controller
 * schedules, deploys, counts or garbage-collects it, even when it carries the slug of a
 * Definition or (declared by hand) an owner reference to one.
 */
export function isExternalInstance(instance: Instance): boolean {
  return instance.spec.external !== undefined;
}

/** The Node's Ready condition is True (the agent heartbeats and the engine answers). */
export function nodeIsReady(node: Node | undefined): boolean {
  return node?.status?.conditions?.some((c) => c.type === CONDITIONS.ready && c.status === "True") ?? false;
}
