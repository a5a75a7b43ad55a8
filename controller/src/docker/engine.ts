import { readdir } from "node:fs/promises";
import Docker from "dockerode";
import type { Logger } from "../runtime/log.js";
import { nullLogger } from "../runtime/log.js";
import type { DockerOperation, ErrorContext } from "./errors.js";
import {
  ContainerNotFoundError,
  DockerError,
  DockerTimeoutError,
  ImageNotFoundError,
  InvalidImageNameError,
  classifyDockerError,
} from "./errors.js";
import { type EngineEvent, type EventStreamOptions, streamEngineEvents } from "./events.js";
import { collectExecOutput, execExitCode } from "./exec.js";
import { jsonLines } from "./json-lines.js";
import { demuxLogs } from "./logs.js";
import { followBuild, followPull } from "./progress.js";
import { type DockerObserver, prometheusDockerObserver } from "./metrics.js";
import {
  type ContainerInfo,
  type ContainerSpec,
  type ContainerSummary,
  type ImageInfo,
  type ImageSummary,
  labelFilters,
  managedLabels,
  MANAGED_BY_VALUE,
  toContainerInfo,
  toContainerSummary,
  toCreateOptions,
  toImageInfo,
} from "./types.js";
import { LABELS } from "../api/vocabulary.js";
import { hasEngineTls } from "./tls.js";
import { parseEngineUrl } from "./url.js";
import { imagePathSegment, imageReferenceProblem } from "./reference.js";
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

// The option and result types live in options.ts; importers may take them from here.
export type {
  BuildOptions,
  CallOptions,
  DockerEngineOptions,
  DockerTimeouts,
  EngineInfo,
  EngineVersion,
  ExecResult,
  PullOptions,
  RegistryAuth,
} from "./options.js";
export { DEFAULT_DOCKER_TIMEOUTS } from "./options.js";

/**
 * The one place Berth talks to a Docker engine. Every call has a deadline (a hung engine
 * must not hang a reconcile), is reported to the observer, and fails with a DockerError
 * whose `reason` says what went wrong in terms a person can act on.
 */
export class DockerEngine {
  readonly url: string;
  private readonly docker: Docker;
  private readonly timeouts: DockerTimeouts;
  private readonly observer: DockerObserver;
  private readonly logger: Logger;
  private readonly system: SystemCalls;

  constructor(options: DockerEngineOptions) {
    this.url = options.url;
    this.timeouts = { ...DEFAULT_DOCKER_TIMEOUTS, ...options.timeouts };
    this.observer = options.observer ?? prometheusDockerObserver;
    this.logger = options.logger ?? nullLogger;
    const address = parseEngineUrl(options.url, { tls: hasEngineTls(options.tls) });
    // Every connection field is set, even to undefined: dockerode would otherwise fill
    // the gaps from DOCKER_HOST and friends, and talk to a different engine.
    this.docker = new Docker({
      socketPath: address.kind === "socket" ? address.socketPath : undefined,
      host: address.kind === "network" ? address.host : undefined,
      port: address.kind === "network" ? address.port : undefined,
      protocol: address.kind === "network" ? address.protocol : undefined,
      ca: options.tls?.ca,
      cert: options.tls?.cert,
      key: options.tls?.key,
      timeout: undefined,
    });
    this.system = this.docker as unknown as SystemCalls;
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
    return {
      version: version.Version,
      apiVersion: version.ApiVersion,
      os: version.Os,
      arch: version.Arch,
      kernelVersion: version.KernelVersion,
    };
  }

  async info(call?: CallOptions): Promise<EngineInfo> {
    const info = await this.run("info", {}, this.timeouts.requestMs, call, (abortSignal) =>
      this.system.info({ abortSignal }),
    );
    return {
      name: info.Name ?? "",
      cpus: info.NCPU ?? 0,
      memoryBytes: info.MemTotal ?? 0,
      containersRunning: info.ContainersRunning ?? 0,
      rootDir: info.DockerRootDir ?? "",
    };
  }

