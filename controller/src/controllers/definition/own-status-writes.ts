/**
 * Which changes of a Definition are news to its own pass. A pass reads the Definition's
 * metadata and spec, and of its status only what this controller writes itself; the pass
 * that wrote a status went on from what it wrote (and status-write.ts keeps its last write
 * while the cache lags). So two kinds of update wake no pass:
 * - the watch event of this controller's own status write: the cache moves from the
 *   version the write went over to one that shows the part it applied, and nothing else
 *   differs (as the agent counts its own writes, agent/instance-status-writer.ts; a server-
 *   side apply has no precondition, so the version it makes is matched by content, which
 *   also holds when the event comes before the answer). A change by anyone else, or one a
 *   relist folded into a write of ours, does not count;
 * - a change of nothing but discovery's Published condition, which no pass reads.
 * Every other change (spec, labels, annotations, finalizers, deletion, anyone's write to
 * the status this controller owns) still wakes one.
 */
import { isDeepStrictEqual } from "node:util";
import type { Definition, DefinitionStatus } from "../../api/types.js";
import { metadataApartFromVersion } from "../../kube/bookkeeping.js";
import { objectKey } from "../../runtime/informer.js";
import { PendingWrites } from "../../runtime/pending-writes.js";
import { ALL_FIELDS, partWritten } from "../../runtime/status-apply.js";
import { PUBLISHED_CONDITION } from "../discovery/definition-changes.js";

/** Own writes whose watch event has not come yet, per Definition; a relist may skip some, so few are kept. */
const OWN_WRITES_KEPT = 4;

export class OwnStatusWrites {
  /** Each status write's whole part, under the version it goes over. */
  private readonly writes = new PendingWrites<DefinitionStatus>(OWN_WRITES_KEPT);

  /**
   * Records, before it is sent, a status write of this controller's over `base` (the watch
   * event can come before the answer): `status` is the whole part it applies.
   */
  writing(base: Definition, status: DefinitionStatus): void {
    const version = base.metadata.resourceVersion;
    if (version) this.writes.add(objectKey(base), version, status);
  }

  /** Whether the cache's change from `before` to `after` can change what a pass does. */
  passNeeded(before: Definition, after: Definition): boolean {
    if (this.isOwnWrite(before, after)) return false;
    return !isDeepStrictEqual(withoutPublished(before), withoutPublished(after));
  }

  forget(key: string): void {
    this.writes.forget(key);
  }

  /**
   * Exactly one status write of this controller's, over `before`: nothing but status
   * differs, `after` shows the part it applied, and every condition of another writer's is
   * as it was.
   */
  private isOwnWrite(before: Definition, after: Definition): boolean {
    const status = this.writes.take(objectKey(after), before.metadata.resourceVersion);
    if (!status) return false;
    const own = new Set((status.conditions ?? []).map((condition) => condition.type));
    const othersConditions = (definition: Definition): unknown =>
      (definition.status?.conditions ?? []).filter((condition) => !own.has(condition.type));
    return (
      isDeepStrictEqual(apartFromStatus(before), apartFromStatus(after)) &&
      partWritten(after.status, status, ALL_FIELDS) &&
      isDeepStrictEqual(othersConditions(before), othersConditions(after))
    );
  }
}

/** The Definition but its bookkeeping and its status. */
function apartFromStatus(definition: Definition): unknown {
  return { metadata: metadataApartFromVersion(definition), spec: definition.spec };
}

/** The Definition but its bookkeeping and discovery's condition. */
function withoutPublished(definition: Definition): unknown {
  const status = definition.status;
  return {
    metadata: metadataApartFromVersion(definition),
    spec: definition.spec,
    status: status && {
      ...status,
      conditions: status.conditions?.filter((condition) => condition.type !== PUBLISHED_CONDITION),
    },
  };
}
