/**
 * What repositories take on disk: a size limit for a mirror or checkout while git writes
 * it (a hostile repository must not fill the node), and the list of mirrors and checkouts
 * that garbage collection may look at.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";
import { SourceError } from "./errors.js";

/** How often a directory git writes into is measured against its limit. */
const SIZE_POLL_MS = 1000;

/** Bytes of the regular files under `dir` (symbolic links are not followed); 0 when it is missing. */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else if (entry.isFile())
      total += await lstat(path).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

/**
 * Runs `work` (which writes into `dir`) and stops it, through the signal it is given, once
 * `dir` holds more than `maxBytes`: then rejects with RepositoryTooLarge. Without a limit
 * it only passes the caller's signal on.
 */
export async function withinSize<T>(
  dir: string,
  maxBytes: number | undefined,
  what: string,
  signal: AbortSignal | undefined,
  work: (signal: AbortSignal | undefined) => Promise<T>,
  clock: Clock = realClock,
): Promise<T> {
  if (maxBytes === undefined) return await work(signal);
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  let tooLarge: SourceError | undefined;
  const check = async (): Promise<void> => {
    const bytes = await directoryBytes(dir);
    if (bytes > maxBytes && !tooLarge) {
      tooLarge = new SourceError(
        "RepositoryTooLarge",
        `${what} takes more than ${formatBytes(maxBytes)} on disk (the agent's --max-repository-size)`,
      );
      controller.abort(tooLarge);
    }
  };
  let checking: Promise<void> = Promise.resolve();
  const polling = new AbortController();
  const poll = (async () => {
    for (;;) {
      await clock.sleep(SIZE_POLL_MS, polling.signal);
      if (polling.signal.aborted) return;
      checking = checking.then(check);
    }
  })();
  try {
    const result = await work(controller.signal);
    await checking;
    await check();
    if (tooLarge) throw tooLarge;
    return result;
  } catch (err) {
    throw tooLarge ?? err;
  } finally {
    polling.abort();
    await poll;
    signal?.removeEventListener("abort", onAbort);
  }
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
