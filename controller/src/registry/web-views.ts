/**
 * What the web index shows, computed from cached objects only (pure, no I/O): the services
 * of a namespace, one service in detail, and the Nodes. These are views for the page, not
 * part of the registry's API contract (that is lookup, /v1/openapi.json).
 */
import type { Condition, Definition, Endpoint, Instance, Node, NodeCapacity } from "../api/types.js";
import type { KubeEvent } from "../kube/resources.js";
import { instanceEntry } from "../api/instance-entry.js";
import { CONDITIONS } from "../api/vocabulary.js";
import { summarizeServices, type ServiceSource } from "./view.js";

type NodeOf = (name: string) => Node | undefined;

/** A condition as the page shows it: its reason and message. */
export interface ConditionView {
  status: string;
  reason: string;
  message: string;
}

export interface ServiceRow {
  slug: string;
  ready: number;
  desired: number;
  /** URLs of the ready instances. */
  addresses: string[];
  source: ServiceSource;
  deploymentId: string | null;
  /** The Definition's Progressing condition (RolloutComplete, RolloutInProgress, ...). */
  rollout: ConditionView | null;
  /** Why the service is not ready (Ready condition not True, or Degraded True); null when it is. */
  problem: ConditionView | null;
  labels: Record<string, string>;
}

export interface InstanceRow {
  name: string;
  node: string | null;
  url: string | null;
  ready: boolean;
  /** Why it is not ready (as lookup's ?include=all says it). */
  reason: string | null;
  external: boolean;
  restarts: number;
  createdAt: string | null;
  phase: string | null;
  lastProbeTime: string | null;
  message: string | null;
  deploymentId: string | null;
}

export interface EventRow {
  time: string | null;
  type: string;
  reason: string;
  object: string;
  note: string;
  count: number;
}

export interface ServiceDetail {
  namespace: string;
  slug: string;
  defined: boolean;
  summary: ServiceRow | null;
  labels: Record<string, string>;
  /** Both directions: what this service depends on, and what depends on it. */
  dependsOn: string[];
  dependents: string[];
  endpoints: Endpoint[];
  clients: Array<{ language: string; url: string }>;
  instances: InstanceRow[];
  events: EventRow[];
}

export interface NodeRow {
  name: string;
  url: string;
  address: string;
  ready: string;
  lastHeartbeat: string | null;
  dockerVersion: string | null;
  capacity: NodeCapacity;
  allocatable: NodeCapacity;
  instances: number;
  unschedulable: boolean;
  /** Misconfigured=True and other conditions that need a person. */
  warnings: ConditionView[];
}

/** How many Events a service page lists, newest first. */
export const MAX_EVENTS = 20;

