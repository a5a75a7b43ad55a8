/**
 * Images built from a Definition's repository. The agent asks for the image of a repository
 * source; the builder resolves the ref to a commit, builds that commit through the Docker
 * module once, and hands back the same image to every replica and restart after that.
 *
 * An image is tagged berth-build/<namespace>/<definition>:<commit12>-<recipe8>: the commit,
 * and a short hash of what else decides the build (URL, containerFile, contextDir), so a
 * changed containerFile never reuses an image built from another one. A namespace and a
 * Definition name never hold a "/", so two namespaces never share a tag. The full build
 * output is kept in a log file under the state directory; errors carry its path.
 * Where the build reads from inside the checkout is build-files.ts's to decide; what an
 * image is called and where its log goes, built-images.ts's.
 */
import { access, mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { RepositorySource } from "../api/types.js";
import type { DockerEngine } from "../docker/engine.js";
import type { ImageInfo } from "../docker/types.js";
import { BuildFailedError as DockerBuildFailedError, ImageNotFoundError } from "../docker/errors.js";
import type { Logger } from "../runtime/log.js";
import type { BuildLog } from "./build-log.js";
import { WRITE_NO_FOLLOW, openBuildLog } from "./build-log.js";
import { DEFAULT_CONTAINER_FILE, locateBuildFiles } from "./build-files.js";
import { SOURCE_LABELS, buildLogPath, checkBuildNames, sourceImageTag } from "./built-images.js";
import { SharedBuilds } from "./shared-build.js";
import { SourceBuildError, SourceError } from "./errors.js";
import type { GitOptions } from "./git.js";
import { checkRepositoryAccess, checkoutCommit, resolveRepositoryCommit } from "./git.js";
import { checkRepositoryUrl } from "./repository-url.js";

/** The Docker calls a build needs; a DockerEngine has them. */
export type BuildEngine = Pick<DockerEngine, "buildImage" | "inspectImage">;

export interface SourceImageRequest {
  namespace: string;
  /** The Definition's name (slug). */
  definition: string;
  repository: RepositorySource;
  /**
   * The commit to build, when the caller resolved the ref already (so that the image
   * matches the deploymentId computed from it). Resolved from repository.ref when absent.
   */
  commit?: string;
  /**
   * Cancels this caller's wait for the build; the build itself (git, then the engine's
   * build) is cancelled when every caller waiting for it has cancelled.
   */
  signal?: AbortSignal;
}

export interface SourceBuildDeps {
  docker: BuildEngine;
  /** Where repository mirrors, checkouts (while building) and build logs are kept. */
  stateDir: string;
  logger?: Logger;
  /** git settings, file:// repositories allowed among them; stateDir is never readable through file://. */
  git?: Omit<GitOptions, "cacheDir">;
  /** Limit for one build; the Docker module's default when absent. */
  buildTimeoutMs?: number;
  /** Most bytes one build log keeps (its start and its end); build-log.ts's default when absent. */
  maxBuildLogBytes?: number;
  /** Labels every built image carries besides SOURCE_LABELS (the installation's, so its garbage collection knows them). */
  imageLabels?: Record<string, string>;
}

export interface SourceImage {
  /** The image reference to run. */
  image: string;
  imageId: string;
  commit: string;
  /** repository.port, or the single TCP port the image EXPOSEs. */
  port: number;
  /** The full build log. */
  logPath: string;
  /** True when the image was already there and nothing was built. */
  reused: boolean;
}

/** A commit a caller hands in: the full id, never an abbreviation. */
const FULL_COMMIT = /^[0-9a-f]{40}$/;
/** How the engine says a build step ran out of disk (ENOSPC, as the kernel words it). */
const DISK_FULL = /no space left on device/i;
/** Builds under way, per engine and image tag: concurrent requests share one. */
const buildsInFlight = new WeakMap<BuildEngine, SharedBuilds<Omit<SourceImage, "reused">>>();

/**
 * The image for a repository source: built once per commit (and recipe), reused after that.
 * Throws SourceError with reason RepositoryURLRefused, RepositoryUnreachable, RefNotFound,
 * ContainerFileMissing, BuildFailed (SourceBuildError), NoExposedPort or AmbiguousExposedPort;
 * Docker errors other than a failed build (an unreachable engine, say) pass through.
 */
export async function ensureSourceImage(
  request: SourceImageRequest,
  deps: SourceBuildDeps,
): Promise<SourceImage> {
  const { namespace, definition, repository } = request;
  checkBuildNames(namespace, definition);
  const policy = deps.git?.fileRepositories;
  const gitOptions: GitOptions = {
    ...deps.git,
    cacheDir: join(deps.stateDir, "git"),
    fileRepositories: {
      allowed: policy?.allowed ?? [],
      refused: [...(policy?.refused ?? []), deps.stateDir],
    },
  };
  // Before anything else, also before an image built earlier is handed out: the operator may
  // have taken a directory off the allowed list since.
  await checkRepositoryAccess(repository.url, gitOptions);
  const commit = request.commit
    ? checkCommit(request.commit)
    : await resolveRepositoryCommit(repository, gitOptions);
  const tag = sourceImageTag(namespace, definition, repository, commit);
  const logPath = buildLogPath(deps.stateDir, namespace, definition, tag);

  const existing = await inspectIfPresent(deps.docker, tag);
  if (existing) {
    await noteReuseInLog(logPath, tag).catch((err: unknown) =>
      deps.logger?.warn("writing the build log failed", { logPath, error: String(err) }),
    );
    return {
      image: tag,
      imageId: existing.id,
      commit,
      port: servicePort(repository, existing, tag),
      logPath,
      reused: true,
    };
  }

  let perEngine = buildsInFlight.get(deps.docker);
  if (!perEngine) {
    perEngine = new SharedBuilds();
    buildsInFlight.set(deps.docker, perEngine);
  }
  const built = await perEngine.join(tag, request.signal, (signal) =>
    buildFromSource({ ...request, commit }, tag, logPath, { ...gitOptions, signal }, deps),
  );
  return { ...built, reused: false };
}

function checkCommit(commit: string): string {
  const lower = commit.toLowerCase();
  if (!FULL_COMMIT.test(lower)) throw new Error(`commit must be a full 40-digit commit id, got "${commit}"`);
  return lower;
}

async function inspectIfPresent(docker: BuildEngine, image: string): Promise<ImageInfo | undefined> {
  try {
    return await docker.inspectImage(image);
  } catch (err) {
    if (err instanceof ImageNotFoundError) return undefined;
    throw err;
  }
}

async function buildFromSource(
  request: SourceImageRequest & { commit: string },
  tag: string,
  logPath: string,
  gitOptions: GitOptions,
  deps: SourceBuildDeps,
): Promise<Omit<SourceImage, "reused">> {
  const { repository, commit, namespace, definition } = request;
  const display = checkRepositoryUrl(repository.url).display;
  const log = deps.logger?.child({ namespace, definition, image: tag, commit });
  const checkout = await checkoutCommit(repository, commit, gitOptions);
  const buildLog = await openBuildLog(logPath, log, deps.maxBuildLogBytes);
  try {
    const { contextDir, containerFile } = await locateBuildFiles(checkout.dir, repository, commit);
    buildLog.write(`# building ${display} at commit ${commit}`);
    buildLog.write(
      `# containerFile ${repository.containerFile ?? DEFAULT_CONTAINER_FILE}, contextDir ${repository.contextDir ?? "."}`,
    );
    log?.info("building image from source", { url: display });
    const labels = {
      ...deps.imageLabels,
      [SOURCE_LABELS.commit]: commit,
      [SOURCE_LABELS.url]: display,
      [SOURCE_LABELS.namespace]: namespace,
      [SOURCE_LABELS.definition]: definition,
    };
    await buildImage(
      deps,
      { contextDir, containerFile, tag, labels, display, commit },
      buildLog,
      logPath,
      gitOptions.signal,
    );
    buildLog.write(`# built ${tag}`);
    log?.info("image built from source", { logPath });
  } finally {
    await buildLog.close();
    await checkout
      .remove()
      .catch((err: unknown) =>
        log?.warn("removing a checkout failed", { dir: checkout.dir, error: String(err) }),
      );
  }
  const image = await deps.docker.inspectImage(tag);
  return { image: tag, imageId: image.id, commit, port: servicePort(repository, image, tag), logPath };
}

/**
 * The engine's build of a located context; a failed step becomes a SourceBuildError that
 * names the step and the full log.
 */
async function buildImage(
  deps: SourceBuildDeps,
  build: {
    contextDir: string;
    containerFile: string;
    tag: string;
    labels: Record<string, string>;
    display: string;
    commit: string;
  },
  buildLog: BuildLog,
  logPath: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { display, commit } = build;
  try {
    const buildOptions: Parameters<BuildEngine["buildImage"]>[0] = {
      context: build.contextDir,
      containerFile: build.containerFile,
      tags: [build.tag],
      labels: build.labels,
      onOutput: (line) => buildLog.write(line),
      ...(signal ? { signal } : {}),
    };
    if (deps.buildTimeoutMs !== undefined) buildOptions.timeoutMs = deps.buildTimeoutMs;
    await deps.docker.buildImage(buildOptions);
  } catch (err) {
    if (err instanceof DockerBuildFailedError) {
      buildLog.write(`# build failed: ${err.engineMessage}`);
      const where = err.step ? ` at "${err.step}"` : "";
      const diskFull = DISK_FULL.test(err.engineMessage);
      const advice = diskFull ? "; the engine's disk is full: retried once it has room" : "";
      throw new SourceBuildError(
        `building ${display} at commit ${commit.slice(0, 12)} failed${where}: ${err.engineMessage}${advice} (full log: ${logPath})`,
        err.step,
        err.lastLines,
        logPath,
        { cause: err, reason: diskFull ? "BuildDiskFull" : "BuildFailed" },
      );
    }
    throw err;
  }
}

/** The port the service listens on: repository.port, else the single TCP port the image EXPOSEs. */
export function servicePort(
  repository: RepositorySource,
  image: Pick<ImageInfo, "exposedPorts">,
  tag: string,
): number {
  if (repository.port !== undefined) return repository.port;
  const tcp = [...new Set(image.exposedPorts.filter((p) => p.protocol === "tcp").map((p) => p.port))].sort(
    (a, b) => a - b,
  );
  if (tcp.length === 1 && tcp[0] !== undefined) return tcp[0];
  if (tcp.length === 0) {
    throw new SourceError(
      "NoExposedPort",
      `image ${tag} EXPOSEs no TCP port and repository.port is not set: add EXPOSE <port> to the containerFile or set repository.port`,
    );
  }
  throw new SourceError(
    "AmbiguousExposedPort",
    `image ${tag} EXPOSEs several TCP ports (${tcp.join(", ")}) and repository.port is not set: set repository.port to the one the service listens on`,
  );
}

/** An image found in the engine was built earlier, maybe by another process: say so when no log exists. */
async function noteReuseInLog(path: string, tag: string): Promise<void> {
  try {
    await access(path);
  } catch {
    await mkdir(dirname(path), { recursive: true });
    const stream = (await open(path, WRITE_NO_FOLLOW, 0o644)).createWriteStream();
    await new Promise<void>((done, fail) => {
      stream.on("error", fail);
      stream.end(
        `# image ${tag} was found in the Docker engine; it was built before this log was kept\n`,
        () => done(),
      );
    });
  }
}
