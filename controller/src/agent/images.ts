/**
 * The image an Instance's container runs: pulled for an image template (with the registry
 * credentials of its pullSecret), built from source for a repository template. Builds go
 * through the source module, which builds each commit once per engine and shares a build
 * under way between the replicas that ask for it.
 *
 * A build that fails for a reason the same commit will always give (a failing step, a
 * missing containerFile, no usable EXPOSE) is remembered (build-failures.ts, kept in the
 * state directory), so restarts and replicas of that commit, and an agent that restarted,
 * fail at once instead of building it again; a new commit or recipe is a new Instance (its
 * deploymentId changes) and builds afresh.
 */
import type { ImageSource, Instance, RepositorySource } from "../api/types.js";
import { ImageNotFoundError, RegistryAuthError } from "../docker/errors.js";
import type { RegistryAuth } from "../docker/options.js";
import { imageReferenceProblem } from "../docker/reference.js";
import type { EventRecorder } from "../runtime/events.js";
import type { SourceImage, SourceImageRequest } from "../source/builder.js";
import { SourceBuildError, SourceError } from "../source/errors.js";
import { redactUrl } from "../source/repository-url.js";
import { registryHostOf } from "../source/registry-auth.js";
import { sourceImageTag } from "../source/built-images.js";
import type { ResolvedImage } from "./container-request.js";
import { ContainerConfigError, runSourceOf, templateOf } from "./container-request.js";
import type { AgentDocker } from "./docker-port.js";
import { REASONS } from "./instance-status.js";
import { BuildFailures } from "./build-failures.js";
import { PrivateImages } from "./private-images.js";
import { ImagePresence } from "./image-presence.js";

/** Builds (or finds) the image of a repository source; the source module's ensureSourceImage. */
export type BuildSourceImage = (request: SourceImageRequest) => Promise<SourceImage>;

/** A step the Instance's status shows while it runs. */
export interface ImageStep {
  phase: "Pulling" | "Building";
  reason: string;
  message: string;
}

/** Shows a step in the Instance's status (written by the reconcile pass that looks next). */
export type ReportStep = (step: ImageStep) => void;

/** Waits for one of the node's pull/build slots; the returned function gives it back. */
export type TakeSlot = () => Promise<() => void>;

export interface InstanceImagesOptions {
  docker: Pick<AgentDocker, "imageExists" | "inspectImage" | "pullImage" | "inspectDistribution">;
  events: EventRecorder;
  nodeName: string;
  buildSourceImage: BuildSourceImage;
  /** Images this node pulled with credentials; in memory only when absent. */
  privateImages?: PrivateImages;
  /** Builds that failed for good; in memory only when absent. */
  buildFailures?: BuildFailures;
  /** Which images the engine has; when absent (no image event stream), the engine is asked each time. */
  presence?: ImagePresence;
}

/** Source failures the same commit gives every time: retried only when the Instance changes. */
export const FINAL_SOURCE_REASONS: ReadonlySet<string> = new Set([
  "BuildFailed",
  "ContainerFileMissing",
  "NoExposedPort",
  "AmbiguousExposedPort",
  "RepositoryURLRefused",
  "InvalidBuildName",
  "RepositoryTooLarge",
]);

/** Lines of build output a failure's message carries; the full log stays on the node. */
const BUILD_LINES_IN_MESSAGE = 10;
const LINE_LIMIT = 200;
const FULL_COMMIT = /^[0-9a-f]{40}$/;

export class InstanceImages {
  private readonly failedBuilds: BuildFailures;
  private readonly privateImages: PrivateImages;
  readonly presence: ImagePresence;

  constructor(private readonly options: InstanceImagesOptions) {
    this.privateImages = options.privateImages ?? new PrivateImages();
    this.failedBuilds = options.buildFailures ?? new BuildFailures();
    this.presence = options.presence ?? new ImagePresence();
  }

  /**
   * The image to run for the Instance, pulled or built as its template says; a pull uses
   * the credentials the controller delivered for the image's pullSecret.
   */
  async ensure(
    instance: Instance,
    report: ReportStep,
    signal: AbortSignal,
    pullAuth: () => RegistryAuth | undefined,
    slot: TakeSlot,
  ): Promise<ResolvedImage> {
    const source = runSourceOf(templateOf(instance));
    if (source.kind === "repository")
      return await this.build(instance, source.repository, report, signal, slot);
    const { docker, nodeName } = this.options;
    const image = { name: source.image.name, port: source.image.port };
    // The API server checks the grammar too; an Instance written before that check (or
    // past it) must still never reach the engine with a name that rewrites its API path.
    const problem = imageReferenceProblem(image.name);
    if (problem) {
      throw new ContainerConfigError(
        "InvalidImageName",
        `image.name ${JSON.stringify(image.name)}: ${problem}`,
      );
    }
    const policy = source.image.pullPolicy ?? "IfNotPresent";
    const cached = policy === "Always" ? undefined : await this.presence.find(docker, image.name, signal);
    if (cached) {
      await this.checkCachedImageAccess(instance, source.image, cached.id, pullAuth, signal);
      return image;
    }
    if (policy === "Never") {
      throw new ContainerConfigError(
        "ImageNotFound",
        `image ${image.name} is not on node ${nodeName} and its pullPolicy is Never: load it there or change pullPolicy`,
      );
    }
    // Credentials that could not be delivered fail now, before the pull is queued.
    const auth = pullAuth();
    report({
      phase: "Pulling",
      reason: REASONS.pulling,
      message: `pulling image ${image.name}`,
    });
    const release = await slot();
    try {
      const pulled = await docker.pullImage(image.name, { ...(auth ? { auth } : {}), signal });
      this.privateImages.pulled(pulled.id, registryHostOf(image.name), auth);
    } finally {
      this.presence.forget(image.name);
      release();
    }
    return image;
  }

