import type Docker from "dockerode";
import type { Logger } from "../runtime/log.js";
import { nullLogger } from "../runtime/log.js";
import type { ErrorContext } from "./error-classification.js";
import type { DockerOperation } from "./errors.js";
import { ContainerNotFoundError } from "./errors.js";
import {
  IMAGE_ACTIONS,
  type EngineEvent,
  type EventSource,
  type EventStreamOptions,
  type ImageEvent,
  type StreamRestartedEvent,
  streamEngineEvents,
  streamEvents,
  toImageEvent,
} from "./events.js";
import { collectExecOutput, execExitCode } from "./exec.js";
import { demuxLogs } from "./logs.js";
import { type DockerObserver, prometheusDockerObserver } from "./metrics.js";
import {
  labelFilters,
  managedLabels,
  toContainerInfo,
  toContainerSummary,
  toCreateOptions,
} from "./conversions.js";
import {
  type ContainerInfo,
  type ContainerSpec,
  type ContainerSummary,
  type ImageInfo,
  type ImageSummary,
  MANAGED_BY_VALUE,
} from "./types.js";
import { LABELS } from "../api/vocabulary.js";
import { runEngineCall } from "./engine-call.js";
import type { SystemCalls } from "./engine-client.js";
import { dockerodeFor, toEngineInfo, toEngineVersion } from "./engine-client.js";
import { ImageCalls, checkImageReference } from "./image-calls.js";
import {
  type BuildOptions,
  type CallOptions,
  DEFAULT_DOCKER_TIMEOUTS,
  type DockerEngineOptions,
  type DockerTimeouts,
  type EngineInfo,
  type EngineVersion,
  type ExecResult,
  type PullOptions,
  type RegistryAuth,
} from "./options.js";

/**
 * The one place Berth talks to a Docker engine. Every call has a deadline (a hung engine
 * must not hang a reconcile), is reported to the observer, and fails with a DockerError
 * whose `reason` says what went wrong in terms a person can act on. The image calls are
 * made in image-calls.ts, through the same `run`.
 */
export class DockerEngine {
  readonly url: string;
  private readonly docker: Docker;
  private readonly timeouts: DockerTimeouts;
  private readonly observer: DockerObserver;
  private readonly logger: Logger;
  private readonly system: SystemCalls;
  private readonly images: ImageCalls;

  constructor(options: DockerEngineOptions) {
    this.url = options.url;
    this.timeouts = { ...DEFAULT_DOCKER_TIMEOUTS, ...options.timeouts };
    this.observer = options.observer ?? prometheusDockerObserver;
    this.logger = options.logger ?? nullLogger;
    this.docker = dockerodeFor(options.url, options.tls);
    this.system = this.docker as unknown as SystemCalls;
    this.images = new ImageCalls({
      docker: this.docker,
      timeouts: this.timeouts,
      run: (operation, context, timeoutMs, call, fn) => this.run(operation, context, timeoutMs, call, fn),
    });
  }

  async ping(call?: CallOptions): Promise<void> {
    await this.run("ping", {}, this.timeouts.requestMs, call, (abortSignal) =>
      this.system.ping({ abortSignal }),
    );
  }

  async version(call?: CallOptions): Promise<EngineVersion> {
    const version = await this.run("version", {}, this.timeouts.requestMs, call, (abortSignal) =>
      this.system.version({ abortSignal }),
    );
    return toEngineVersion(version);
  }

  async info(call?: CallOptions): Promise<EngineInfo> {
    const info = await this.run("info", {}, this.timeouts.requestMs, call, (abortSignal) =>
      this.system.info({ abortSignal }),
    );
    return toEngineInfo(info);
  }

  /** Throws ImageNotFoundError when the engine does not have the image. */
  inspectImage(image: string, call?: CallOptions): Promise<ImageInfo> {
    return this.images.inspect(image, call);
  }

  imageExists(image: string, call?: CallOptions): Promise<boolean> {
    return this.images.exists(image, call);
  }

