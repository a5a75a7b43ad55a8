/** The image calls of DockerEngine (engine.ts): inspect, list, remove, pull, ask a registry, build. */
import type Docker from "dockerode";
import type { ErrorContext } from "./error-classification.js";
import type { DockerOperation } from "./errors.js";
import { DockerError, ImageNotFoundError, InvalidImageNameError } from "./errors.js";
import { buildRequest, toAuthConfig } from "./engine-client.js";
import { jsonLines } from "./json-lines.js";
import type { BuildOptions, CallOptions, DockerTimeouts, PullOptions, RegistryAuth } from "./options.js";
import { followBuild, followPull } from "./progress.js";
import { imagePathSegment, imageReferenceProblem } from "./reference.js";
import { labelFilters, toImageInfo, toImageSummary } from "./conversions.js";
import type { ImageInfo, ImageSummary } from "./types.js";

/** What the engine's calls share: the client, the deadlines, and the one way a call is run. */
export interface EngineConnection {
  readonly docker: Docker;
  readonly timeouts: DockerTimeouts;
  run<T>(
    operation: DockerOperation,
    context: Omit<ErrorContext, "operation" | "engineUrl">,
    timeoutMs: number,
    call: CallOptions | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T>;
}

/** Refuses, before any request, an image reference the distribution grammar does not allow. */
export function checkImageReference(operation: DockerOperation, image: string): void {
  const problem = imageReferenceProblem(image);
  if (problem) throw new InvalidImageNameError(operation, image, problem);
}

export class ImageCalls {
  constructor(private readonly engine: EngineConnection) {}

  async inspect(image: string, call?: CallOptions): Promise<ImageInfo> {
    checkImageReference("inspect_image", image);
    const inspect = await this.engine.run(
      "inspect_image",
      { image },
      this.engine.timeouts.requestMs,
      call,
      () => this.engine.docker.getImage(imagePathSegment(image)).inspect(),
    );
    return toImageInfo(inspect);
  }

  async exists(image: string, call?: CallOptions): Promise<boolean> {
    try {
      await this.inspect(image, call);
      return true;
    } catch (err) {
      if (err instanceof ImageNotFoundError) return false;
      throw err;
    }
  }

  async list(labels: Record<string, string>, call?: CallOptions): Promise<ImageSummary[]> {
    const filters = Object.keys(labels).length > 0 ? { label: labelFilters(labels) } : {};
    const listed = await this.engine.run(
      "list_images",
      {},
      this.engine.timeouts.requestMs,
      call,
      (abortSignal) => this.engine.docker.listImages({ filters, abortSignal } as Docker.ListImagesOptions),
    );
    return listed.map(toImageSummary);
  }

  async remove(image: string, call?: CallOptions): Promise<"removed" | "in-use" | "gone"> {
    try {
      await this.engine.run("remove_image", { image }, this.engine.timeouts.requestMs, call, (abortSignal) =>
        this.engine.docker.getImage(imagePathSegment(image)).remove({ abortSignal } as object),
      );
      return "removed";
    } catch (err) {
      if (err instanceof ImageNotFoundError) return "gone";
      if (err instanceof DockerError && /conflict|being used|is using|in use/i.test(err.engineMessage))
        return "in-use";
      throw err;
    }
  }

  async pull(image: string, options: PullOptions): Promise<ImageInfo> {
    checkImageReference("pull_image", image);
    const timeoutMs = options.timeoutMs ?? this.engine.timeouts.pullMs;
    await this.engine.run("pull_image", { image }, timeoutMs, options, async (abortSignal) => {
      const stream = await this.engine.docker.pull(image, {
        authconfig: toAuthConfig(options.auth),
        abortSignal,
      });
      await followPull(jsonLines(stream), options.onProgress);
    });
    return this.inspect(image, options);
  }

  async inspectDistribution(image: string, options: CallOptions & { auth?: RegistryAuth }): Promise<string> {
    const info = await this.engine.run(
      "inspect_distribution",
      { image },
      this.engine.timeouts.requestMs,
      options,
      () => this.engine.docker.getImage(image).distribution({ authconfig: toAuthConfig(options.auth) }),
    );
    return info.Descriptor.digest;
  }

  async build(options: BuildOptions): Promise<string> {
    const timeoutMs = options.timeoutMs ?? this.engine.timeouts.buildMs;
    const image = options.tags[0];
    for (const tag of options.tags) checkImageReference("build_image", tag);
    return this.engine.run("build_image", { image }, timeoutMs, options, async (abortSignal) => {
      const { context, query } = await buildRequest(options, abortSignal);
      const stream = await this.engine.docker.buildImage(context, query);
      return followBuild(jsonLines(stream), options.onOutput);
    });
  }
}
