/**
 * What the registry answers, computed from cached objects only (pure, no I/O): the
 * instances of one service (Berth-run and external, merged by slug) and the summary of
 * every service in a namespace.
 */
import type { Definition, Instance, Node } from "../api/types.js";
import type { RegistryInstance } from "../client/types.js";
import { CONDITIONS, isExternalInstance, nodeIsReady } from "../api/vocabulary.js";

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

/** host and port of an http(s) URL, with the scheme's default port. */
export function hostPortOf(url: string): { host: string; port: number } | undefined {
  try {
    const parsed = new URL(url);
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80;
    return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port };
  } catch {
    return undefined;
  }
}

/** The lookup entry of one Instance, ready or not (with the reason). */
export function instanceEntry(instance: Instance, nodeOf: NodeOf): InstanceEntry {
  const name = instance.metadata.name ?? "";
  const terminating = instance.metadata.deletionTimestamp !== undefined;
  const external = instance.spec.external;
  if (external) {
    const where = hostPortOf(external.url);
    // A fixed endpoint (no TTL) is ready as declared; a TTL one while the registry says so.
    const heartbeatReady = external.ttlSeconds === undefined || instance.status?.ready === true;
    const ready = !terminating && heartbeatReady && where !== undefined;
    const entry: InstanceEntry = {
      name,
      url: external.url,
      host: where?.host ?? null,
      port: where?.port ?? null,
      node: null,
      deploymentId: null,
      ready,
      external: true,
    };
    if (external.metadata) entry.metadata = { ...external.metadata };
    if (!ready) {
      entry.reason = terminating
        ? "Terminating"
        : instance.status?.renewTime === undefined
          ? "Registering"
          : "HeartbeatExpired";
    }
    return entry;
  }
  const status = instance.status ?? {};
  const nodeName = instance.spec.nodeName || null;
  const nodeReady = nodeName !== null && nodeIsReady(nodeOf(nodeName));
  const address = status.address;
  const ready = !terminating && status.ready === true && nodeReady && address !== undefined;
  const entry: InstanceEntry = {
    name,
    url: address?.url ?? null,
    host: address?.host ?? null,
    port: address?.port ?? null,
    node: nodeName,
    deploymentId: instance.spec.deploymentId ?? null,
    ready,
    external: false,
  };
  if (!ready) {
    const readyCondition = status.conditions?.find((c) => c.type === CONDITIONS.ready);
    entry.reason = terminating
      ? "Terminating"
      : nodeName === null
        ? "Unscheduled"
        : !nodeReady
          ? "NodeNotReady"
          : readyCondition?.status === "False" && readyCondition.reason
            ? readyCondition.reason
            : (status.phase ?? "Pending");
  }
  return entry;
}

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
