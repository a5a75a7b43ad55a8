/**
 * Git, for Definitions built from a repository: resolve a ref to a commit, and put a
 * commit's files in a directory to build from.
 *
 * git runs through execFile with an argument array, never through a shell, and every
 * user-supplied value comes after `--` (or --end-of-options) so it is never read as an
 * option. Only https, ssh (also written user@host:path) and file URLs are accepted
 * (repository-url.ts), checked before git runs and again by git itself through
 * GIT_ALLOW_PROTOCOL, which also stops transports such as ext:: that would run commands.
 * A file:// URL must also be under a directory the operator allowed (file-repositories.ts).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { RepositorySource } from "../api/types.js";
import { SourceError } from "./errors.js";
import type { FileRepositoryPolicy } from "./file-repositories.js";
import { NO_FILE_REPOSITORIES, checkFileRepository } from "./file-repositories.js";
import type { CheckedRepositoryUrl } from "./repository-url.js";
import { checkRepositoryUrl, redactUrlsIn } from "./repository-url.js";
import { withinSize } from "./source-disk.js";

export interface GitOptions {
  /** Where bare mirrors of repositories are kept between builds. */
  cacheDir: string;
  /** Limit for ls-remote and other quick calls. Default 60 s. */
  queryTimeoutMs?: number;
  /** Limit for a fetch. Default 10 min. */
  fetchTimeoutMs?: number;
  /** The git program. Default "git" on PATH. */
  gitBinary?: string;
  /** Where file:// repositories may be; none by default. cacheDir is refused always. */
  fileRepositories?: FileRepositoryPolicy;
  /** Cancels this call's git commands (they are killed); the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Most bytes a repository's mirror, and a checkout of it, may take on disk; unlimited when absent. */
  maxRepositoryBytes?: number;
}

const DEFAULT_QUERY_TIMEOUT_MS = 60_000;
const DEFAULT_FETCH_TIMEOUT_MS = 600_000;
const OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;
const FULL_COMMIT = /^[0-9a-fA-F]{40}$/;
const ABBREVIATED_COMMIT = /^[0-9a-fA-F]{4,39}$/;

/** The environment git runs with: no prompts, only the allowed transports, stable messages. */
function gitEnvironment(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: "https:ssh:file",
    // A constant, never built from user input: ssh must fail instead of asking for a password.
    GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
    LC_ALL: "C",
  };
}

interface GitResult {
  stdout: string;
  stderr: string;
}

class GitCommandError extends Error {
  constructor(
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly timedOut: boolean,
    message: string,
  ) {
    super(message);
    this.name = "GitCommandError";
  }
}

function runGit(
  args: string[],
  options: {
    timeoutMs: number;
    gitBinary: string;
    env?: NodeJS.ProcessEnv;
    signal?: AbortSignal | undefined;
  },
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    execFile(
      options.gitBinary,
      args,
      {
        env: { ...gitEnvironment(), ...options.env },
        timeout: options.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: OUTPUT_LIMIT_BYTES,
        encoding: "utf8",
        ...(signal ? { signal } : {}),
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        if (signal?.aborted) {
          reject(abortReason(signal));
          return;
        }
        const timedOut = err.killed === true && err.signal === "SIGKILL";
        const exitCode = typeof err.code === "number" ? err.code : undefined;
        if (!timedOut && exitCode === undefined) {
          // The program itself could not run (ENOENT and the like): not the repository's fault.
          reject(new Error(`running ${options.gitBinary} failed: ${err.message}`, { cause: err }));
          return;
        }
        reject(new GitCommandError(exitCode, stderr, timedOut, err.message));
      },
    );
  });
}

/** Why a cancelled call ended: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("cancelled");
}

/** git's own explanation: its last fatal/error line, or its last line. Passwords redacted. */
function gitReason(err: GitCommandError, timeoutMs: number): string {
  if (err.timedOut) return `git gave no answer within ${Math.round(timeoutMs / 1000)} s`;
  const lines = err.stderr
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const fatal = lines.filter((line) => /^(fatal|error):/.test(line));
  const chosen = (fatal.length ? fatal : lines).slice(-2).join(" ");
  return chosen ? redactUrlsIn(chosen) : `git exited with code ${err.exitCode ?? "unknown"}`;
}

function settings(options: Partial<GitOptions> | undefined) {
  return {
    ...(options?.signal ? { signal: options.signal } : {}),
    gitBinary: options?.gitBinary ?? "git",
    queryTimeoutMs: options?.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
    fetchTimeoutMs: options?.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
  };
}

/** The URL checked: its form (repository-url.ts) and, for file://, where it points. */
export async function checkRepositoryAccess(
  url: string,
  options: Partial<GitOptions> | undefined,
): Promise<CheckedRepositoryUrl> {
  const checked = checkRepositoryUrl(url);
  const policy = options?.fileRepositories ?? NO_FILE_REPOSITORIES;
  await checkFileRepository(checked, {
    allowed: policy.allowed,
    refused: options?.cacheDir ? [...policy.refused, options.cacheDir] : policy.refused,
  });
  return checked;
}

