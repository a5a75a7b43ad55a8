import type { KubeObject } from "../kube/resources.js";
import type { EventRecorder, EventType } from "../runtime/events.js";

/** Keeps events in memory, for unit tests. */
export class RecordingEventRecorder implements EventRecorder {
  readonly events: Array<{ key: string; type: EventType; reason: string; message: string; action?: string }> =
    [];
  event(obj: KubeObject, type: EventType, reason: string, message: string, action?: string): void {
    const namespace = obj.metadata?.namespace;
    const key = namespace ? `${namespace}/${obj.metadata?.name ?? ""}` : (obj.metadata?.name ?? "");
    this.events.push({ key, type, reason, message, ...(action ? { action } : {}) });
  }
}
