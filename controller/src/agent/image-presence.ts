/**
 * Which images the engine has, remembered between Instances: a burst of new Instances of
 * one image asks the engine once, not once each, while the engine is busiest (creating and
 * starting their containers). The record is only trusted while the engine's image event
 * stream is open: any image event (a removal, an untag, a tag moved, a pull, a load) and any
 * break of the stream clear it, and an answer that was asked for before such a change is not
 * kept. A container create that finds the image gone after all forgets it too, so its retry
 * pulls the image again.
 */
import type { DockerEngine } from "../docker/engine.js";
import { ImageNotFoundError } from "../docker/errors.js";
import type { ImageInfo } from "../docker/types.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { backgroundTask, type Runnable } from "../runtime/runnable.js";
import type { AgentDocker } from "./docker-port.js";

/** How long to wait before opening the image event stream again after it ended on its own. */
const RESTART_DELAY_MS = 1000;

export class ImagePresence {
  private readonly known = new Map<string, ImageInfo>();
  /** Counts the changes: an answer asked for before the latest one is not kept. */
  private changes = 0;
  private streamOpen = false;
  /** Inspects under way, by image name, with the count of changes when they were asked. */
  private readonly asking = new Map<string, { changes: number; answer: Promise<ImageInfo | undefined> }>();

  /**
   * The image as the engine has it (from the record while it holds), or undefined when it
   * has none. Instances that ask at the same moment (a burst of one image) share one inspect.
   */
  async find(
    docker: Pick<AgentDocker, "inspectImage">,
    name: string,
    signal: AbortSignal,
  ): Promise<ImageInfo | undefined> {
    const known = this.streamOpen ? this.known.get(name) : undefined;
    if (known) return known;
    let asking = this.asking.get(name);
    if (!asking || asking.changes !== this.changes) {
      const changes = this.changes;
      const answer = this.ask(docker, name, changes).finally(() => {
        if (this.asking.get(name)?.answer === answer) this.asking.delete(name);
      });
      asking = { changes, answer };
      this.asking.set(name, asking);
    }
    return await untilAborted(asking.answer, signal);
  }

  private async ask(
    docker: Pick<AgentDocker, "inspectImage">,
    name: string,
    changes: number,
  ): Promise<ImageInfo | undefined> {
    try {
      // Shared by every asker, so no one asker's cancellation ends it (the call has its timeout).
      const image = await docker.inspectImage(name);
      if (this.streamOpen && changes === this.changes) this.known.set(name, image);
      return image;
    } catch (err) {
      if (err instanceof ImageNotFoundError) return undefined;
      throw err;
    }
  }

  /** The engine did not find the image after all (a create said "No such image"). */
  forget(name: string): void {
    this.known.delete(name);
  }

  /** Something changed the engine's images, or changes may have gone unheard. */
  changed(): void {
    this.changes++;
    this.known.clear();
  }

  /** The image event stream is open (true) or broken (false). */
  streaming(open: boolean): void {
    this.changed();
    this.streamOpen = open;
  }

  get size(): number {
    return this.known.size;
  }
}

/** The promise's outcome, or the signal's reason once it aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(reasonOf(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("cancelled");
}

export interface ImagePresenceEventsOptions {
  docker: Pick<DockerEngine, "imageEvents">;
  presence: ImagePresence;
  clock: Clock;
  logger: Logger;
}

/** Keeps the record in line with the engine's image events for the agent's lifetime. */
export function imagePresenceEvents(options: ImagePresenceEventsOptions): Runnable {
  return backgroundTask("image-events", (signal) => followImageEvents(options, signal), options.logger);
}

async function followImageEvents(options: ImagePresenceEventsOptions, signal: AbortSignal): Promise<void> {
  const { docker, presence, clock, logger } = options;
  while (!signal.aborted) {
    try {
      const events = docker.imageEvents({
        signal,
        onConnected: () => presence.streaming(true),
        onBroken: () => presence.streaming(false),
      });
      for await (const event of events) {
        void event;
        presence.changed();
      }
    } catch (err) {
      if (signal.aborted) break;
      logger.warn("docker image event stream failed", errorFields(err));
    }
    presence.streaming(false);
    if (!signal.aborted) await clock.sleep(RESTART_DELAY_MS, signal).catch(() => undefined);
  }
  presence.streaming(false);
}
