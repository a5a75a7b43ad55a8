/**
 * The words both roles (and the registry) must agree on: condition types, and what a Node's
 * Ready condition and an external Instance mean. One definition each, so the controller and
 * the agent cannot drift apart.
 */
import type { Instance, Node } from "./types.js";

/** Condition types, by object: each one's meaning is documented on the status field that holds it. */
export const CONDITIONS = {
  /** Definition, Instance, Node: serving (an Instance), all replicas ready (a Definition), heartbeating (a Node). */
  ready: "Ready",
  /** Instance: bound to a Node, or why it cannot be (Unschedulable). */
  scheduled: "Scheduled",
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
