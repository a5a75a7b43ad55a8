/** What a built image is called and labelled, and where its build log is kept. */
import { createHash } from "node:crypto";
import { join, posix } from "node:path";
import type { RepositorySource } from "../api/types.js";
import { LABELS } from "../api/vocabulary.js";
import { DEFAULT_CONTAINER_FILE } from "./build-files.js";
import { SourceError } from "./errors.js";

export const BUILD_IMAGE_REPOSITORY_PREFIX = "berth-build";
/** Labels on built images, so a person can tell where one came from. */
export const SOURCE_LABELS = {
  commit: "berth.dev/source-commit",
  url: "berth.dev/source-url",
  namespace: LABELS.namespace,
  definition: LABELS.definition,
} as const;

/** Namespaces are RFC 1123 labels, Definition names RFC 1035 labels: neither holds "/" or "..". */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DEFINITION_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The image tag a repository source at a commit is built as. */
export function sourceImageTag(
  namespace: string,
  definition: string,
  repository: RepositorySource,
  commit: string,
): string {
  checkBuildNames(namespace, definition);
  const recipe = JSON.stringify([
    repository.url,
    posix.normalize(repository.containerFile ?? DEFAULT_CONTAINER_FILE),
    posix.normalize(repository.contextDir ?? "."),
  ]);
  const recipeHash = createHash("sha256").update(recipe).digest("hex").slice(0, 8);
  return `${BUILD_IMAGE_REPOSITORY_PREFIX}/${namespace}/${definition}:${commit.slice(0, 12)}-${recipeHash}`;
}

/**
 * The names in image tags and log paths come from an Instance, which anyone allowed to
 * write Instances can fill in: they must be the names Kubernetes and the Definition schema
 * allow, so none of them reaches outside its directory or into another tag.
 */
export function checkBuildNames(namespace: string, definition: string): void {
  if (namespace.length > 63 || !NAMESPACE_NAME.test(namespace)) {
    throw new SourceError("InvalidBuildName", `namespace "${namespace}" is not an RFC 1123 label`);
  }
  if (definition.length > 63 || !DEFINITION_NAME.test(definition)) {
    throw new SourceError(
      "InvalidBuildName",
      `definition "${definition}" is not a Definition name (an RFC 1035 label of at most 63 characters)`,
    );
  }
}

/** Where the build log of an image tag is kept. */
export function buildLogPath(stateDir: string, namespace: string, definition: string, tag: string): string {
  checkBuildNames(namespace, definition);
  const version = tag.slice(tag.lastIndexOf(":") + 1);
  if (!/^[0-9a-f]+-[0-9a-f]+$/.test(version)) throw new Error(`"${tag}" is not a build image tag`);
  return join(stateDir, "build-logs", namespace, definition, `${version}.log`);
}
