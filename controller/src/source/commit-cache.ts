/**
 * The controller asks for a repository's commit on every reconcile of a Definition built
 * from source (the commit is part of its deploymentId). Asking git each time would put one
 * `git ls-remote` on every pass; this cache answers from memory for a while and shares one
 * lookup among callers that ask at the same time. A moved branch is seen once the entry
 * expires: requeue such Definitions after `ttlMs` to notice it.
 */
import type { RepositorySource } from "../api/types.js";
import type { Clock } from "../runtime/clock.js";
import type { GitOptions } from "./git.js";
import { resolveRepositoryCommit } from "./git.js";

export interface CommitCacheOptions {
  /** How long a resolved commit is trusted. */
  ttlMs: number;
  clock: Pick<Clock, "now">;
  git?: Partial<GitOptions>;
  /** The lookup itself; git by default. */
  resolve?: (repository: RepositorySource, git: Partial<GitOptions> | undefined) => Promise<string>;
}

interface Entry {
  commit: Promise<string>;
  /** When the lookup finished; undefined while it runs. */
  resolvedAt: number | undefined;
}

export class CommitCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: CommitCacheOptions) {}

  /** The commit repository.ref points at, at most ttlMs old. Failures are not cached. */
  resolve(repository: RepositorySource): Promise<string> {
    const key = JSON.stringify([repository.url, repository.ref ?? ""]);
    const now = this.options.clock.now();
    const cached = this.entries.get(key);
    if (cached && (cached.resolvedAt === undefined || now - cached.resolvedAt < this.options.ttlMs)) {
      return cached.commit;
    }
    const lookup = this.options.resolve ?? resolveRepositoryCommit;
    const entry: Entry = { commit: lookup(repository, this.options.git), resolvedAt: undefined };
    this.entries.set(key, entry);
    void entry.commit.then(
      () => {
        entry.resolvedAt = this.options.clock.now();
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.commit;
  }

  /** How many repositories the cache holds (resolved or being resolved). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops entries that expired, so repositories no Definition names any more are forgotten. */
  prune(): void {
    const now = this.options.clock.now();
    for (const [key, entry] of this.entries) {
      if (entry.resolvedAt !== undefined && now - entry.resolvedAt >= this.options.ttlMs)
        this.entries.delete(key);
    }
  }
}
