/**
 * Writes an Instance's status from an observation: the whole status is rebuilt
 * (instance-status.ts), written only when it changed, and a change that takes a condition
 * to a new problem reason is said once as an Event.
 */
import type { Instance } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { INSTANCES } from "../kube/resources.js";
import type { Clock } from "../runtime/clock.js";
import { StatusWriter } from "../runtime/conditions.js";
import { objectKey } from "../runtime/informer.js";
import type { EventRecorder } from "../runtime/events.js";
import type { Observed } from "./instance-status.js";
import { composeStatus, eventsForChange } from "./instance-status.js";

export interface InstanceStatusWriterOptions {
  client: KubeClient;
  events: EventRecorder;
  clock: Clock;
  nodeName: string;
}

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
    const updated = await this.writer.update(INSTANCES, instance, status);
    if (updated) this.remember(instance, updated);
    if (!updated || options.quiet) return updated ?? instance;
    for (const event of eventsForChange(instance.status, status)) {
      this.options.events.event(instance, event.type, event.reason, event.message);
    }
    return updated;
  }

  /**
   * Records a write of this agent's (a status, a finalizer) that turned `before` into `after`.
   * Writes made one over another chain back to the first one's base, which the cache shows.
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

  forget(key: string): void {
    this.written.delete(key);
  }
}
