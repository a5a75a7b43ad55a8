/**
 * The commit a Definition built from a repository runs. The controller resolves the ref
 * (a branch moves, a tag may) and puts the commit into the deploymentId and into the
 * Instances' template, so a moved branch rolls the Definition and every replica builds the
 * same commit.
 *
 * Resolving is a `git ls-remote`, which a silent server can stretch to its timeout. It never
 * runs inside a reconcile: `resolve` answers at once from what is known (the last answer,
 * even past its recheck period, while a new lookup runs) or says the answer is pending, and
 * starts the lookup in the background; when it ends, every Definition that asked is woken.
 * So a repository that hangs holds up only the Definitions built from it. Answers, failures
 * too, are trusted for a recheck period, so a repository is asked once per period.
 */
import { CONDITIONS } from "../../api/vocabulary.js";
import type { RepositorySource, RunTemplate } from "../../api/types.js";
import { type Clock, withDeadline } from "../../runtime/clock.js";
import type { FileRepositoryPolicy } from "../../source/file-repositories.js";
import { resolveRepositoryCommit, type GitOptions } from "../../source/git.js";
import { redactUrl } from "../../source/repository-url.js";
import { SourceError } from "../../source/errors.js";
import type { ConditionSpec } from "./definition-status.js";

/** How long a resolved commit (or a failure) is trusted; Definitions are looked at again this often. */
export const REPOSITORY_RECHECK_MS = 30_000;
/** Limit for one ls-remote from the controller: git is killed after it. */
export const QUERY_TIMEOUT_MS = 15_000;
/** Lookups at once: a burst of Definitions (a controller start) does not start a git per repository. */
const LOOKUPS_AT_ONCE = 8;

export type CommitResolution = { commit: string } | { error: SourceError };

export interface RepositoryCommitsOptions {
  clock: Clock;
  ttlMs?: number;
  /** Where file:// repositories may be; none when absent. */
  fileRepositories?: FileRepositoryPolicy;
  /** The lookup itself; git by default. */
  resolve?: (repository: RepositorySource, git: Partial<GitOptions> | undefined) => Promise<string>;
  /** A lookup asked for by these Definition keys ended: reconcile them. */
  onResolved?: (waiter: string) => void;
  /** A lookup that has not ended after this long counts as unreachable. QUERY_TIMEOUT_MS plus a margin by default. */
  lookupTimeoutMs?: number;
}

interface Entry {
  repository: RepositorySource;
  outcome: CommitResolution | { thrown: unknown } | undefined;
  /** When the outcome arrived. */
  at: number;
  /** When a Definition last asked: entries nobody asks for are forgotten. */
  askedAt: number;
  looking: boolean;
  waiters: Set<string>;
}

export class RepositoryCommits {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly queued: Array<() => void> = [];
  private lookups = 0;

  constructor(private readonly options: RepositoryCommitsOptions) {
    this.ttlMs = options.ttlMs ?? REPOSITORY_RECHECK_MS;
  }

  /**
   * What repository.ref points at as far as is known now: the commit, the SourceError
   * (RepositoryUnreachable, RefNotFound, RepositoryURLRefused) a person must act on, or
   * pending while the first lookup runs (`waiter` is woken when it ends). An unexpected
   * error of the lookup (git missing) is thrown once, for the work queue to retry.
   */
  resolve(repository: RepositorySource, waiter = ""): CommitResolution | { pending: true } {
    const key = JSON.stringify([repository.url, repository.ref ?? ""]);
    const now = this.options.clock.now();
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { repository, outcome: undefined, at: 0, askedAt: now, looking: false, waiters: new Set() };
      this.entries.set(key, entry);
    }
    entry.askedAt = now;
    const outcome = entry.outcome;
    const fresh = outcome !== undefined && now - entry.at < this.ttlMs;
    if (!fresh && !entry.looking) this.lookUp(entry);
    if (outcome && "thrown" in outcome) {
      entry.outcome = undefined;
      throw outcome.thrown;
    }
    if (outcome) {
      if (!fresh && waiter) entry.waiters.add(waiter);
      return outcome;
    }
    if (waiter) entry.waiters.add(waiter);
    return { pending: true };
  }

  /** Forgets repositories no Definition asked about for a while. */
  prune(): void {
    const now = this.options.clock.now();
    for (const [key, entry] of this.entries) {
      if (!entry.looking && now - entry.askedAt >= 3 * this.ttlMs) this.entries.delete(key);
    }
  }

  /** Repositories known or being looked up. */
  get size(): number {
    return this.entries.size;
  }

  private lookUp(entry: Entry): void {
    entry.looking = true;
    const run = (): void => {
      this.lookups++;
      void this.lookupWithDeadline(entry.repository)
        .then(
          (commit): Entry["outcome"] => ({ commit }),
          (err: unknown): Entry["outcome"] => (err instanceof SourceError ? { error: err } : { thrown: err }),
        )
        .then((outcome) => {
          this.lookups--;
          this.queued.shift()?.();
          entry.outcome = outcome;
          entry.at = this.options.clock.now();
          entry.looking = false;
          const waiters = [...entry.waiters];
          entry.waiters.clear();
          for (const waiter of waiters) this.options.onResolved?.(waiter);
        });
    };
    if (this.lookups < LOOKUPS_AT_ONCE) run();
    else this.queued.push(run);
  }

  /** The lookup, bounded even where it ignores its own timeout. */
  private lookupWithDeadline(repository: RepositorySource): Promise<string> {
    const lookup = this.options.resolve ?? resolveRepositoryCommit;
    const git: Partial<GitOptions> = {
      queryTimeoutMs: QUERY_TIMEOUT_MS,
      ...(this.options.fileRepositories ? { fileRepositories: this.options.fileRepositories } : {}),
    };
    const timeoutMs = this.options.lookupTimeoutMs ?? QUERY_TIMEOUT_MS + 5000;
    return withDeadline(
      this.options.clock,
      timeoutMs,
      Promise.resolve().then(() => lookup(repository, git)),
      () =>
        new SourceError(
          "RepositoryUnreachable",
          `repository ${redactUrl(repository.url)} gave no answer within ${Math.round(timeoutMs / 1000)} s`,
        ),
    );
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