/** The refs a repository advertises: full ref name → commit (tags peeled as name^{}). */
async function listRemoteRefs(
  checked: CheckedRepositoryUrl,
  patterns: string[],
  options: Partial<GitOptions> | undefined,
) {
  const { gitBinary, queryTimeoutMs, signal } = settings(options);
  const args = ["ls-remote", "--symref", "--", checked.url, ...patterns];
  let result: GitResult;
  try {
    result = await runGit(args, { gitBinary, signal, timeoutMs: queryTimeoutMs });
  } catch (err) {
    if (err instanceof GitCommandError) {
      throw new SourceError(
        "RepositoryUnreachable",
        `repository ${checked.display} could not be read: ${gitReason(err, queryTimeoutMs)}`,
        { cause: err },
      );
    }
    throw err;
  }
  const refs = new Map<string, string>();
  for (const line of result.stdout.split("\n")) {
    const [left, name] = line.split("\t");
    if (!left || !name || left.startsWith("ref: ")) continue;
    refs.set(name, left.toLowerCase());
  }
  return refs;
}

/**
 * The commit a repository source points at now: its ref as a tag (peeled), a branch, a
 * full ref name or a commit, in git's own order (tags before branches); the default branch
 * when no ref is given. A moved branch gives a new commit, and so a new deploymentId.
 * A full 40-digit commit is returned as it is, without asking the repository; whether it
 * exists is found out when it is fetched for a build.
 */
export async function resolveRepositoryCommit(
  repository: RepositorySource,
  options?: Partial<GitOptions>,
): Promise<string> {
  const checked = await checkRepositoryAccess(repository.url, options);
  const ref = repository.ref;
  if (!ref) {
    const refs = await listRemoteRefs(checked, ["HEAD"], options);
    const head = refs.get("HEAD");
    if (!head) {
      throw new SourceError(
        "RefNotFound",
        `repository ${checked.display} has no default branch (is it empty?); set repository.ref`,
      );
    }
    return head;
  }
  if (ref.startsWith("-"))
    throw new SourceError("RefNotFound", `ref "${ref}" is not a valid branch, tag or commit`);
  if (FULL_COMMIT.test(ref)) return ref.toLowerCase();

  const refs = await listRemoteRefs(checked, [], options);
  const candidates = ref.startsWith("refs/")
    ? [`${ref}^{}`, ref]
    : [`refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`, ...(ref === "HEAD" ? ["HEAD"] : [])];
  for (const candidate of candidates) {
    const commit = refs.get(candidate);
    if (commit) return commit;
  }
  if (ABBREVIATED_COMMIT.test(ref) && options?.cacheDir) {
    const mirror = await fetchAll(checked, options as GitOptions);
    const commit = await revParseCommit(mirror, ref, options);
    if (commit) return commit;
  }
  throw new SourceError(
    "RefNotFound",
    `ref "${ref}" is not a branch, tag or commit of repository ${checked.display}`,
  );
}

/** Serialises work on one mirror inside this process (fetches into it must not overlap). */
const mirrorLocks = new Map<string, Promise<unknown>>();

/** Checkouts being built from in this process; any other under `<cacheDir>/checkouts` is left from a crash. */
export const checkoutsInUse = new Set<string>();

export async function withMirrorLock<T>(mirror: string, work: () => Promise<T>): Promise<T> {
  const previous = mirrorLocks.get(mirror) ?? Promise.resolve();
  const next = previous.then(work, work);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  mirrorLocks.set(mirror, settled);
  try {
    return await next;
  } finally {
    if (mirrorLocks.get(mirror) === settled) mirrorLocks.delete(mirror);
  }
}

/** Where the mirror of a repository URL (as checkRepositoryUrl gives it) is kept. */
export function mirrorPath(cacheDir: string, url: string): string {
  return join(cacheDir, "repos", `${createHash("sha256").update(url).digest("hex").slice(0, 24)}.git`);
}

async function ensureMirror(mirror: string, options: Partial<GitOptions>): Promise<void> {
  const { gitBinary, queryTimeoutMs, signal } = settings(options);
  await mkdir(mirror, { recursive: true });
  // `init` on an existing repository only re-reads its templates: safe to repeat.
  await runGit(["init", "--quiet", "--bare", "--", mirror], { gitBinary, signal, timeoutMs: queryTimeoutMs });
}

