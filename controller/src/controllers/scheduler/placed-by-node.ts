/**
 * The placements on each Node, as the Instance cache shows them: kept per Node as bindings
 * land and Instances change or go, so a binding reads each Node's list as it stands instead
 * of making every bound Instance's placement anew (at 10,000 Instances that was most of the
 * scheduler's work, once per binding).
 */
import type { Instance } from "../../api/types.js";
import type { Informer } from "../../runtime/informer.js";
import { objectKey } from "../../runtime/informer.js";
import type { PlacedInstance, SchedulingCandidate } from "./placement.js";

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

export class PlacedByNode {
  /** node -> Instance key -> its placement. */
  private readonly byNode = new Map<string, Map<string, PlacedInstance>>();
  /** node -> its placements as one list, made when first asked for after a change there. */
  private readonly lists = new Map<string, readonly PlacedInstance[]>();

  constructor(instances: Informer<Instance>) {
    // Handlers run in event order before any reconcile, so a pass sees the cache as it is.
    instances.addHandler({
      onAdd: (instance) => this.place(undefined, instance),
      onUpdate: (before, after) => this.place(before, after),
      onDelete: (instance) => this.place(instance, undefined),
    });
  }

  /** The placements of the Instances the cache shows bound to the node. */
  on(node: string): readonly PlacedInstance[] {
    let list = this.lists.get(node);
    if (!list) {
      list = [...(this.byNode.get(node)?.values() ?? [])];
      this.lists.set(node, list);
    }
    return list;
  }

  /** How many Nodes hold a placement: none is left of a Node whose Instances all went. */
  nodeCount(): number {
    return this.byNode.size;
  }

  private place(before: Instance | undefined, after: Instance | undefined): void {
    const key = objectKey((after ?? before)!);
    const from = before?.spec.nodeName;
    if (from) {
      const placed = this.byNode.get(from);
      placed?.delete(key);
      if (placed?.size === 0) this.byNode.delete(from);
      this.lists.delete(from);
    }
    const to = after?.spec.nodeName;
    if (to) {
      let placed = this.byNode.get(to);
      if (!placed) this.byNode.set(to, (placed = new Map()));
      placed.set(key, { ...placementOf(after!), nodeName: to });
      this.lists.delete(to);
    }
  }
}
