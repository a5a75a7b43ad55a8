/**
 * The crash-loop state of this node's Instances (crashloop.ts), kept in the agent's state
 * directory so that it outlives the agent: an agent that restarts, or is itself in a crash
 * loop, still waits out each Instance's back-off instead of restarting everything at once.
 * Times in it are the agent's own clock (see crashloop.ts), which a restart on the same
 * machine keeps.
 *
 * The file is small (one entry per Instance that exited lately) and rewritten whole on each
 * change, through a temporary file and a rename, so a crash never leaves half of it. An
 * entry goes when its Instance leaves the node, and on load once it is older than a day: by
 * then its back-off (at most --crash-backoff-max) has long run out.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { CrashRecord } from "./crashloop.js";

export const CRASH_RECORDS_FILE = "crash-loop.json";

/** Entries whose restart time is further back than this are dropped when the file is read. */
const FORGET_AFTER_MS = 24 * 60 * 60_000;

interface RecordFile {
  version: 1;
  /** By Instance key (namespace/name). */
  instances: Record<string, CrashRecord>;
}

export class CrashRecords {
  private readonly records: Map<string, CrashRecord>;

  /**
   * Loads what `stateDir` holds (none: in memory only). A file that cannot be read starts
   * an empty record: the worst that follows is one restart without its back-off.
   */
  constructor(
    private readonly stateDir: string | undefined,
    now: number,
    onUnreadable: (message: string) => void = () => undefined,
  ) {
    const loaded = stateDir ? readRecords(path.join(stateDir, CRASH_RECORDS_FILE), onUnreadable) : {};
    this.records = new Map(
      Object.entries(loaded).filter(([, record]) => now - record.restartAt < FORGET_AFTER_MS),
    );
  }

  get(key: string): CrashRecord | undefined {
    return this.records.get(key);
  }

  set(key: string, record: CrashRecord): void {
    if (this.records.get(key) === record) return;
    this.records.set(key, record);
    this.save();
  }

  delete(key: string): void {
    if (this.records.delete(key)) this.save();
  }

  private save(): void {
    if (!this.stateDir) return;
    const record: RecordFile = { version: 1, instances: Object.fromEntries(this.records) };
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(this.stateDir, CRASH_RECORDS_FILE);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(record), { mode: 0o600 });
    renameSync(temporary, file);
  }
}

function readRecords(file: string, onUnreadable: (message: string) => void): Record<string, CrashRecord> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") onUnreadable(`${file}: ${(err as Error).message}`);
    return {};
  }
  let parsed: Partial<RecordFile> | null = null;
  try {
    parsed = JSON.parse(text) as Partial<RecordFile> | null;
  } catch {
    parsed = null;
  }
  if (parsed?.version !== 1 || typeof parsed.instances !== "object" || parsed.instances === null) {
    onUnreadable(`${file} is not a crash-loop record; starting a new one`);
    return {};
  }
  const valid: Record<string, CrashRecord> = {};
  for (const [key, record] of Object.entries(parsed.instances)) {
    if (isCrashRecord(record)) valid[key] = record;
  }
  return valid;
}

function isCrashRecord(value: unknown): value is CrashRecord {
  const record = value as Partial<CrashRecord> | null;
  return (
    typeof record?.containerId === "string" &&
    Number.isSafeInteger(record.crashes) &&
    Number.isFinite(record.restartAt)
  );
}