  /**
   * A cached image that was pulled with credentials runs only for an Instance whose own
   * credentials (or none, for an image the registry now serves to anyone) the registry
   * accepts for it: otherwise IfNotPresent would hand one tenant's private image to any
   * other tenant on the same node. The registry is asked through the engine without pulling;
   * accepted credentials are remembered, so the same ones are not asked about again.
   */
  private async checkCachedImageAccess(
    instance: Instance,
    image: ImageSource,
    imageId: string,
    pullAuth: () => RegistryAuth | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const registry = this.privateImages.registryOf(imageId);
    if (registry === undefined) return; // built here, loaded by hand, or pulled without credentials
    const { docker, nodeName } = this.options;
    const namespace = instance.metadata.namespace ?? "";
    // The credentials the controller delivered for this Instance's pullSecret: the agent
    // reads no tenant's Secret itself. `{}` stands for none.
    const auth = (image.pullSecret ? pullAuth() : undefined) ?? {};
    if (this.privateImages.accepted(imageId, auth)) return;
    try {
      await docker.inspectDistribution(image.name, { ...(image.pullSecret ? { auth } : {}), signal });
    } catch (err) {
      if (!(err instanceof RegistryAuthError || err instanceof ImageNotFoundError)) throw err;
      const cachedCopy = `image ${image.name} is on node ${nodeName} from registry ${registry}, pulled with credentials`;
      throw image.pullSecret
        ? new ContainerConfigError(
            "ImagePullUnauthorized",
            `${cachedCopy}, and ${registry} refused this Instance's pull secret ${namespace}/${image.pullSecret} for it ` +
              `(${err.engineMessage}): the cached copy is not run for credentials that could not pull it`,
          )
        : new ContainerConfigError(
            "PullSecretRequired",
            `${cachedCopy}, and ${registry} does not serve it without credentials: ` +
              `set image.pullSecret to a Secret with credentials for ${registry} that may pull it`,
          );
    }
    this.privateImages.accept(imageId, auth);
  }

  private async build(
    instance: Instance,
    repository: RepositorySource,
    report: ReportStep,
    signal: AbortSignal,
    slot: TakeSlot,
  ): Promise<ResolvedImage> {
    const { docker, events, nodeName } = this.options;
    const namespace = instance.metadata.namespace ?? "";
    const definition = instance.spec.definition;
    // The controller pins the ref to a commit, so every replica builds the same one.
    const commit = pinnedCommitOf(repository);
    const failureKey = commit ? JSON.stringify([namespace, definition, repository]) : undefined;
    const failed = failureKey ? this.failedBuilds.get(failureKey) : undefined;
    if (failed) throw failed;

    const built = commit
      ? await docker.imageExists(sourceImageTag(namespace, definition, repository, commit), { signal })
      : false;
    let release: (() => void) | undefined;
    if (!built) {
      const what = `${redactUrl(repository.url)} at ${commit ? `commit ${commit.slice(0, 12)}` : (repository.ref ?? "its default branch")}`;
      report({
        phase: "Building",
        reason: REASONS.building,
        message: `building the image from ${what}`,
      });
      release = await slot();
      events.event(
        instance,
        "Normal",
        REASONS.building,
        `building the image from ${what} on node ${nodeName}`,
      );
    }
    try {
      const image = await this.options.buildSourceImage({
        namespace,
        definition,
        repository,
        ...(commit ? { commit } : {}),
        signal,
      });
      if (!image.reused) {
        events.event(
          instance,
          "Normal",
          "Built",
          `built image ${image.image} from commit ${image.commit.slice(0, 12)} (service port ${image.port})`,
        );
      }
      return { name: image.image, port: image.port };
    } catch (err) {
      if (failureKey && err instanceof SourceError && FINAL_SOURCE_REASONS.has(err.reason)) {
        this.failedBuilds.remember(failureKey, err);
      }
      throw err;
    } finally {
      release?.();
    }
  }
}

/** The commit a repository source is pinned to: its ref when that is a full commit id. */
export function pinnedCommitOf(repository: RepositorySource): string | undefined {
  const ref = repository.ref?.toLowerCase();
  return ref && FULL_COMMIT.test(ref) ? ref : undefined;
}

/** A failure's message for the Instance: a failed build's last lines of output included. */
export function failureMessage(err: Error): string {
  if (!(err instanceof SourceBuildError) || err.lastLines.length === 0) return err.message;
  const lines = err.lastLines
    .slice(-BUILD_LINES_IN_MESSAGE)
    // A long line keeps its end: that is where a compiler or a shell says what went wrong.
    .map((line) => (line.length <= LINE_LIMIT ? line : `…${line.slice(line.length - (LINE_LIMIT - 1))}`));
  return `${err.message}\nlast build output:\n${lines.join("\n")}`;
}
