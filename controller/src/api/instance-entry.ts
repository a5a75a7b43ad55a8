/**
 * One Instance as a caller of the registry or of Kubernetes discovery sees it: its address
 * and whether it is ready, by one rule shared by the registry's lookup and the discovery
 * mirror's EndpointSlices (pure, no I/O). The shape is the registry's wire type (the
 * client library declares the same fields for its own users).
 */
import type { Instance, Node } from "./types.js";
import { CONDITIONS, nodeIsReady } from "./vocabulary.js";

export interface InstanceEntry {
  name: string;
  url: string | null;
  host: string | null;
  port: number | null;
  node: string | null;
  deploymentId: string | null;
  ready: boolean;
  external: boolean;
  reason?: string;
  metadata?: Record<string, string>;
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
