/**
 * Definitions built from source, and registry credentials for pulls:
 *
 *   resolveRepositoryCommit(repository, gitOptions?) -> commit (for the deploymentId)
 *   ensureSourceImage({namespace, definition, repository, commit?}, {docker, stateDir})
 *     -> {image, imageId, commit, port, logPath, reused}
 *   new CommitCache({ttlMs, clock}).resolve(repository) -> commit, looked up at most once per ttlMs
 *   readPullAuth(kube, {namespace, name}, image) -> RegistryAuth for DockerEngine.pullImage
 *   fileRepositoryFlags, FileRepositoryPolicy: where file:// repositories may be
 *
 * Every failure a person must act on is a SourceError with a `reason`.
 */
export * from "./builder.js";
export * from "./commit-cache.js";
export * from "./errors.js";
export * from "./file-repositories.js";
export { checkRepositoryAccess, resolveRepositoryCommit } from "./git.js";
export type { GitOptions } from "./git.js";
export { checkRepositoryUrl, redactUrl, redactUrlsIn } from "./repository-url.js";
export type { CheckedRepositoryUrl, RepositoryScheme } from "./repository-url.js";
export * from "./registry-auth.js";