  /**
   * Images whose labels include every one in `labels` (all images when empty), with their
   * tags, size and creation time. Intermediate images of builds are not listed.
   */
  listImages(labels: Record<string, string> = {}, call?: CallOptions): Promise<ImageSummary[]> {
    return this.images.list(labels, call);
  }

  /**
   * Removes one tag, or the image when given its id (never forced, so an image a container
   * still uses stays). Resolves "removed", "in-use" when a container uses it, or "gone" when
   * there was no such image.
   */
  removeImage(image: string, call?: CallOptions): Promise<"removed" | "in-use" | "gone"> {
    return this.images.remove(image, call);
  }

  /**
   * Pulls an image and resolves only when the pull has finished. Registry failures come
   * as ImageNotFoundError, RegistryAuthError, RegistryUnreachableError or ImagePullError.
   */
  pullImage(image: string, options: PullOptions = {}): Promise<ImageInfo> {
    return this.images.pull(image, options);
  }

  /**
   * Asks the image's registry, through the engine, whether these credentials (none when
   * `auth` is absent) may read the image, without pulling it: the engine's
   * GET /distribution/{name}/json. Resolves to the manifest digest the registry has; a
   * refusal throws RegistryAuthError (or ImageNotFoundError, as registries often answer a
   * repository the caller may not see), an unreachable registry RegistryUnreachableError.
   */
  inspectDistribution(image: string, options: CallOptions & { auth?: RegistryAuth } = {}): Promise<string> {
    return this.images.inspectDistribution(image, options);
  }

  /**
   * Builds an image with the engine's classic builder, streaming output lines to
   * onOutput. Resolves to the image id; a failed step throws BuildFailedError with the
   * step and the last lines of output.
   */
  buildImage(options: BuildOptions): Promise<string> {
    return this.images.build(options);
  }

  /** Creates (does not start) a container; resolves to its id. */
  async createContainer(spec: ContainerSpec, call?: CallOptions): Promise<string> {
    checkImageReference("create_container", spec.image);
    const options = toCreateOptions(spec);
    const hostPort = spec.ports?.find((port) => port.hostPort)?.hostPort;
    const context = { image: spec.image, container: spec.name, hostPort };
    const container = await this.run(
      "create_container",
      context,
      this.timeouts.requestMs,
      call,
      (abortSignal) => this.docker.createContainer({ ...options, abortSignal }),
    );
    return container.id;
  }

  /** Starts a container; a fixed host port that is taken fails here with PortInUseError. */
  async startContainer(id: string, call?: CallOptions): Promise<void> {
    await this.run(
      "start_container",
      { container: id },
      this.timeouts.requestMs,
      call,
      async (abortSignal) => {
        try {
          await this.docker.getContainer(id).start({ abortSignal });
        } catch (err) {
          if (statusCode(err) !== 304) throw err; // 304: already running, which is what we want
        }
      },
    );
  }

  /** Throws ContainerNotFoundError when there is no such container. */
  async inspectContainer(id: string, call?: CallOptions): Promise<ContainerInfo> {
    const inspect = await this.run(
      "inspect_container",
      { container: id },
      this.timeouts.requestMs,
      call,
      (abortSignal) => this.docker.getContainer(id).inspect({ abortSignal }),
    );
    return toContainerInfo(inspect);
  }

  /** Sends SIGTERM, then SIGKILL after graceSeconds. A stopped container is fine. */
  async stopContainer(id: string, graceSeconds: number, call?: CallOptions): Promise<void> {
    const timeoutMs = call?.timeoutMs ?? graceSeconds * 1000 + this.timeouts.stopMarginMs;
    await this.run("stop_container", { container: id }, timeoutMs, call, async (abortSignal) => {
      try {
        await this.docker.getContainer(id).stop({ t: graceSeconds, abortSignal });
      } catch (err) {
        if (statusCode(err) !== 304) throw err; // 304: already stopped
      }
    });
  }

  /**
   * Removes a container (force: even a running one). Resolves true when it removed it,
   * false when there was no such container: either way it is gone.
   */
  async removeContainer(id: string, options: CallOptions & { force?: boolean } = {}): Promise<boolean> {
    try {
      await this.run("remove_container", { container: id }, this.timeouts.requestMs, options, (abortSignal) =>
        this.docker.getContainer(id).remove({ force: options.force ?? false, v: true, abortSignal }),
      );
      return true;
    } catch (err) {
      if (err instanceof ContainerNotFoundError) return false;
      throw err;
    }
  }

