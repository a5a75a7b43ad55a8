/**
 * When a container this agent started counts as started. The engine's start only means the
 * init runs; the user's process may still fail to exec (see command-failure.ts). So the
 * "Started" Event waits until the container has run START_CHECK_MS, or passed its health
 * check, or exited with a code of its own; a container whose init could not exec the
 * command never gets one and fails with CommandFailedError instead.
 */
import type { Instance } from "../api/types.js";
import type { DockerEngine } from "../docker/engine.js";
import type { ContainerInfo } from "../docker/types.js";
import type { Clock } from "../runtime/clock.js";
import type { EventRecorder } from "../runtime/events.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import {
  CommandFailedError,
  LOG_TAIL_LINES,
  START_CHECK_MS,
  commandFailureOf,
  mayBeCommandFailure,
} from "./command-failure.js";
import { ranMsOf } from "./container-facts.js";
import { templateOf } from "./container-request.js";

export interface StartCheckOptions {
  docker: Pick<DockerEngine, "containerLogs">;
  events: EventRecorder;
  clock: Clock;
  nodeName: string;
}

export class StartCheck {
  /** Containers started by this process whose "Started" Event is still due, by Instance key. */
  private readonly pending = new Map<string, { containerId: string; startedAt: number }>();

  constructor(private readonly options: StartCheckOptions) {}

  /** The engine started the container just now. */
  started(key: string, containerId: string): void {
    this.pending.set(key, { containerId, startedAt: this.options.clock.now() });
  }

  /**
   * A running container: records "Started" when its time has come (or its check passed) and
   * returns 0, else how long until it has.
   */
  running(key: string, instance: Instance, container: ContainerInfo, passedCheck: boolean): number {
    const pending = this.pending.get(key);
    if (pending?.containerId !== container.id) return 0;
    const leftMs = pending.startedAt + START_CHECK_MS - this.options.clock.now();
    if (leftMs > 0 && !passedCheck) return leftMs;
    this.announce(key, instance, container);
    return 0;
  }

  /**
   * An exited container: throws CommandFailedError when its init could not exec the command
   * (exit 126 or 127 at once, in the init's words from the container's output); otherwise the
   * user's process did run, and a due "Started" is recorded.
   */
  async exited(
    key: string,
    instance: Instance,
    container: ContainerInfo,
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    if (mayBeCommandFailure(container.state.exitCode)) {
      const logText = await this.options.docker
        .containerLogs(container.id, LOG_TAIL_LINES, { signal })
        .catch((err: unknown) => {
          log.warn("could not read the container's output", errorFields(err));
          return "";
        });
      const ranMs = ranMsOf(container, this.options.clock.now());
      const failure = commandFailureOf(
        { exitCode: container.state.exitCode, ranMs, logText },
        templateOf(instance),
      );
      if (failure) {
        this.pending.delete(key);
        throw new CommandFailedError(failure, container.id);
      }
    }
    if (this.pending.get(key)?.containerId === container.id) this.announce(key, instance, container);
  }

  forget(key: string): void {
    this.pending.delete(key);
  }

  private announce(key: string, instance: Instance, container: ContainerInfo): void {
    this.pending.delete(key);
    this.options.events.event(
      instance,
      "Normal",
      "Started",
      `started container ${container.id.slice(0, 12)} from ${container.image} on node ${this.options.nodeName}`,
    );
  }
}
