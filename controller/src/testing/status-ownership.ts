/**
 * Server-side apply's field ownership on a status, for the in-memory API server, as far as
 * Berth's statuses need it: each top-level field, and each condition by type (conditions are
 * a listType=map list keyed by type). An apply sets what it names, takes those fields over
 * from other managers (Berth's writers apply with force), and removes what the same manager
 * applied before and names no more unless another manager owns it too. Merge-patch writes
 * own nothing here, so an apply never removes what they wrote. The finer grain of the real
 * server (each field inside a condition) is tested against the real one.
 */
type Status = Record<string, unknown>;
interface ConditionLike {
  type: string;
}

function pathsOf(status: Status): Set<string> {
  const paths = new Set<string>();
  for (const key of Object.keys(status)) if (key !== "conditions") paths.add(`field:${key}`);
  for (const condition of conditionsOf(status)) paths.add(`condition:${condition.type}`);
  return paths;
}

function conditionsOf(status: Status | undefined): ConditionLike[] {
  const list = status?.conditions;
  return Array.isArray(list) ? (list as ConditionLike[]) : [];
}

export class StatusOwnership {
  /** Per object uid, per field manager: the paths it owns. */
  private readonly owners = new Map<string, Map<string, Set<string>>>();

  /** The status after `manager` applies `applied` to `current`. */
  apply(uid: string, manager: string, current: Status | undefined, applied: Status): Status {
    const managers = this.owners.get(uid) ?? new Map<string, Set<string>>();
    this.owners.set(uid, managers);
    const before = managers.get(manager) ?? new Set<string>();
    const now = pathsOf(applied);
    const ownedByOthers = (path: string): boolean =>
      [...managers].some(([name, paths]) => name !== manager && paths.has(path));
    const status: Status = structuredClone(current ?? {});
    let conditions = conditionsOf(status);
    for (const path of before) {
      if (now.has(path) || ownedByOthers(path)) continue;
      const [kind, name] = path.split(/:(.*)/s) as [string, string];
      if (kind === "field") delete status[name];
      else conditions = conditions.filter((condition) => condition.type !== name);
    }
    for (const [name, paths] of managers) if (name !== manager) for (const path of now) paths.delete(path);
    for (const [key, value] of Object.entries(applied)) {
      if (key !== "conditions") status[key] = structuredClone(value);
    }
    for (const condition of conditionsOf(applied)) {
      const index = conditions.findIndex((c) => c.type === condition.type);
      if (index === -1) conditions.push(structuredClone(condition));
      else conditions[index] = structuredClone(condition);
    }
    if (conditions.length > 0) status.conditions = conditions;
    else delete status.conditions;
    managers.set(manager, now);
    return status;
  }
}
