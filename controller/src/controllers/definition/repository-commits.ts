/**
 * The commit a Definition built from a repository runs. The controller resolves the ref
 * (a branch moves, a tag may) and puts the commit into the deploymentId and into the
 * Instances' template, so a moved branch rolls the Definition and every replica builds the
 * same commit. Resolving is a `git ls-remote`: answers are kept for a short while, failures
 * too, so a repository that does not answer is asked once per period, not once per pass.
 */
import { CONDITIONS } from "../../api/vocabulary.js";
import type { RepositorySource, RunTemplate } from "../../api/types.js";
import type { Clock } from "../../runtime/clock.js";
import type { FileRepositoryPolicy } from "../../source/file-repositories.js";
import type { GitOptions } from "../../source/git.js";
import { CommitCache } from "../../source/commit-cache.js";
import { SourceError } from "../../source/errors.js";
import type { ConditionSpec } from "./definition-status.js";

/** How long a resolved commit (or a failure) is trusted; Definitions are looked at again this often. */
export const REPOSITORY_RECHECK_MS = 30_000;
/** Limit for one ls-remote from the controller: a silent server must not hold a worker for long. */
const QUERY_TIMEOUT_MS = 15_000;

export type CommitResolution = { commit: string } | { error: SourceError };

export interface RepositoryCommitsOptions {
  clock: Pick<Clock, "now">;
  ttlMs?: number;
  /** Where file:// repositories may be; none when absent. */
  fileRepositories?: FileRepositoryPolicy;
  /** The lookup itself; git by default. */
  resolve?: (repository: RepositorySource, git: Partial<GitOptions> | undefined) => Promise<string>;
}

export class RepositoryCommits {
  private readonly cache: CommitCache;
  private readonly failures = new Map<string, { error: SourceError; at: number }>();
  private readonly ttlMs: number;

  constructor(private readonly options: RepositoryCommitsOptions) {
    this.ttlMs = options.ttlMs ?? REPOSITORY_RECHECK_MS;
    this.cache = new CommitCache({
      ttlMs: this.ttlMs,
      clock: options.clock,
      git: {
        queryTimeoutMs: QUERY_TIMEOUT_MS,
        ...(options.fileRepositories ? { fileRepositories: options.fileRepositories } : {}),
      },
      ...(options.resolve ? { resolve: options.resolve } : {}),
    });
  }

  /**
   * The commit repository.ref points at, or the SourceError (RepositoryUnreachable,
   * RefNotFound, RepositoryURLRefused) a person must act on. Other errors are thrown.
   */
  async resolve(repository: RepositorySource): Promise<CommitResolution> {
    const key = JSON.stringify([repository.url, repository.ref ?? ""]);
    const now = this.options.clock.now();
    const failed = this.failures.get(key);
    if (failed && now - failed.at < this.ttlMs) return { error: failed.error };
    try {
      const commit = await this.cache.resolve(repository);
      this.failures.delete(key);
      return { commit };
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      this.failures.set(key, { error: err, at: this.options.clock.now() });
      return { error: err };
    }
  }

  /** Forgets what expired, so repositories no Definition names any more do not stay in memory. */
  prune(): void {
    this.cache.prune();
    const now = this.options.clock.now();
    for (const [key, failed] of this.failures) if (now - failed.at >= this.ttlMs) this.failures.delete(key);
  }
}

/** The template with its repository pinned to the commit, as every replica must build it. */
export function pinnedRunTemplate(template: RunTemplate, commit: string): RunTemplate {
  if (!template.repository) return template;
  return { ...template, repository: { ...template.repository, ref: commit } };
}

/**
 * The conditions when the repository's ref could not be resolved: Degraded with the
 * source's reason (RepositoryUnreachable, RefNotFound, RepositoryURLRefused), and no
 * progress until it resolves. Ready keeps what the running Instances say.
 */
export function withSourceProblem(conditions: ConditionSpec[], problem: SourceError): ConditionSpec[] {
  return conditions.map((condition) => {
    if (condition.type === CONDITIONS.degraded)
      return { ...condition, status: "True", reason: problem.reason, message: problem.message };
    if (condition.type === CONDITIONS.progressing) {
      return {
        ...condition,
        status: "False",
        reason: problem.reason,
        message: `No new Instances until the repository's ref resolves to a commit (see Degraded).`,
      };
    }
    return condition;
  });
}