  /** The last `tail` lines a container wrote to stdout and stderr, as text. */
  async containerLogs(id: string, tail: number, call?: CallOptions): Promise<string> {
    const buffer = await this.run(
      "container_logs",
      { container: id },
      this.timeouts.requestMs,
      call,
      (abortSignal) =>
        this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, tail, abortSignal }),
    );
    return demuxLogs(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer)));
  }

  /**
   * Containers (running or not) carrying berth.dev/managed-by=berth and every label in
   * `labels`. Containers without Berth's label are never returned.
   */
  async listContainers(labels: Record<string, string> = {}, call?: CallOptions): Promise<ContainerSummary[]> {
    const wanted = managedLabels(labels);
    const listed = await this.run("list_containers", {}, this.timeouts.requestMs, call, (abortSignal) =>
      this.docker.listContainers({ all: true, filters: { label: labelFilters(wanted) }, abortSignal }),
    );
    return listed
      .map(toContainerSummary)
      .filter(
        (container) =>
          container.labels[LABELS.managedBy] === MANAGED_BY_VALUE &&
          Object.entries(wanted).every(([key, value]) => container.labels[key] === value),
      );
  }

  /**
   * Runs a command in a running container and waits for it to end. On timeout the call
   * fails with DockerTimeoutError; the engine cannot kill an exec, so the command may
   * keep running in the container.
   */
  async exec(id: string, command: string[], call?: CallOptions): Promise<ExecResult> {
    const timeoutMs = call?.timeoutMs ?? this.timeouts.execMs;
    return this.run("exec", { container: id }, timeoutMs, call, async (abortSignal) => {
      const exec = await this.docker
        .getContainer(id)
        .exec({ Cmd: command, AttachStdout: true, AttachStderr: true, abortSignal });
      const stream = await exec.start({ hijack: true, stdin: false, abortSignal });
      const output = await collectExecOutput(this.docker, stream, abortSignal);
      return { exitCode: await execExitCode(exec, abortSignal), output };
    });
  }

  /**
   * Container start/die/destroy/oom events of Berth's containers, until the signal aborts.
   * The stream reconnects by itself; after a reconnect it yields {type: "stream-restarted"}
   * because events may have been missed: relist then.
   */
  events(options: EventStreamOptions): AsyncGenerator<EngineEvent> {
    return streamEngineEvents(
      this.eventSource({
        type: ["container"],
        event: ["start", "die", "destroy", "oom"],
        label: labelFilters(managedLabels()),
      }),
      options,
    );
  }

  /**
   * Image events that change which image a name stands for (IMAGE_ACTIONS), of every image,
   * until the signal aborts; reconnects like events().
   */
  imageEvents(options: EventStreamOptions): AsyncGenerator<ImageEvent | StreamRestartedEvent> {
    return streamEvents(
      this.eventSource({ type: ["image"], event: [...IMAGE_ACTIONS] }),
      options,
      toImageEvent,
    );
  }

  /** The engine's event stream with these filters, opened through the one call wrapper. */
  private eventSource(filters: Record<string, string[]>): EventSource {
    return {
      engineUrl: this.url,
      logger: this.logger,
      connect: (since, signal) =>
        this.run("events", {}, this.timeouts.requestMs, { signal }, (abortSignal) =>
          this.docker.getEvents({ since, filters, abortSignal }),
        ),
    };
  }

  /** One engine call with a deadline, metrics and error classification (engine-call.ts). */
  private async run<T>(
    operation: DockerOperation,
    context: Omit<ErrorContext, "operation" | "engineUrl">,
    timeoutMs: number,
    call: CallOptions | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const engine = { engineUrl: this.url, observer: this.observer };
    return await runEngineCall({ ...engine, operation, context, timeoutMs, call }, fn);
  }
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === "number" ? code : undefined;
}
