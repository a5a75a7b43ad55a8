/**
 * Docker access for Berth: the only module that talks to a Docker engine.
 *
 *   new DockerEngine({url, timeouts?, observer?, logger?, tls?})
 *     ping() / version() / info()
 *     inspectImage(image) / imageExists(image) / pullImage(image, {auth, onProgress})
 *     listImages(labels) / removeImage(tag or id) -> removed | in-use | gone (never forced)
 *     buildImage({context, containerFile, tags, buildArgs, labels, onOutput}) -> image id
 *     createContainer(spec) -> id, startContainer(id), inspectContainer(id) -> ContainerInfo
 *     stopContainer(id, graceSeconds), removeContainer(id, {force}) -> removed?
 *     listContainers(labels) (only berth.dev/managed-by=berth), exec(id, command) -> {exitCode, output}
 *     events({signal, since}) -> AsyncGenerator<EngineEvent>
 *   Every call takes {signal, timeoutMs} last and throws a DockerError with a `reason`.
 *   Image references are checked against the distribution grammar (reference.ts) before
 *   any request: InvalidImageNameError.
 */
export * from "./engine.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./metrics.js";
export * from "./reference.js";
export * from "./spec.js";
export * from "./tls.js";
export * from "./url.js";
export { jsonLines } from "./json-lines.js";
export { EXEC_OUTPUT_LIMIT } from "./exec.js";
export { BUILD_TAIL_LINES, followBuild, followPull } from "./progress.js";