function conditionOf(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

function asView(condition: Condition): ConditionView {
  return { status: condition.status, reason: condition.reason, message: condition.message };
}

function problemOf(definition: Definition | undefined): ConditionView | null {
  const conditions = definition?.status?.conditions;
  const degraded = conditionOf(conditions, CONDITIONS.degraded);
  if (degraded?.status === "True") return asView(degraded);
  const ready = conditionOf(conditions, CONDITIONS.ready);
  if (ready && ready.status !== "True") return asView(ready);
  return null;
}

export function serviceRows(
  definitions: readonly Definition[],
  instances: readonly Instance[],
  nodeOf: NodeOf,
): ServiceRow[] {
  const byName = new Map(definitions.map((d) => [d.metadata.name ?? "", d]));
  return summarizeServices(definitions, instances, nodeOf).map((summary) => {
    const definition = byName.get(summary.slug);
    const progressing = conditionOf(definition?.status?.conditions, CONDITIONS.progressing);
    const addresses = instances
      .filter((i) => i.spec.definition === summary.slug)
      .map((i) => instanceEntry(i, nodeOf))
      .filter((entry) => entry.ready && entry.url !== null)
      .map((entry) => entry.url!)
      .sort();
    return {
      ...summary,
      addresses,
      rollout: progressing ? asView(progressing) : null,
      problem: problemOf(definition),
      labels: { ...definition?.metadata.labels },
    };
  });
}

function instanceRow(instance: Instance, nodeOf: NodeOf): InstanceRow {
  const entry = instanceEntry(instance, nodeOf);
  const status = instance.status ?? {};
  return {
    name: entry.name,
    node: entry.node,
    url: entry.url,
    ready: entry.ready,
    reason: entry.reason ?? null,
    external: entry.external,
    restarts: status.restarts ?? 0,
    createdAt: instance.metadata.creationTimestamp ?? null,
    phase: status.phase ?? null,
    lastProbeTime: status.lastProbeTime ?? null,
    message: status.message ?? null,
    deploymentId: entry.deploymentId,
  };
}

function eventTime(event: KubeEvent): string | null {
  return event.series?.lastObservedTime ?? event.eventTime ?? event.metadata?.creationTimestamp ?? null;
}

export function serviceDetail(
  namespace: string,
  slug: string,
  caches: {
    definitions: readonly Definition[];
    instances: readonly Instance[];
    events: readonly KubeEvent[];
    nodeOf: NodeOf;
  },
): ServiceDetail {
  const definition = caches.definitions.find((d) => d.metadata.name === slug);
  const members = caches.instances.filter((i) => i.spec.definition === slug);
  const rows = members.map((i) => instanceRow(i, caches.nodeOf)).sort((a, b) => a.name.localeCompare(b.name));
  const names = new Set(members.map((i) => i.metadata.name));
  const events = caches.events
    .filter((e) =>
      e.regarding?.kind === "Definition"
        ? e.regarding.name === slug
        : e.regarding?.kind === "Instance" && names.has(e.regarding.name),
    )
    .map((e): EventRow => ({
      time: eventTime(e),
      type: e.type ?? "Normal",
      reason: e.reason ?? "",
      object: `${e.regarding?.kind ?? ""}/${e.regarding?.name ?? ""}`,
      note: e.note ?? "",
      count: e.series?.count ?? 1,
    }))
    .sort((a, b) => (b.time ?? "").localeCompare(a.time ?? ""))
    .slice(0, MAX_EVENTS);
  const summary = serviceRows(definition ? [definition] : [], members, caches.nodeOf)[0] ?? null;
  return {
    namespace,
    slug,
    defined: definition !== undefined,
    summary,
    labels: { ...definition?.metadata.labels },
    dependsOn: [...(definition?.spec.dependsOn ?? [])].sort(),
    dependents: caches.definitions
      .filter((d) => d.spec.dependsOn?.includes(slug))
      .map((d) => d.metadata.name ?? "")
      .sort(),
    endpoints: (definition?.spec.endpoints ?? []).map((e) => ({ type: e.type, url: e.url })),
    clients: (definition?.spec.clients ?? []).map((c) => ({ language: c.language, url: c.url })),
    instances: rows,
    events,
  };
}

export function nodeRows(nodes: readonly Node[]): NodeRow[] {
  return nodes
    .map((node): NodeRow => {
      const status = node.status ?? {};
      const warnings = (status.conditions ?? [])
        .filter(
          (c) => c.type !== CONDITIONS.ready && c.type !== CONDITIONS.dockerReachable && c.status === "True",
        )
        .map(asView);
      const docker = conditionOf(status.conditions, CONDITIONS.dockerReachable);
      if (docker && docker.status !== "True") warnings.push(asView(docker));
      return {
        name: node.metadata.name ?? "",
        url: node.spec.url,
        address: node.spec.address,
        ready: conditionOf(status.conditions, CONDITIONS.ready)?.status ?? status.ready ?? "Unknown",
        lastHeartbeat: status.lastHeartbeat ?? null,
        dockerVersion: status.dockerVersion ?? null,
        capacity: { ...node.spec.capacity },
        allocatable: { ...status.allocatable },
        instances: status.instances ?? 0,
        unschedulable: node.spec.unschedulable === true,
        warnings,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}
