/**
 * Where a build reads from inside a checkout: the context directory and the containerFile.
 * The checkout is the repository's own, hostile content: both must stay inside it, also
 * after following symbolic links, and nothing is written into it but one new file (a
 * containerFile from outside the context, brought in), created exclusively and never
 * through a symbolic link.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, readFile, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import type { RepositorySource } from "../api/types.js";
import { SourceError } from "./errors.js";
import { checkRepositoryUrl } from "./repository-url.js";

export const DEFAULT_CONTAINER_FILE = "Dockerfile";
const ALTERNATIVE_CONTAINER_FILE = "Containerfile";
/** The start of the name a containerFile brought into the context gets; random hex follows. */
export const COPIED_CONTAINER_FILE = ".berth.Containerfile.";

/**
 * The context directory and the containerFile's path inside it. Both must be inside the
 * checkout, also after following symbolic links: a repository must not reach outside itself.
 */
export async function locateBuildFiles(
  root: string,
  repository: RepositorySource,
  commit: string,
): Promise<{ contextDir: string; containerFile: string }> {
  const realRoot = await realpath(root);
  const missing = (what: string): never => {
    throw new SourceError(
      "ContainerFileMissing",
      `${what} at commit ${commit.slice(0, 12)} of ${checkRepositoryUrl(repository.url).display}`,
    );
  };
  const inside = (relativePath: string, what: string): string => {
    if (isAbsolute(relativePath) || relativePath.split(/[\\/]/).includes("..")) {
      return missing(`${what} "${relativePath}" must be a relative path inside the repository, but is not,`);
    }
    return resolve(realRoot, relativePath);
  };
  const contextName = repository.contextDir ?? ".";
  const contextDir = await realpathInside(inside(contextName, "contextDir"), realRoot);
  if (!contextDir || !(await stat(contextDir)).isDirectory())
    return missing(`contextDir "${contextName}" is not a directory`);

  const requested = repository.containerFile ?? DEFAULT_CONTAINER_FILE;
  let containerPath = await realpathInside(inside(requested, "containerFile"), realRoot);
  if (!containerPath && requested === DEFAULT_CONTAINER_FILE) {
    containerPath = await realpathInside(inside(ALTERNATIVE_CONTAINER_FILE, "containerFile"), realRoot);
  }
  if (!containerPath || !(await stat(containerPath)).isFile())
    return missing(`containerFile "${requested}" is not in the repository`);

  const inContext = relative(contextDir, containerPath);
  if (!inContext.startsWith("..") && !isAbsolute(inContext)) {
    return { contextDir, containerFile: inContext.split(sep).join("/") };
  }
  // The engine reads the containerFile from the context: bring one from elsewhere in the
  // repository in, as a new file of a name the repository cannot know in advance. Exclusive
  // creation without following links: whatever the repository put at any name stays untouched.
  const copiedName = `${COPIED_CONTAINER_FILE}${randomBytes(8).toString("hex")}`;
  const content = await readFile(containerPath);
  const copy = await open(
    join(contextDir, copiedName),
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    await copy.writeFile(content);
  } finally {
    await copy.close();
  }
  return { contextDir, containerFile: copiedName };
}

/** The real path of `path` when it exists and stays inside `root`; undefined otherwise. */
async function realpathInside(path: string, root: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return undefined;
  }
  return real === root || real.startsWith(root + sep) ? real : undefined;
}
