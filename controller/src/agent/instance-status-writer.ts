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
    if (!updated || options.quiet) return updated ?? instance;
    for (const event of eventsForChange(instance.status, status)) {
      this.options.events.event(instance, event.type, event.reason, event.message);
    }
    return updated;
  }
}
