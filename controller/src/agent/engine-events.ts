/**
 * The engine's event stream, as the agent uses it: a container event of this node and this
 * installation (or of none: unclaimed containers may be adopted) enqueues its Instance.
 * The stream is restarted until the agent stops; whatever it missed, a resync catches.
 */
import { LABELS } from "../api/vocabulary.js";
import type { DockerEngine } from "../docker/engine.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { backgroundTask, type Runnable } from "../runtime/runnable.js";
import { ownershipOf } from "./installation.js";

/** How long to wait before opening the stream again after it ended on its own. */
const RESTART_DELAY_MS = 1000;

export interface EngineEventsOptions {
  docker: Pick<DockerEngine, "events">;
  node: { nodeName: string; installation: string };
  /** Called with namespace/name of the Instance a container event is about. */
  enqueue: (key: string) => void;
  /** Whether a start event is of a start this agent made itself: it enqueues nothing (own-starts.ts). */
  isOwnStart?: (containerId: string) => boolean;
  /** Called when events may have been missed (the stream restarted). */
  onResync: () => void;
  clock: Clock;
  logger: Logger;
}

export function engineEvents(options: EngineEventsOptions): Runnable {
  return backgroundTask("engine-events", (signal) => watchEngineEvents(options, signal), options.logger);
}

async function watchEngineEvents(options: EngineEventsOptions, signal: AbortSignal): Promise<void> {
  const { docker, node, enqueue, onResync, clock, logger } = options;
  while (!signal.aborted) {
    try {
      for await (const event of docker.events({ signal, clock })) {
        if (event.type === "stream-restarted") {
          logger.info("docker event stream reconnected", { reason: event.error.reason });
          onResync();
          continue;
        }
        const namespace = event.labels[LABELS.namespace];
        const name = event.labels[LABELS.instance];
        const ours =
          event.labels[LABELS.node] === node.nodeName &&
          ownershipOf(event.labels, node.installation) !== "foreign";
        if (!ours || !namespace || !name) continue;
        if (event.action === "start" && options.isOwnStart?.(event.containerId)) continue;
        enqueue(`${namespace}/${name}`);
      }
    } catch (err) {
      if (signal.aborted) return;
      logger.warn("docker event stream failed", errorFields(err));
    }
    if (!signal.aborted) {
      // The stream ended without being asked to: whatever it missed, a resync catches.
      onResync();
      await clock.sleep(RESTART_DELAY_MS, signal);
    }
  }
}
