/**
 * An informer that only collects the handlers added to it, so a test plays the events
 * itself by calling them (for code that listens to an informer and never reads its cache).
 */
import type { KubeObject } from "../kube/resources.js";
import type { EventHandlers, Informer } from "../runtime/informer.js";

export function fakeInformer<T extends KubeObject>(): {
  informer: Informer<T>;
  handlers: Array<EventHandlers<T>>;
} {
  const handlers: Array<EventHandlers<T>> = [];
  return {
    informer: { addHandler: (h: EventHandlers<T>) => handlers.push(h) } as unknown as Informer<T>,
    handlers,
  };
}
