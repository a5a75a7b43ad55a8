/**
 * Which local repositories a file:// URL may name. A file:// URL reads whatever the agent's
 * (and the controller's) user can read, so without a limit one tenant could build another
 * tenant's cached mirror (<state>/git/repos/<hash>.git) and copy its code out. An operator
 * lists the directories file:// repositories may live under (--allow-file-repositories);
 * nothing else is allowed, and the state directory never is, even when a listed directory
 * holds it. Paths are compared after resolving symbolic links, so a link cannot reach around
 * the list.
 */
import { realpath } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { defineFlags } from "../runtime/flags.js";
import { SourceError } from "./errors.js";
import type { CheckedRepositoryUrl } from "./repository-url.js";

export interface FileRepositoryPolicy {
  /** Directories file:// repositories may live under. None: file:// is refused. */
  allowed: readonly string[];
  /** Directories never read through file://, even inside an allowed one (state directories). */
  refused: readonly string[];
}

export const NO_FILE_REPOSITORIES: FileRepositoryPolicy = { allowed: [], refused: [] };

/** "DIR[,DIR]" into absolute paths; throws a message on a relative one. */
export function parseDirectoryList(text: string): string[] {
  const dirs = text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  for (const dir of dirs) if (!isAbsolute(dir)) throw new Error(`"${dir}" is not an absolute path`);
  return dirs;
}

/** The flag both the controller (git ls-remote) and the agent (git fetch) take. */
export const fileRepositoryFlags = defineFlags({
  allowFileRepositories: {
    name: "allow-file-repositories",
    env: "BERTH_ALLOW_FILE_REPOSITORIES",
    type: "string",
    default: "",
    help: "Comma-separated absolute directories a repository.url of file:// may point under; file:// is refused when empty. The agent's state directory is refused always.",
    validate: (value: unknown) => {
      try {
        parseDirectoryList(String(value));
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  },
});

/**
 * Refuses (RepositoryURLRefused) a file:// URL outside the allowed directories or inside a
 * refused one; other URLs pass. checkRepositoryUrl has made sure the path is plain (no %, .
 * or .. parts), so git and this check read the same path.
 */
export async function checkFileRepository(
  checked: CheckedRepositoryUrl,
  policy: FileRepositoryPolicy,
): Promise<void> {
  if (checked.scheme !== "file" || checked.path === undefined) return;
  const refuse = (why: string): never => {
    throw new SourceError("RepositoryURLRefused", `repository URL ${checked.display} is refused: ${why}`);
  };
  if (policy.allowed.length === 0) {
    refuse(
      "file:// repositories are not allowed here (an operator allows directories with --allow-file-repositories)",
    );
  }
  const real = await realpathOfExisting(checked.path);
  const refusedDirs = await Promise.all(policy.refused.map(realpathOfExisting));
  if (refusedDirs.some((dir) => isInside(real, dir))) {
    refuse("it is inside Berth's state directory, which holds other Definitions' repositories");
  }
  const allowedDirs = await Promise.all(policy.allowed.map(realpathOfExisting));
  if (!allowedDirs.some((dir) => isInside(real, dir))) {
    refuse(`it is not under a directory allowed for file:// repositories (${policy.allowed.join(", ")})`);
  }
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * The real path: symbolic links resolved. For a path that does not exist (yet), the real path
 * of its longest existing parent with the rest appended, so a missing repository is still
 * placed correctly (and git then says it is missing).
 */
async function realpathOfExisting(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch {
    const parent = dirname(absolute);
    if (parent === absolute) return absolute;
    return join(await realpathOfExisting(parent), basename(absolute));
  }
}