  /** Throws ImageNotFoundError when the engine does not have the image. */
  async inspectImage(image: string, call?: CallOptions): Promise<ImageInfo> {
    checkImageReference("inspect_image", image);
    const inspect = await this.run("inspect_image", { image }, this.timeouts.requestMs, call, () =>
      this.docker.getImage(imagePathSegment(image)).inspect(),
    );
    return toImageInfo(inspect);
  }

  async imageExists(image: string, call?: CallOptions): Promise<boolean> {
    try {
      await this.inspectImage(image, call);
      return true;
    } catch (err) {
      if (err instanceof ImageNotFoundError) return false;
      throw err;
    }
  }

  /**
   * Images whose labels include every one in `labels` (all images when empty), with their
   * tags, size and creation time. Intermediate images of builds are not listed.
   */
  async listImages(labels: Record<string, string> = {}, call?: CallOptions): Promise<ImageSummary[]> {
    const filters = Object.keys(labels).length > 0 ? { label: labelFilters(labels) } : {};
    const listed = await this.run("list_images", {}, this.timeouts.requestMs, call, (abortSignal) =>
      this.docker.listImages({ filters, abortSignal } as Docker.ListImagesOptions),
    );
    return listed.map((image) => ({
      id: image.Id,
      repoTags: (image.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>"),
      labels: image.Labels ?? {},
      sizeBytes: image.Size,
      createdAt: image.Created * 1000,
    }));
  }

  /**
   * Removes one tag, or the image when given its id (never forced, so an image a container
   * still uses stays). Resolves "removed", "in-use" when a container uses it, or "gone" when
   * there was no such image.
   */
  async removeImage(image: string, call?: CallOptions): Promise<"removed" | "in-use" | "gone"> {
    try {
      await this.run("remove_image", { image }, this.timeouts.requestMs, call, (abortSignal) =>
        this.docker.getImage(imagePathSegment(image)).remove({ abortSignal } as object),
      );
      return "removed";
    } catch (err) {
      if (err instanceof ImageNotFoundError) return "gone";
      if (err instanceof DockerError && /conflict|being used|is using|in use/i.test(err.engineMessage))
        return "in-use";
      throw err;
    }
  }

  /**
   * Pulls an image and resolves only when the pull has finished. Registry failures come
   * as ImageNotFoundError, RegistryAuthError, RegistryUnreachableError or ImagePullError.
   */
  async pullImage(image: string, options: PullOptions = {}): Promise<ImageInfo> {
    checkImageReference("pull_image", image);
    const timeoutMs = options.timeoutMs ?? this.timeouts.pullMs;
    await this.run("pull_image", { image }, timeoutMs, options, async (abortSignal) => {
      const stream = await this.docker.pull(image, { authconfig: toAuthConfig(options.auth), abortSignal });
      await followPull(jsonLines(stream), options.onProgress);
    });
    return this.inspectImage(image, options);
  }

  /**
   * Asks the image's registry, through the engine, whether these credentials (none when
   * `auth` is absent) may read the image, without pulling it: the engine's
   * GET /distribution/{name}/json. Resolves to the manifest digest the registry has; a
   * refusal throws RegistryAuthError (or ImageNotFoundError, as registries often answer a
   * repository the caller may not see), an unreachable registry RegistryUnreachableError.
   */
  async inspectDistribution(
    image: string,
    options: CallOptions & { auth?: RegistryAuth } = {},
  ): Promise<string> {
    const info = await this.run("inspect_distribution", { image }, this.timeouts.requestMs, options, () =>
      this.docker.getImage(image).distribution({ authconfig: toAuthConfig(options.auth) }),
    );
    return info.Descriptor.digest;
  }

  /**
   * Builds an image with the engine's classic builder, streaming output lines to
   * onOutput. Resolves to the image id; a failed step throws BuildFailedError with the
   * step and the last lines of output.
   */
  async buildImage(options: BuildOptions): Promise<string> {
    const timeoutMs = options.timeoutMs ?? this.timeouts.buildMs;
    const image = options.tags[0];
    for (const tag of options.tags) checkImageReference("build_image", tag);
    return this.run("build_image", { image }, timeoutMs, options, async (abortSignal) => {
      const context =
        typeof options.context === "string"
          ? { context: options.context, src: await readdir(options.context) }
          : options.context;
      const query: BuildQuery = {
        t: options.tags,
        dockerfile: options.containerFile ?? "Dockerfile",
        buildargs: options.buildArgs,
        labels: options.labels,
        rm: true,
        forcerm: true,
        abortSignal,
      };
      // The engine takes one `t` per tag; dockerode passes the array through, its types allow one.
      const stream = await this.docker.buildImage(context, query as unknown as Docker.ImageBuildOptions);
      return followBuild(jsonLines(stream), options.onOutput);
    });
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
      {
        engineUrl: this.url,
        logger: this.logger,
        connect: (since, signal) =>
          this.run("events", {}, this.timeouts.requestMs, { signal }, (abortSignal) =>
            this.docker.getEvents({
              since,
              filters: {
                type: ["container"],
                event: ["start", "die", "destroy", "oom"],
                label: labelFilters(managedLabels()),
              },
              abortSignal,
            }),
          ),
      },
      options,
    );
  }