/** Fetches every branch and tag of the repository into its mirror; returns the mirror path. */
async function fetchAll(checked: CheckedRepositoryUrl, options: GitOptions): Promise<string> {
  const mirror = mirrorPath(options.cacheDir, checked.url);
  const { gitBinary, fetchTimeoutMs, signal } = settings(options);
  await withMirrorLock(mirror, async () => {
    await ensureMirror(mirror, options);
    const args = [`--git-dir=${mirror}`, "fetch", "--quiet", "--prune", "--no-tags", "--", checked.url];
    args.push("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*");
    try {
      await withinSize(
        mirror,
        options.maxRepositoryBytes,
        `repository ${checked.display}`,
        signal,
        (limited) => runGit(args, { gitBinary, signal: limited, timeoutMs: fetchTimeoutMs }),
      );
    } catch (err) {
      // Too large: nothing of it is kept, the next try starts from nothing again.
      if (err instanceof SourceError) await rm(mirror, { recursive: true, force: true });
      if (err instanceof GitCommandError) {
        throw new SourceError(
          "RepositoryUnreachable",
          `repository ${checked.display} could not be fetched: ${gitReason(err, fetchTimeoutMs)}`,
          { cause: err },
        );
      }
      throw err;
    }
  });
  return mirror;
}

async function revParseCommit(
  mirror: string,
  rev: string,
  options: Partial<GitOptions>,
): Promise<string | undefined> {
  const { gitBinary, queryTimeoutMs, signal } = settings(options);
  try {
    const { stdout } = await runGit(
      [`--git-dir=${mirror}`, "rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`],
      { gitBinary, signal, timeoutMs: queryTimeoutMs },
    );
    return stdout.trim() || undefined;
  } catch (err) {
    if (err instanceof GitCommandError && !err.timedOut) return undefined;
    throw err;
  }
}

/** Makes sure the mirror holds the commit, fetching when it does not; returns the mirror path. */
export async function fetchCommit(
  repository: RepositorySource,
  commit: string,
  options: GitOptions,
): Promise<string> {
  const checked = await checkRepositoryAccess(repository.url, options);
  if (!FULL_COMMIT.test(commit)) throw new Error(`fetchCommit needs a full commit id, got "${commit}"`);
  const mirror = mirrorPath(options.cacheDir, checked.url);
  if (await revParseCommit(mirror, commit, options).catch(() => undefined)) return mirror;
  await fetchAll(checked, options);
  if (await revParseCommit(mirror, commit, options)) return mirror;
  // A commit no branch or tag reaches: some servers still hand it out when asked by id.
  const { gitBinary, fetchTimeoutMs, signal } = settings(options);
  await withMirrorLock(mirror, async () => {
    try {
      const args = [`--git-dir=${mirror}`, "fetch", "--quiet", "--no-tags", "--", checked.url, commit];
      await withinSize(
        mirror,
        options.maxRepositoryBytes,
        `repository ${checked.display}`,
        signal,
        (limited) => runGit(args, { gitBinary, signal: limited, timeoutMs: fetchTimeoutMs }),
      );
    } catch (err) {
      if (err instanceof SourceError) await rm(mirror, { recursive: true, force: true });
      if (!(err instanceof GitCommandError)) throw err;
    }
  });
  if (await revParseCommit(mirror, commit, options)) return mirror;
  throw new SourceError("RefNotFound", `commit ${commit} is not in repository ${checked.display}`);
}

export interface Checkout {
  /** The directory holding the commit's files. */
  dir: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

/**
 * Writes the files of a commit into a fresh directory under `<cacheDir>/checkouts`.
 * Submodules are not fetched.
 */
export async function checkoutCommit(
  repository: RepositorySource,
  commit: string,
  options: GitOptions,
): Promise<Checkout> {
  const checked = await checkRepositoryAccess(repository.url, options);
  const mirror = await fetchCommit(repository, commit, options);
  const { gitBinary, queryTimeoutMs, fetchTimeoutMs, signal } = settings(options);
  const root = join(options.cacheDir, "checkouts");
  await mkdir(root, { recursive: true });
  const scratch = await mkdtemp(join(root, `${commit.slice(0, 12)}-`));
  checkoutsInUse.add(scratch);
  const dir = join(scratch, "tree");
  const remove = async () => {
    await rm(scratch, { recursive: true, force: true });
    checkoutsInUse.delete(scratch);
  };
  try {
    await mkdir(dir);
    // A private index file: the mirror's own index and HEAD are never touched, so checkouts
    // of different commits can run side by side.
    const env = { GIT_INDEX_FILE: join(scratch, "index") };
    const base = [`--git-dir=${mirror}`, `--work-tree=${dir}`, "-c", "core.hooksPath=/dev/null"];
    await runGit([...base, "read-tree", "--end-of-options", commit], {
      gitBinary,
      signal,
      timeoutMs: queryTimeoutMs,
      env,
    });
    const what = `commit ${commit.slice(0, 12)} of ${checked.display}`;
    await withinSize(scratch, options.maxRepositoryBytes, what, signal, (limited) =>
      runGit([...base, "checkout-index", "--all", "--force"], {
        gitBinary,
        signal: limited,
        timeoutMs: fetchTimeoutMs,
        env,
      }),
    );
  } catch (err) {
    await remove();
    if (err instanceof GitCommandError) {
      throw new SourceError(
        "RepositoryUnreachable",
        `checking out commit ${commit} failed: ${gitReason(err, queryTimeoutMs)}`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  return { dir, remove };
}
