/**
 * Discovery's own Published writes, until its cache shows them. A discovery pass woken
 * before the cache shows the Published condition it wrote a moment ago (by the Instance
 * or the Definition controller's status write) would see no such condition and apply the
 * same one again. So the last write per Definition is kept while the cache shows an older
 * version than it made (runtime/lagging-cache.ts), and a verdict it already says is not
 * written again.
 */
import type { Definition, DefinitionStatus } from "../../api/types.js";
import { getCondition } from "../../runtime/conditions.js";
import { objectKey } from "../../runtime/informer.js";
import { cacheLagsBehind, lastWriteOf, type LastWrite } from "../../runtime/lagging-cache.js";
import { PUBLISHED_CONDITION } from "./definition-changes.js";
import type { Verdict } from "./publishing-verdict.js";

export class PublishedWrites {
  private readonly writes = new Map<string, LastWrite<DefinitionStatus>>();

  /** Whether the last write says `verdict` and the cache has yet to show it. */
  saidAlready(definition: Definition, verdict: Verdict): boolean {
    const key = objectKey(definition);
    const last = this.writes.get(key);
    if (!last) return false;
    if (!cacheLagsBehind(definition, last)) {
      this.writes.delete(key);
      return false;
    }
    const said = getCondition(last.status?.conditions, PUBLISHED_CONDITION);
    return (
      said?.status === verdict.status && said.reason === verdict.reason && said.message === verdict.message
    );
  }

  /** The API server accepted a write over `before`, answering with `after`. */
  wrote(before: Definition, after: Definition, now: number): void {
    this.writes.set(objectKey(after), lastWriteOf(before, after, now));
  }

  forget(key: string): void {
    this.writes.delete(key);
  }
}
