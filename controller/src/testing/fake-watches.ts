/**
 * The fake API server's watch side: the log of every change, watchers that replay it from a
 * resourceVersion and then follow it, and delivery held back to play a lagging cache.
 */
import type { WatchEvent, WatchEventType, WatchHandle, WatchOptions } from "../kube/client.js";
import type { KubeObject } from "../kube/resources.js";
import { matchesFields, matchesLabels } from "./object-selection.js";

interface Watcher {
  kind: string;
  options: WatchOptions;
  deliver(event: WatchEvent<KubeObject>): void;
  end(err?: Error): void;
  stopped: boolean;
}

interface LoggedEvent {
  kind: string;
  rv: number;
  type: WatchEventType;
  object: KubeObject;
}

export class FakeWatches {
  private readonly log: LoggedEvent[] = [];
  private readonly watchers: Watcher[] = [];
  private held: Array<() => void> | undefined;
  private heldKinds: Set<string> | undefined;

  /** Events of these kinds (all when none are given) are queued, not delivered, until release(). */
  hold(kinds: string[]): void {
    this.held ??= [];
    this.heldKinds = kinds.length > 0 ? new Set(kinds) : undefined;
  }

  release(): void {
    const queued = this.held ?? [];
    this.held = undefined;
    this.heldKinds = undefined;
    for (const deliver of queued) deliver();
  }

  watch<T extends KubeObject>(
    kind: string,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    onDone: (err: Error | undefined) => void,
  ): WatchHandle {
    const watcher: Watcher = {
      kind,
      options,
      stopped: false,
      deliver: (event) => {
        if (!watcher.stopped) onEvent(structuredClone(event) as WatchEvent<T>);
      },
      end: (err) => {
        if (watcher.stopped) return;
        watcher.stopped = true;
        onDone(err);
      },
    };
    const since = Number(options.resourceVersion || "0");
    const backlog = this.log.filter((e) => e.kind === kind && e.rv > since && this.wants(watcher, e.object));
    this.watchers.push(watcher);
    for (const event of backlog) this.send(watcher, { type: event.type, object: event.object });
    return { stop: () => watcher.end() };
  }

  /** Records a change at resourceVersion `rv` and sends it to the watchers that want it. */
  emit(kind: string, rv: number, type: WatchEventType, obj: KubeObject): void {
    const event: LoggedEvent = { kind, rv, type, object: structuredClone(obj) };
    this.log.push(event);
    for (const watcher of this.watchers) {
      if (watcher.kind === event.kind && !watcher.stopped && this.wants(watcher, event.object)) {
        this.send(watcher, { type, object: event.object });
      }
    }
  }

  private wants(watcher: Watcher, obj: KubeObject): boolean {
    const { namespace, labelSelector, fieldSelector } = watcher.options;
    if (namespace && obj.metadata?.namespace && obj.metadata.namespace !== namespace) return false;
    return matchesLabels(obj, labelSelector) && matchesFields(obj, fieldSelector);
  }

  private send(watcher: Watcher, event: WatchEvent<KubeObject>): void {
    if (this.held && (!this.heldKinds || this.heldKinds.has(watcher.kind))) {
      this.held.push(() => watcher.deliver(event));
    } else watcher.deliver(event);
  }
}
