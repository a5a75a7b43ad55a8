/**
 * Node registration: the agent claims its Node through the Node's Lease (one live agent
 * per Node), refuses a URL another live agent already registered, and creates the Node
 * from its flags (or updates the engine URL and address of an existing one). The Lease is the lock, so two agents starting at once
 * for one Node cannot both win: the second one's write fails its resourceVersion check.
 */
import net from "node:net";
import type { Node, NodeCapacity } from "../api/types.js";
import { API_VERSION } from "../api/types.js";
import { LABELS, nodeLeaseName } from "../api/vocabulary.js";
import type { KubeClient } from "../kube/client.js";
import { getOrUndefined, isAlreadyExists, isConflict } from "../kube/errors.js";
import type { Lease } from "../kube/resources.js";
import { LEASES, NODES } from "../kube/resources.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";

export interface NodeIdentity {
  nodeName: string;
  /** The Docker engine URL this agent manages: unique across Nodes. */
  url: string;
  /** Host name or IP Instance addresses use. */
  address: string;
  labels: Record<string, string>;
  capacity?: NodeCapacity;
  /** Tells this agent from another one for the same Node; kept across restarts in the agent's state directory. */
  agentId: string;
  leaseNamespace: string;
  leaseDurationSeconds: number;
}

/** Another live agent holds this Node, or this URL: starting would share it silently. */
export class NodeConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NodeConflictError";
  }
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/** Whether a Lease is held by someone whose last renewal has not expired yet. */
export function leaseHeldBy(lease: Lease | undefined, now: number): string | undefined {
  const holder = lease?.spec?.holderIdentity;
  const renewed = Date.parse(lease?.spec?.renewTime ?? "");
  const duration = lease?.spec?.leaseDurationSeconds ?? 0;
  if (!holder || !Number.isFinite(renewed)) return undefined;
  return renewed + duration * 1000 > now ? holder : undefined;
}

/** Whether a URL or address names this machine's loopback: meaningless to other machines. */
export function isLoopback(urlOrHost: string): boolean {
  let host = urlOrHost;
  if (urlOrHost.includes("://")) {
    if (urlOrHost.startsWith("unix://")) return false;
    try {
      host = new URL(urlOrHost.replace(/^tcp:/, "http:")).hostname;
    } catch {
      return false;
    }
  }
  host = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (net.isIPv4(host)) return host.startsWith("127.");
  return host === "::1";
}

interface RegistrationDeps {
  client: KubeClient;
  clock: Clock;
  logger: Logger;
}

/**
 * Registers the agent: checks for a live duplicate URL, takes the Node's Lease, then
 * creates or updates the Node. Returns the Lease as stored (the heartbeat renews it) and
 * the Node. Throws NodeConflictError when another live agent holds the Node or the URL.
 */
export async function registerNode(
  identity: NodeIdentity,
  deps: RegistrationDeps,
): Promise<{ node: Node; lease: Lease }> {
  await refuseDuplicateUrl(identity, deps);
  const lease = await acquireLease(identity, deps);
  const node = await upsertNode(identity, deps);
  deps.logger.info("node registered", {
    node: identity.nodeName,
    url: identity.url,
    agentId: identity.agentId,
  });
  return { node, lease };
}

async function refuseDuplicateUrl(identity: NodeIdentity, deps: RegistrationDeps): Promise<void> {
  const nodes = await deps.client.list(NODES);
  for (const other of nodes.items) {
    const name = other.metadata.name ?? "";
    if (name === identity.nodeName || other.spec.url !== identity.url) continue;
    const lease = await getOrUndefined(() =>
      deps.client.get(LEASES, { namespace: identity.leaseNamespace, name: nodeLeaseName(name) }),
    );
    const holder = leaseHeldBy(lease, deps.clock.now());
    if (holder) {
      throw new NodeConflictError(
        `engine URL ${identity.url} is already registered by Node "${name}", whose agent ${holder} is live: ` +
          `one engine is one Node. Stop that agent, or give this one the Node name "${name}" once it is stopped.`,
      );
    }
  }
}

