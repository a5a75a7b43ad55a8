/**
 * What the registry answers, computed from cached objects only (pure, no I/O): the
 * instances of one service (Berth-run and external, merged by slug) and the summary of
 * every service in a namespace.
 */
import type { Definition, Instance, Node } from "../api/types.js";
import type { RegistryInstance } from "../client/types.js";
import { isExternalInstance } from "../api/vocabulary.js";
import { instanceEntry } from "../api/instance-entry.js";

/** One address of a service, as lookup returns it: the client library's wire type. */
export type InstanceEntry = RegistryInstance;

export type ServiceSource = "berth" | "external" | "both";

export interface ServiceSummary {
  slug: string;
  ready: number;
  /** The Definition's replicas plus the external Instances. */
  desired: number;
  /** The Definition's current deploymentId; null without a Definition or before its first status. */
  deploymentId: string | null;
  source: ServiceSource;
}

type NodeOf = (name: string) => Node | undefined;

/** Every Instance of the slug (Berth-run and external), by name. */
export function serviceEntries(
  slug: string,
  instances: readonly Instance[],
  nodeOf: NodeOf,
): InstanceEntry[] {
  return instances
    .filter((instance) => instance.spec.definition === slug)
    .map((instance) => instanceEntry(instance, nodeOf))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The summary of every slug that has a Definition or an Instance in the namespace. */
export function summarizeServices(
  definitions: readonly Definition[],
  instances: readonly Instance[],
  nodeOf: NodeOf,
): ServiceSummary[] {
  const bySlug = new Map<string, { definition?: Definition; instances: Instance[] }>();
  const slot = (slug: string) => {
    let found = bySlug.get(slug);
    if (!found) bySlug.set(slug, (found = { instances: [] }));
    return found;
  };
  for (const definition of definitions) slot(definition.metadata.name ?? "").definition = definition;
  for (const instance of instances) slot(instance.spec.definition).instances.push(instance);
  const summaries: ServiceSummary[] = [];
  for (const [slug, { definition, instances: members }] of bySlug) {
    const externals = members.filter(isExternalInstance);
    const ready = members.filter((i) => instanceEntry(i, nodeOf).ready).length;
    const source: ServiceSource =
      definition && externals.length > 0 ? "both" : definition ? "berth" : "external";
    summaries.push({
      slug,
      ready,
      desired: (definition ? (definition.spec.replicas ?? 1) : 0) + externals.length,
      deploymentId: definition?.status?.deploymentId ?? null,
      source,
    });
  }
  return summaries.sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
}
