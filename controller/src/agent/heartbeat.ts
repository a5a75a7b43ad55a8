/**
 * The Node heartbeat, as the kubelet does it: the cheap signal is the Lease, renewed often;
 * the Node's status (lastHeartbeat, conditions, Docker version, counts) is written at a
 * coarser interval, or at once when something in it changed.
 */
import type { Runnable } from "../runtime/runnable.js";
import type { Condition, Node, NodeCapacity, NodeStatus } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { isConflict } from "../kube/errors.js";
import type { Lease } from "../kube/resources.js";
import { LEASES, NODES } from "../kube/resources.js";
import type { Clock, TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { StatusWriter, setCondition, statusEqual, toTimestamp } from "../runtime/status.js";
import { parseCpuQuantity, parseMemoryQuantity } from "./containerspec.js";
import type { AgentDocker } from "./docker-port.js";
import type { NodeIdentity } from "./registration.js";
import { CONDITIONS, nodeLeaseName } from "../api/vocabulary.js";
import { NodeConflictError, isLoopback, leaseHeldBy, microTime } from "./registration.js";

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

export interface HeartbeatOptions {
  identity: NodeIdentity;
  client: KubeClient;
  docker: AgentDocker;
  clock: Clock;
  logger: Logger;
  /** The Lease as registration stored it. */
  lease: Lease;
  leaseRenewMs: number;
  statusRefreshMs: number;
  usage: () => NodeUsage;
  /**
   * A watched cache of Nodes. When it has synced, beats read this Node and count the others
   * from it instead of a GET and a LIST per beat; without it (or before it syncs) they ask the
   * API server.
   */
  nodes?: NodeCache;
  /** Another agent took the Node over: the agent must stop. */
  onLost: (err: NodeConflictError) => void;
}

/** The part of an Informer<Node> the heartbeat reads. */
export interface NodeCache {
  hasSynced(): boolean;
  get(namespace: string | undefined, name: string): Node | undefined;
  list(): Node[];
}

export class NodeHeartbeat implements Runnable {
  readonly name = "node-heartbeat";
  private lease: Lease;
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** Another agent holds the Node now: this one must not write its status or touch its Lease. */
  private lost = false;
  private lastStatusWrite = 0;
  private lastEngine: EngineHealth | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly statusWriter: StatusWriter;

  constructor(private readonly options: HeartbeatOptions) {
    this.lease = options.lease;
    this.statusWriter = new StatusWriter(options.client);
  }

  /** Writes the first status at once, then beats on its interval. */
  async start(): Promise<void> {
    await this.beat();
    this.schedule();
  }

  /** Stops beating, marks the Node not ready and releases the Lease so a successor may start at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    await this.running;
    if (this.lost) return;
    try {
      await this.writeStatus(await this.checkEngine(), true);
      const spec = {
        ...this.lease.spec,
        holderIdentity: null,
        renewTime: microTime(this.options.clock.now()),
      };
      await this.options.client.replace(LEASES, { ...this.lease, spec });
    } catch (err) {
      this.options.logger.warn("could not release the node lease", errorFields(err));
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      this.running = this.beat()
        .catch((err: unknown) => this.options.logger.warn("heartbeat failed", errorFields(err)))
        .finally(() => this.schedule());
    }, this.options.leaseRenewMs);
  }

  /**
   * One beat: renew the Lease; write status when the engine or the instance count changed, the refresh is due, or
   * the Node's readiness is not what this agent reports. The last happens after an outage:
   * the controller marked the Node Ready=Unknown while the Lease was stale, and the Node
   * must read Ready again as soon as the agent is back, not a status interval later.
   */
  private async beat(): Promise<void> {
    await this.renewLease();
    if (this.lost) return;
    const engine = await this.checkEngine();
    const node = await this.readNode();
    // The instance count is what `kubectl get bnodes` shows and the scheduler's capacity reads:
    // write it when it moved, at most once a beat.
    const changed =
      this.lastEngine?.reachable !== engine.reachable ||
      this.lastEngine?.version !== engine.version ||
      node.status?.instances !== this.options.usage().instances;
    const due = this.options.clock.now() - this.lastStatusWrite >= this.options.statusRefreshMs;
    const drifted = readinessDrifted(node.status, engine);
    if (drifted && !changed) {
      const ready = node.status?.conditions?.find((c) => c.type === CONDITIONS.ready);
      this.options.logger.info("node readiness was changed by someone else, reporting it again", {
        status: ready?.status,
        reason: ready?.reason,
      });
    }
    if (changed || due || drifted) await this.writeStatus(engine, false, node);
    this.lastEngine = engine;
  }

  private async renewLease(): Promise<void> {
    const { client, identity, clock } = this.options;
    const now = clock.now();
    try {
      this.lease = await client.replace(LEASES, {
        ...this.lease,
        spec: { ...this.lease.spec, holderIdentity: identity.agentId, renewTime: microTime(now) },
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Someone else wrote our Lease: if another live agent holds it, this agent has lost its Node.
      const current = await client.get(LEASES, {
        namespace: identity.leaseNamespace,
        name: nodeLeaseName(identity.nodeName),
      });
      const holder = leaseHeldBy(current, now);
      if (holder && holder !== identity.agentId) {
        this.stopped = true;
        this.lost = true;
        this.options.onLost(
          new NodeConflictError(`Node "${identity.nodeName}" was taken over by another agent (${holder})`),
        );
        return;
      }
      this.lease = current;
      await this.renewLease();
    }
  }

  private async checkEngine(): Promise<EngineHealth> {
    try {
      const version = await this.options.docker.version();
      return { reachable: true, version: version.version };
    } catch (err) {
      return { reachable: false, message: errorFields(err).error as string };
    }
  }

  private async readNode(): Promise<Node> {
    const { client, identity, nodes } = this.options;
    const cached = nodes?.hasSynced() ? nodes.get(undefined, identity.nodeName) : undefined;
    return cached ?? (await client.get(NODES, { name: identity.nodeName }));
  }

  private async countOtherNodes(): Promise<number> {
    const { client, identity, nodes } = this.options;
    const all = nodes?.hasSynced() ? nodes.list() : (await client.list(NODES)).items;
    return all.filter((other) => other.metadata.name !== identity.nodeName).length;
  }

  private async writeStatus(engine: EngineHealth, stopping: boolean, read?: Node): Promise<void> {
    const { identity, clock } = this.options;
    const node: Node = read ?? (await this.readNode());
    // Allocatable is what the scheduler reads, the Node's spec.capacity, less what is placed:
    // the --capacity flag only applies when the agent creates its Node.
    const { capacity: _flag, ...withoutCapacity } = identity;
    const input: StatusInput = {
      identity: node.spec.capacity ? { ...withoutCapacity, capacity: node.spec.capacity } : withoutCapacity,
      engine,
      usage: this.options.usage(),
      otherNodes: await this.countOtherNodes(),
      now: clock.now(),
      stopping,
    };
    const next = nodeStatusFor(node.status, input);
    const { lastHeartbeat: _ignored, ...withoutBeat } = next;
    const due = clock.now() - this.lastStatusWrite >= this.options.statusRefreshMs;
    // Between refreshes only a change is written; the Lease carries liveness meanwhile.
    const status =
      !due && statusEqual({ ...node.status, lastHeartbeat: undefined }, withoutBeat) ? undefined : next;
    if (!status) return;
    await this.statusWriter.update(NODES, node, status, { precondition: false, observedGeneration: false });
    this.lastStatusWrite = clock.now();
  }
}
