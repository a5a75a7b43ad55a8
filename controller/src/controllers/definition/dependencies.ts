/**
 * dependsOn between Definitions of one namespace: which dependencies are missing, whether
 * the Definition sits on (or leads into) a cycle, and which are not ready yet. A Definition
 * starts no Instance until every dependency has at least one ready Instance; a missing
 * dependency or a cycle is reported in conditions and Events and waits for a spec change.
 */
import { compareStrings } from "./deployment-id.js";

/**
 * Definition name -> the names it depends on, for one namespace: only looked up, never
 * walked whole, so a view over the cache answers it without copying the namespace.
 */
export type DependencyGraph = Pick<ReadonlyMap<string, readonly string[]>, "get" | "has">;

export interface DependencyCheck {
  /** Dependencies named in dependsOn that do not exist, sorted. */
  missing: string[];
  /** A cycle reachable from the Definition, as a path that ends where it starts (a -> b -> a). */
  cycle?: string[];
  /** Existing dependencies without a ready Instance, sorted. */
  notReady: string[];
}

export function checkDependencies(
  name: string,
  graph: DependencyGraph,
  hasReadyInstance: (definition: string) => boolean,
): DependencyCheck {
  const direct = [...new Set(graph.get(name) ?? [])].sort(compareStrings);
  const check: DependencyCheck = {
    missing: direct.filter((dep) => !graph.has(dep)),
    notReady: direct.filter((dep) => graph.has(dep) && !hasReadyInstance(dep)),
  };
  const cycle = findCycle(name, graph);
  if (cycle) check.cycle = cycle;
  return check;
}

/** True when nothing stops the Definition's Instances from starting. */
export function dependenciesSatisfied(check: DependencyCheck): boolean {
  return check.missing.length === 0 && check.cycle === undefined && check.notReady.length === 0;
}

/**
 * The first cycle found by a depth-first walk from `start` (neighbours in name order, so the
 * answer is deterministic), or undefined.
 */
export function findCycle(start: string, graph: DependencyGraph): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (node: string): string[] | undefined => {
    if (onPath.has(node)) return [...path.slice(path.indexOf(node)), node];
    if (done.has(node)) return undefined;
    path.push(node);
    onPath.add(node);
    for (const next of [...new Set(graph.get(node) ?? [])].sort(compareStrings)) {
      const found = visit(next);
      if (found) return found;
    }
    path.pop();
    onPath.delete(node);
    done.add(node);
    return undefined;
  };
  return visit(start);
}