async function acquireLease(identity: NodeIdentity, deps: RegistrationDeps): Promise<Lease> {
  const ref = { namespace: identity.leaseNamespace, name: nodeLeaseName(identity.nodeName) };
  // Two rounds: a conflict means another agent wrote the Lease meanwhile; look again, once.
  for (let attempt = 0; ; attempt++) {
    const now = deps.clock.now();
    const existing = await getOrUndefined(() => deps.client.get(LEASES, ref));
    const holder = leaseHeldBy(existing, now);
    if (holder && holder !== identity.agentId) {
      const renewed = existing?.spec?.renewTime ?? "";
      throw new NodeConflictError(
        `Node "${identity.nodeName}" is held by another live agent (${holder}, lease renewed at ${renewed}): ` +
          `two agents must not share a Node. Stop the other agent, or wait ${identity.leaseDurationSeconds} s ` +
          `after it stopped, or choose another --node-name.`,
      );
    }
    const spec: NonNullable<Lease["spec"]> = {
      holderIdentity: identity.agentId,
      leaseDurationSeconds: identity.leaseDurationSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (existing?.spec?.leaseTransitions ?? 0) + (existing ? 1 : 0),
    };
    try {
      if (!existing) {
        return await deps.client.create(LEASES, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { ...ref, labels: { [LABELS.node]: identity.nodeName } },
          spec,
        });
      }
      return await deps.client.replace(LEASES, { ...existing, spec });
    } catch (err) {
      if (attempt === 0 && (isConflict(err) || isAlreadyExists(err))) continue;
      if (isConflict(err) || isAlreadyExists(err)) {
        throw new NodeConflictError(
          `Node "${identity.nodeName}": another agent is taking its Lease at the same time; two agents must not share a Node`,
        );
      }
      throw err;
    }
  }
}

/**
 * The Node's spec from the flags. Labels and capacity are written only when the agent
 * creates its Node: afterwards they steer other tenants' Instances to this machine, so
 * they belong to an administrator (the admission policy refuses an agent's change to
 * them, and to unschedulable). The engine URL and the address are the agent's to keep
 * up to date.
 */
export async function upsertNode(identity: NodeIdentity, deps: RegistrationDeps): Promise<Node> {
  const existing = await getOrUndefined(() => deps.client.get(NODES, { name: identity.nodeName }));
  if (!existing) {
    try {
      return await deps.client.create(NODES, {
        apiVersion: API_VERSION,
        kind: "Node",
        metadata: { name: identity.nodeName },
        spec: {
          url: identity.url,
          address: identity.address,
          ...(Object.keys(identity.labels).length > 0 ? { labels: identity.labels } : {}),
          ...(identity.capacity ? { capacity: identity.capacity } : {}),
        },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // Created meanwhile (by hand, say): fall through to an update.
    }
  }
  const node = await deps.client.mergePatch(
    NODES,
    { name: identity.nodeName },
    { spec: { url: identity.url, address: identity.address } },
  );
  warnAboutAdminFields(identity, node, deps.logger);
  return node;
}

/** Flags that ask for labels or capacity the existing Node does not have: said, not applied. */
function warnAboutAdminFields(identity: NodeIdentity, node: Node, logger: Logger): void {
  const labels = node.spec.labels ?? {};
  const differing = Object.entries(identity.labels)
    .filter(([key, value]) => labels[key] !== value)
    .map(([key]) => key);
  const capacityDiffers =
    identity.capacity !== undefined &&
    JSON.stringify(identity.capacity) !== JSON.stringify(node.spec.capacity ?? {});
  if (differing.length === 0 && !capacityDiffers) return;
  logger.warn("the Node exists: its labels and capacity are an administrator's, the flags are not applied", {
    node: identity.nodeName,
    ...(differing.length > 0 ? { labels: differing } : {}),
    ...(capacityDiffers ? { capacity: identity.capacity } : {}),
  });
}
