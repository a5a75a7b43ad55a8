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
   * Each Instance as this agent's last status write left it, with the resourceVersion it was
   * written over: until the cache shows the write, a pass starts from it, not from the cache
   * (from the cache it would write the same change again, refused as a conflict).
   */
  private readonly written = new Map<string, { over: string; instance: Instance }>();

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
    const over = prior && prior.instance.metadata.resourceVersion === base ? prior.over : base;
    this.written.set(key, { over, instance: after });
  }

  /** The cached Instance, or this agent's own last write of it while the cache lags behind. */
  latest(key: string, cached: Instance | undefined): Instance | undefined {
    const written = this.written.get(key);
    if (!written) return cached;
    if (cached?.metadata.resourceVersion === written.over) return written.instance;
    this.written.delete(key);
    return cached;
  }

  forget(key: string): void {
    this.written.delete(key);
  }
}
