/**
 * The Node heartbeat, as the kubelet does it: the cheap signal is the Lease, renewed often;
 * the Node's status (lastHeartbeat, conditions, Docker version, counts) is written at a
 * coarser interval, or at once when something in it changed.
 */
import type { Runnable } from "../runtime/runnable.js";
import type { Node } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { getOrUndefined, isConflict } from "../kube/errors.js";
import type { Lease } from "../kube/resources.js";
import { LEASES, NODES } from "../kube/resources.js";
import type { Clock, TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { StatusWriter, statusEqual } from "../runtime/conditions.js";
import type { AgentDocker } from "./docker-port.js";
import type { NodeIdentity } from "./registration.js";
import { CONDITIONS, nodeLeaseName } from "../api/vocabulary.js";
import {
  nodeStatusFor,
  readinessDrifted,
  type EngineHealth,
  type NodeUsage,
  type StatusInput,
} from "./node-status.js";
import { NodeConflictError, isLoopback, leaseHeldBy, microTime, upsertNode } from "./registration.js";

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
   * A watched cache of this Node (the agent watches no other: a watch of every Node would
   * carry each Node's status write to every agent). When it has synced, beats read the Node
   * from it instead of a GET per beat; without it (or before it syncs) they ask the API server.
   */
  nodes?: NodeCache;
  /** Another agent took the Node over: the agent must stop. */
  onLost: (err: NodeConflictError) => void;
}

/** The part of an Informer<Node> the heartbeat reads. */
export interface NodeCache {
  hasSynced(): boolean;
  get(namespace: string | undefined, name: string): Node | undefined;
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
  /** Other Nodes at the last count; undefined until the first status write. */
  private otherNodes: number | undefined;
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
    // The other Nodes are counted again only when something of this Node moved: a refresh
    // alone asks the API server nothing beyond the status write.
    if (changed || due || drifted) await this.writeStatus(engine, false, node, changed || drifted);
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

  /**
   * This agent's Node. One deleted while the agent runs (by hand, or by a script cleaning
   * up) is registered again at once, with the same name and identity, as a kubelet does:
   * the controller leaves the Instances of a Node whose Lease is live alone meanwhile, and
   * they keep running. A stopping agent does not bring its Node back.
   */
  private async readNode(recreate = true): Promise<Node> {
    const { client, clock, identity, logger, nodes } = this.options;
    const cached = nodes?.hasSynced() ? nodes.get(undefined, identity.nodeName) : undefined;
    if (cached) return cached;
    const read = await getOrUndefined(() => client.get(NODES, { name: identity.nodeName }));
    if (read) return read;
    if (!recreate) throw new Error(`Node ${identity.nodeName} no longer exists`);
    logger.warn("the Node was deleted while this agent runs, registering it again", {
      node: identity.nodeName,
    });
    return await upsertNode(identity, { client, clock, logger });
  }

  /**
   * How many Nodes besides this one exist, for the Misconfigured condition, which reads it
   * only for a loopback URL or address (no other agent asks). One item's page and the
   * server's remainingItemCount: no Node is read.
   */
  private async countOtherNodes(recount: boolean): Promise<number> {
    const { client, identity } = this.options;
    if (!isLoopback(identity.url) && !isLoopback(identity.address)) return 0;
    if (recount || this.otherNodes === undefined) {
      const { items, remainingItemCount = 0 } = await client.list(NODES, { limit: 1 });
      // This Node is one of them: its status is being written.
      this.otherNodes = Math.max(0, items.length + remainingItemCount - 1);
    }
    return this.otherNodes;
  }

  private async writeStatus(
    engine: EngineHealth,
    stopping: boolean,
    read?: Node,
    recount = false,
  ): Promise<void> {
    const { identity, clock } = this.options;
    const node: Node = read ?? (await this.readNode(!stopping));
    // Allocatable is what the scheduler reads, the Node's spec.capacity, less what is placed:
    // the --capacity flag only applies when the agent creates its Node.
    const { capacity: _flag, ...withoutCapacity } = identity;
    const input: StatusInput = {
      identity: node.spec.capacity ? { ...withoutCapacity, capacity: node.spec.capacity } : withoutCapacity,
      engine,
      usage: this.options.usage(),
      otherNodes: await this.countOtherNodes(recount),
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
