/**
 * Writes an Instance's status from an observation: the whole status is rebuilt
 * (instance-status.ts), written only when it changed, and a change that takes a condition
 * to a new problem reason is said once as an Event.
 */
import { isDeepStrictEqual } from "node:util";
import type { Instance } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { jsonEqual } from "../kube/patch.js";
import { INSTANCES } from "../kube/resources.js";
import type { Clock } from "../runtime/clock.js";
import { StatusWriter } from "../runtime/conditions.js";
import { objectKey } from "../runtime/informer.js";
import type { EventRecorder } from "../runtime/events.js";
import { PendingWrites } from "../runtime/pending-writes.js";
import type { Observed } from "./instance-status.js";
import { composeStatus, eventsForChange } from "./instance-status.js";

export interface InstanceStatusWriterOptions {
  client: KubeClient;
  events: EventRecorder;
  clock: Clock;
  nodeName: string;
}

/**
 * What one of this agent's writes makes an Instance show: the whole status (a status write
 * over a precondition), or the finalizer list.
 */
export type OwnChange = { status: object } | { finalizers: string[] };

/** Own writes whose watch event has not come yet, per Instance; a relist may skip some, so few are kept. */
const OWN_WRITES_KEPT = 8;

export class InstanceStatusWriter {
  private readonly writer: StatusWriter;
  /**
   * Each Instance as this agent's last write left it, with every resourceVersion it went
   * through on the way (the one the first write went over, and those of the writes since):
   * until the cache shows the last write, a pass starts from it, not from the cache. From the
   * cache it would write the same change again, refused as a conflict; and a cache that
   * shows one of the writes in between is behind just the same (Scheduled then Running in
   * quick succession, the Scheduled write's event arriving after the Running write).
   */
  private readonly written = new Map<string, { behind: Set<string>; instance: Instance }>();
  /**
   * This agent's writes whose watch events are still to come, each recorded before it goes
   * out (its event can come before its answer). The pass that made a write goes on from what
   * it wrote (or returns when to look again), so the event of that write alone is no news to
   * it: passing it over saves a pass, and that pass's container list and inspect, per write.
   */
  private readonly ownWrites = new PendingWrites<OwnChange>(OWN_WRITES_KEPT);

  constructor(private readonly options: InstanceStatusWriterOptions) {
    this.writer = new StatusWriter(options.client);
  }

  /** Returns the Instance as written (unchanged when nothing needed writing). `quiet` records no Event. */
  async write(instance: Instance, observed: Observed, options: { quiet?: boolean } = {}): Promise<Instance> {
    const status = composeStatus(
      instance.status,
      observed,
      this.options.nodeName,
      instance.metadata.generation,
      this.options.clock.now(),
    );
    let withdraw = (): void => undefined;
    const sending = (shown: object): void => void (withdraw = this.writing(instance, { status: shown }));
    const updated = await this.writer
      .update(INSTANCES, instance, status, { sending })
      .catch((err: unknown) => {
        withdraw();
        throw err;
      });
    if (updated) this.remember(instance, updated);
    if (!updated || options.quiet) return updated ?? instance;
    for (const event of eventsForChange(instance.status, status)) {
      this.options.events.event(instance, event.type, event.reason, event.message);
    }
    return updated;
  }

  /**
   * Records, before it is sent, a write of this agent's over `before` that makes it show
   * `change`. Returns what withdraws the record, for a write that failed.
   */
  writing(before: Instance, change: OwnChange): () => void {
    const base = before.metadata.resourceVersion;
    if (!base) return () => undefined;
    return this.ownWrites.add(objectKey(before), base, change);
  }

  /**
   * Records the answer of a write of this agent's (a status, a finalizer) that turned `before`
   * into `after`. Writes made one over another chain back to the first one's base, which the
   * cache shows.
   */
  remember(before: Instance, after: Instance): void {
    const key = objectKey(before);
    const base = before.metadata.resourceVersion;
    if (!base) return;
    const prior = this.written.get(key);
    const behind =
      prior && prior.instance.metadata.resourceVersion === base ? prior.behind : new Set<string>();
    behind.add(base);
    this.written.set(key, { behind, instance: after });
  }

  /** The cached Instance, or this agent's own last write of it while the cache lags behind. */
  latest(key: string, cached: Instance | undefined): Instance | undefined {
    const written = this.written.get(key);
    if (!written) return cached;
    const version = cached?.metadata.resourceVersion;
    if (version !== undefined && written.behind.has(version)) return written.instance;
    this.written.delete(key);
    return cached;
  }

  /**
   * Whether the cache's change from `before` to `after` is exactly one write of this agent's:
   * a write went over `before`, `after` shows what it wrote, and nothing else differs. A
   * change by anyone else (a status the controller flipped, a spec, labels, a deletion), or
   * one a relist folded into a write of ours, is not.
   */
  isOwnWrite(before: Instance, after: Instance): boolean {
    const change = this.ownWrites.take(objectKey(after), before.metadata.resourceVersion);
    if (!change) return false;
    if ("status" in change)
      return jsonEqual(after.status, change.status) && alikeApartFrom(before, after, "status");
    return (
      jsonEqual(after.metadata.finalizers, change.finalizers) && alikeApartFrom(before, after, "finalizers")
    );
  }

  forget(key: string): void {
    this.written.delete(key);
    this.ownWrites.forget(key);
  }
}

/** Whether two versions of an Instance differ in nothing but `part` (and their bookkeeping). */
function alikeApartFrom(before: Instance, after: Instance, part: "status" | "finalizers"): boolean {
  return isDeepStrictEqual(comparable(before, part), comparable(after, part));
}

function comparable(instance: Instance, part: "status" | "finalizers"): unknown {
  // managedFields is not in Berth's ObjectMeta type, but the agent's caches keep it.
  const {
    resourceVersion: _version,
    managedFields: _fields,
    finalizers,
    ...metadata
  } = instance.metadata as Instance["metadata"] & { managedFields?: unknown };
  return {
    metadata: part === "finalizers" ? metadata : { ...metadata, finalizers },
    spec: instance.spec,
    status: part === "status" ? undefined : instance.status,
  };
}
