/**
 * Errors from building a Definition's image from source and from reading pull secrets,
 * each with a `reason`: a CamelCase word fit for an Instance condition or an Event. The
 * message says what went wrong and what to do, for a person; it never carries a secret.
 */

export const SOURCE_ERROR_REASONS = [
  /**
   * The URL's scheme is not https, ssh (or user@host:path) or file, the URL is malformed or
   * holds credentials, or a file:// URL points outside the directories the operator allowed.
   */
  "RepositoryURLRefused",
  /** git could not reach or read the repository. */
  "RepositoryUnreachable",
  /** The branch, tag or commit does not exist in the repository. */
  "RefNotFound",
  /** The repository's mirror or a checkout of it grew past the agent's --max-repository-size. */
  "RepositoryTooLarge",
  /** The containerFile or the contextDir is not in the repository at that commit. */
  "ContainerFileMissing",
  /** A build step failed; `step` names it when the engine said which. */
  "BuildFailed",
  /**
   * A build step failed because the disk the engine builds on is full: the machine's fault,
   * not the commit's, so it is retried (with back-off) rather than final like BuildFailed.
   */
  "BuildDiskFull",
  /** No repository.port and the built image EXPOSEs no port. */
  "NoExposedPort",
  /** No repository.port and the built image EXPOSEs more than one port. */
  "AmbiguousExposedPort",
  /** The Instance's namespace or Definition name cannot name a build (not the names Kubernetes allows). */
  "InvalidBuildName",
  /** The image's pullSecret names a Secret that does not exist. */
  "PullSecretNotFound",
  /** The pullSecret exists but is not a usable kubernetes.io/dockerconfigjson Secret. */
  "PullSecretInvalid",
] as const;
export type SourceErrorReason = (typeof SOURCE_ERROR_REASONS)[number];

export class SourceError extends Error {
  constructor(
    readonly reason: SourceErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A build from source failed; the Docker module's own BuildFailedError is its cause. */
export class SourceBuildError extends SourceError {
  constructor(
    message: string,
    /** The failing step ("Step 3/5 : RUN make") when the engine named it. */
    readonly step: string | undefined,
    /** The last lines of build output, for the Instance message or an Event. */
    readonly lastLines: readonly string[],
    /** The full build log on the agent's disk. */
    readonly logPath: string,
    options?: { cause?: unknown; reason?: "BuildFailed" | "BuildDiskFull" },
  ) {
    super(options?.reason ?? "BuildFailed", message, options);
  }
}

export function isSourceError(err: unknown): err is SourceError {
  return err instanceof SourceError;
}
