/**
 * Definitions built from source, and registry credentials for pulls:
 *
 *   resolveRepositoryCommit(repository, gitOptions?) -> commit (for the deploymentId)
 *   ensureSourceImage({namespace, definition, repository, commit?}, {docker, stateDir})
 *     -> {image, imageId, commit, port, logPath, reused}
 *   readPullAuth(kube, {namespace, name}, image) -> RegistryAuth for DockerEngine.pullImage
 *
 * Every failure a person must act on is a SourceError with a `reason`.
 */
export * from "./builder.js";
export * from "./errors.js";
export { checkRepositoryUrl, redactUrl, resolveRepositoryCommit } from "./git.js";
export type { CheckedRepositoryUrl, GitOptions, RepositoryScheme } from "./git.js";
export * from "./registry-auth.js";