  /**
   * Runs one engine call with a deadline, metrics and error classification. The race
   * with the deadline keeps the promise bounded even where the client ignores the signal.
   */
  private async run<T>(
    operation: DockerOperation,
    context: Omit<ErrorContext, "operation" | "engineUrl">,
    timeoutMs: number,
    call: CallOptions | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const started = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onCallerAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const timeout = new DockerTimeoutError(operation, this.url, timeoutMs);
        controller.abort(timeout);
        reject(timeout);
      }, timeoutMs);
      const callerSignal = call?.signal;
      if (callerSignal) {
        onCallerAbort = () => {
          controller.abort(callerSignal.reason);
          reject(callerSignal.reason);
        };
        if (callerSignal.aborted) onCallerAbort();
        else callerSignal.addEventListener("abort", onCallerAbort, { once: true });
      }
    });
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await Promise.race([fn(controller.signal), deadline]);
      this.observer.operationFinished(operation, seconds());
      return result;
    } catch (err) {
      if (call?.signal?.aborted) {
        // The caller gave up (shutdown, a newer reconcile): not the engine's failure.
        this.observer.operationFinished(operation, seconds());
        throw call.signal.reason;
      }
      const classified = classifyDockerError(err, { ...context, operation, engineUrl: this.url });
      this.observer.operationFinished(operation, seconds(), classified.reason);
      throw classified;
    } finally {
      clearTimeout(timer);
      if (onCallerAbort) call?.signal?.removeEventListener("abort", onCallerAbort);
    }
  }
}

/** dockerode takes {abortSignal} on these calls; its type definitions lag behind. */
interface SystemCalls {
  ping(options: { abortSignal: AbortSignal }): Promise<unknown>;
  version(options: { abortSignal: AbortSignal }): Promise<Docker.DockerVersion>;
  info(options: { abortSignal: AbortSignal }): Promise<{
    Name?: string;
    NCPU?: number;
    MemTotal?: number;
    ContainersRunning?: number;
    DockerRootDir?: string;
  }>;
}

/** Refuses, before any request, an image reference the distribution grammar does not allow. */
function checkImageReference(operation: DockerOperation, image: string): void {
  const problem = imageReferenceProblem(image);
  if (problem) throw new InvalidImageNameError(operation, image, problem);
}

type BuildQuery = Omit<Docker.ImageBuildOptions, "t"> & { t: string[] };

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

function toAuthConfig(auth: RegistryAuth | undefined): Docker.AuthConfig | undefined {
  if (!auth) return undefined;
  const config: Docker.AuthConfig & { identitytoken?: string } = {
    username: auth.username ?? "",
    password: auth.password ?? "",
    serveraddress: auth.serverAddress ?? "",
  };
  if (auth.identityToken) config.identitytoken = auth.identityToken;
  return config;
}
