/**
 * The placements on each Node, as the Instance cache shows them, kept as totals: how many
 * Instances, how many of each Definition, which host ports are held, and the memory and CPUs
 * claimed. They change as bindings land and Instances change or go, so placing one Instance
 * costs a look at each Node, not at every Instance placed there (at 10,000 Instances that
 * sum, once per binding, was most of the controller's CPU).
 */
import type { Instance } from "../../api/types.js";
import { cpuNanos, memoryBytes } from "../../api/quantity.js";
import type { Informer } from "../../runtime/informer.js";
import { objectKey } from "../../runtime/informer.js";
import { claimOf, type NodeLoad, type PlacedInstance, type SchedulingCandidate } from "./placement.js";

/** What placement reads of an Instance: its Definition, fixed host port and resources. */
export function placementOf(instance: Instance): Omit<PlacedInstance, "nodeName"> & SchedulingCandidate {
  const placed: Omit<PlacedInstance, "nodeName"> = {
    namespace: instance.metadata.namespace ?? "default",
    definition: instance.spec.definition,
  };
  if (instance.spec.hostPort !== undefined) placed.hostPort = instance.spec.hostPort;
  if (instance.spec.template?.resources) placed.resources = instance.spec.template.resources;
  return placed;
}

/**
 * The placement of an Instance on a node. Built up rather than spread from placementOf: a
 * spread's result gets a hidden class of its own (see cache-shape.ts's shallowCopy), and one
 * is kept per bound Instance.
 */
export function placedOn(instance: Instance, node: string): PlacedInstance {
  const placed = placementOf(instance) as PlacedInstance;
  placed.nodeName = node;
  return placed;
}

/** The totals of some placements on one Node, kept as placements are added and removed. */
export class NodeTotals implements NodeLoad {
  count = 0;
  memoryBytes = 0;
  cpuNanos = 0;
  /** namespace/definition -> how many of its Instances (none: no entry). */
  private readonly perDefinition = new Map<string, number>();
  /** host port -> how many Instances hold it (none: no entry). */
  private readonly hostPortHolders = new Map<number, number>();

  static of(placements: Iterable<PlacedInstance>): NodeTotals {
    const totals = new NodeTotals();
    for (const placed of placements) totals.add(placed);
    return totals;
  }

  countOf(namespace: string, definition: string): number {
    return this.perDefinition.get(`${namespace}/${definition}`) ?? 0;
  }

  holdsHostPort(port: number): boolean {
    return this.hostPortHolders.has(port);
  }

  add(placed: PlacedInstance): void {
    this.change(placed, 1);
  }

  remove(placed: PlacedInstance): void {
    this.change(placed, -1);
  }

  private change(placed: PlacedInstance, by: 1 | -1): void {
    this.count += by;
    // Whole bytes and NanoCpus: sums and differences of integers stay exact.
    this.memoryBytes += by * claimOf(placed.resources?.memory, memoryBytes);
    this.cpuNanos += by * claimOf(placed.resources?.cpus, cpuNanos);
    bump(this.perDefinition, `${placed.namespace}/${placed.definition}`, by);
    if (placed.hostPort !== undefined) bump(this.hostPortHolders, placed.hostPort, by);
  }
}

function bump<K>(counts: Map<K, number>, key: K, by: number): void {
  const count = (counts.get(key) ?? 0) + by;
  if (count === 0) counts.delete(key);
  else counts.set(key, count);
}

/** A Node nothing is placed on. Never changed: totals are made per Node on its first placement. */
const NOTHING_PLACED: NodeLoad = Object.freeze(new NodeTotals());

/** Two loads of one Node as one: what the cache shows placed there and what is assumed. */
export function combinedLoad(a: NodeLoad, b: NodeLoad): NodeLoad {
  return {
    count: a.count + b.count,
    memoryBytes: a.memoryBytes + b.memoryBytes,
    cpuNanos: a.cpuNanos + b.cpuNanos,
    countOf: (namespace, definition) => a.countOf(namespace, definition) + b.countOf(namespace, definition),
    holdsHostPort: (port) => a.holdsHostPort(port) || b.holdsHostPort(port),
  };
}

export class PlacedByNode {
  private readonly byNode = new Map<string, NodeTotals>();
  /** Instance key -> the placement counted for it, taken out again when it changes or goes. */
  private readonly counted = new Map<string, PlacedInstance>();

  constructor(instances: Informer<Instance>) {
    // Handlers run in event order before any reconcile, so a pass sees the cache as it is.
    instances.addHandler({
      onAdd: (instance) => this.place(instance),
      onUpdate: (_before, after) => this.place(after),
      onDelete: (instance) => this.place(instance, { gone: true }),
    });
  }

  /** The totals of the Instances the cache shows bound to the node. */
  load(node: string): NodeLoad {
    return this.byNode.get(node) ?? NOTHING_PLACED;
  }

  /** How many Nodes hold a placement: none is left of a Node whose Instances all went. */
  nodeCount(): number {
    return this.byNode.size;
  }

  private place(instance: Instance, { gone = false } = {}): void {
    const key = objectKey(instance);
    const previous = this.counted.get(key);
    if (previous) {
      const totals = this.byNode.get(previous.nodeName)!;
      totals.remove(previous);
      if (totals.count === 0) this.byNode.delete(previous.nodeName);
      this.counted.delete(key);
    }
    const node = instance.spec.nodeName;
    if (gone || !node) return;
    const placed = placedOn(instance, node);
    let totals = this.byNode.get(node);
    if (!totals) this.byNode.set(node, (totals = new NodeTotals()));
    totals.add(placed);
    this.counted.set(key, placed);
  }
}
