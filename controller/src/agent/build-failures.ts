/**
 * Builds that failed for a reason the same commit always gives, by what was built
 * (namespace, Definition and pinned repository source): a restart or another replica of
 * that commit fails at once with the same error instead of building it again (images.ts).
 *
 * Those whose reason depends on the commit alone (a failing step, a missing containerFile,
 * no usable EXPOSE) are also kept in the agent's state directory, so that an agent that
 * restarts, or is itself in a crash loop, does not rebuild a known-bad commit each time it
 * starts. Reasons that depend on the agent's own flags (a refused file:// URL, a repository
 * over the size limit) are kept in memory only: a restart with other flags tries again.
 *
 * The file is rewritten whole on each change, through a temporary file and a rename. It
 * holds the newest REMEMBERED_FAILURES entries; an entry older than a day is dropped when
 * the file is read, so a failure that was the builder's passing trouble gets another try
 * after that.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { SourceErrorReason } from "../source/errors.js";
import { SOURCE_ERROR_REASONS, SourceBuildError, SourceError } from "../source/errors.js";

export const BUILD_FAILURES_FILE = "build-failures.json";

/** How many failed builds are remembered; the oldest are forgotten first. */
export const REMEMBERED_FAILURES = 256;

/** Failures the commit alone decides: the ones kept across restarts. */
export const PERSISTED_BUILD_FAILURES: ReadonlySet<string> = new Set([
  "BuildFailed",
  "ContainerFileMissing",
  "NoExposedPort",
  "AmbiguousExposedPort",
]);

/** Entries that failed further back than this are dropped when the file is read. */
const FORGET_AFTER_MS = 24 * 60 * 60_000;
/** Build output kept per failure: more than a message shows (images.ts), each line's end. */
const KEPT_LINES = 20;
const KEPT_LINE_CHARACTERS = 1000;
const KEPT_MESSAGE_CHARACTERS = 16 * 1024;

/** A failure as the file holds it. */
interface StoredFailure {
  reason: SourceErrorReason;
  message: string;
  failedAt: number;
  step?: string;
  lastLines?: string[];
  logPath?: string;
}

interface RecordFile {
  version: 1;
  /** Oldest first, by failure key. */
  failures: [string, StoredFailure][];
}

export interface BuildFailuresPersistence {
  stateDir: string;
  /** Times entries, to forget old ones. */
  clock: { now(): number };
  onUnreadable?: (message: string) => void;
}

export class BuildFailures {
  private readonly failures = new Map<string, { error: SourceError; failedAt: number }>();

  /**
   * Loads what `persist.stateDir` holds, and keeps it there; none: in memory only. A file
   * that cannot be read starts an empty record: the worst that follows is one more build of
   * a known-bad commit.
   */
  constructor(private readonly persist?: BuildFailuresPersistence) {
    if (!persist) return;
    const now = persist.clock.now();
    const file = path.join(persist.stateDir, BUILD_FAILURES_FILE);
    for (const [key, stored] of readFailures(file, persist.onUnreadable ?? (() => undefined))) {
      if (now - stored.failedAt < FORGET_AFTER_MS) {
        this.failures.set(key, { error: errorOf(stored), failedAt: stored.failedAt });
      }
    }
  }

  get(key: string): SourceError | undefined {
    return this.failures.get(key)?.error;
  }

  remember(key: string, error: SourceError): void {
    this.failures.delete(key);
    this.failures.set(key, { error, failedAt: this.persist?.clock.now() ?? 0 });
    for (const oldest of this.failures.keys()) {
      if (this.failures.size <= REMEMBERED_FAILURES) break;
      this.failures.delete(oldest);
    }
    if (PERSISTED_BUILD_FAILURES.has(error.reason)) this.save();
  }

  private save(): void {
    if (!this.persist) return;
    const { stateDir } = this.persist;
    const failures: [string, StoredFailure][] = [];
    for (const [key, { error, failedAt }] of this.failures) {
      if (PERSISTED_BUILD_FAILURES.has(error.reason)) failures.push([key, storedOf(error, failedAt)]);
    }
    const record: RecordFile = { version: 1, failures };
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(stateDir, BUILD_FAILURES_FILE);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(record), { mode: 0o600 });
    renameSync(temporary, file);
  }
}

function storedOf(error: SourceError, failedAt: number): StoredFailure {
  const stored: StoredFailure = {
    reason: error.reason,
    message: error.message.slice(0, KEPT_MESSAGE_CHARACTERS),
    failedAt,
  };
  if (error instanceof SourceBuildError) {
    if (error.step !== undefined) stored.step = error.step;
    stored.lastLines = error.lastLines.slice(-KEPT_LINES).map((line) => line.slice(-KEPT_LINE_CHARACTERS));
    stored.logPath = error.logPath;
  }
  return stored;
}

function errorOf(stored: StoredFailure): SourceError {
  if (stored.reason !== "BuildFailed") return new SourceError(stored.reason, stored.message);
  return new SourceBuildError(stored.message, stored.step, stored.lastLines ?? [], stored.logPath ?? "");
}

function readFailures(file: string, onUnreadable: (message: string) => void): [string, StoredFailure][] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") onUnreadable(`${file}: ${(err as Error).message}`);
    return [];
  }
  let parsed: Partial<RecordFile> | null = null;
  try {
    parsed = JSON.parse(text) as Partial<RecordFile> | null;
  } catch {
    parsed = null;
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.failures)) {
    onUnreadable(`${file} is not a record of failed builds; starting a new one`);
    return [];
  }
  return parsed.failures.filter(
    (entry): entry is [string, StoredFailure] =>
      Array.isArray(entry) && typeof entry[0] === "string" && isStoredFailure(entry[1]),
  );
}

function isStoredFailure(value: unknown): value is StoredFailure {
  const stored = value as Partial<StoredFailure> | null;
  return (
    typeof stored?.reason === "string" &&
    PERSISTED_BUILD_FAILURES.has(stored.reason) &&
    (SOURCE_ERROR_REASONS as readonly string[]).includes(stored.reason) &&
    typeof stored.message === "string" &&
    Number.isFinite(stored.failedAt) &&
    (stored.step === undefined || typeof stored.step === "string") &&
    (stored.logPath === undefined || typeof stored.logPath === "string") &&
    (stored.lastLines === undefined ||
      (Array.isArray(stored.lastLines) && stored.lastLines.every((line) => typeof line === "string")))
  );
}
