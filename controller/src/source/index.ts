/**
 * Definitions built from source, and registry credentials for pulls:
 *
 *   resolveRepositoryCommit(repository, gitOptions?) -> commit (for the deploymentId)
 *   ensureSourceImage({namespace, definition, repository, commit?}, {docker, stateDir})
 *     -> {image, imageId, commit, port, logPath, reused}
 *   collectSources({stateDir, repositories, ...}) -> mirrors, checkouts and build logs nobody needs, removed
 *   readPullAuth(kube, {namespace, name}, image) -> RegistryAuth for DockerEngine.pullImage
 *   fileRepositoryFlags, FileRepositoryPolicy: where file:// repositories may be
 *
 * Every failure a person must act on is a SourceError with a `reason`.
 */
export * from "./builder.js";
export * from "./errors.js";
export * from "./file-repositories.js";
export { checkRepositoryAccess, resolveRepositoryCommit } from "./git.js";
export type { GitOptions } from "./git.js";
export { checkRepositoryUrl, redactUrl, redactUrlsIn } from "./repository-url.js";
export type { CheckedRepositoryUrl, RepositoryScheme } from "./repository-url.js";
export * from "./registry-auth.js";
export { collectSources } from "./source-gc.js";
export type { SourceGcOptions, SourceGcResult } from "./source-gc.js";
export { DEFAULT_BUILD_LOG_BYTES } from "./build-log.js";
export { formatBytes } from "./source-disk.js";
