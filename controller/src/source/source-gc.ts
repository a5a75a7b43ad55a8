/**
 * Garbage collection of what building from source leaves in the state directory:
 *
 * - mirrors (`git/repos/<hash>.git`) of repositories no Instance on this node builds from
 *   any more (taken under the mirror's lock, so never while a fetch writes into it);
 * - checkouts (`git/checkouts/*`) no build of this process is using (and older than a
 *   minute): left by a crash;
 * - build logs (`build-logs/<namespace>/<definition>/<version>.log`) whose image is gone,
 *   except the newest `logsKeptPerDefinition` of a Definition that still has Instances here
 *   (a failed build's log is the one a person wants to read).
 *
 * Only those three directories are looked at, and only entries of the names Berth gives.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../runtime/log.js";
import { BUILD_IMAGE_REPOSITORY_PREFIX } from "./built-images.js";
import { checkoutsInUse, mirrorPath, withMirrorLock } from "./git.js";
import { checkRepositoryUrl } from "./repository-url.js";
import { directoryBytes } from "./source-disk.js";

export interface SourceGcOptions {
  stateDir: string;
  /** Repository URLs the Instances bound here build from. */
  repositories: Iterable<string>;
  /** "<namespace>/<definition>" of the Instances bound here. */
  definitions: ReadonlySet<string>;
  /** Build image tags the engine still has. */
  imageTags: ReadonlySet<string>;
  logsKeptPerDefinition: number;
  logger?: Logger;
}

export interface SourceGcResult {
  mirrorsRemoved: number;
  checkoutsRemoved: number;
  logsRemoved: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** A checkout younger than this is never taken for one left by a crash. */
const CHECKOUT_GRACE_MS = 60_000;
const MIRROR_NAME = /^[0-9a-f]{24}\.git$/;
const LOG_NAME = /^[0-9a-f]+-[0-9a-f]+\.log$/;

export async function collectSources(options: SourceGcOptions): Promise<SourceGcResult> {
  const { stateDir } = options;
  const cacheDir = join(stateDir, "git");
  const logsDir = join(stateDir, "build-logs");
  const bytesBefore = (await directoryBytes(cacheDir)) + (await directoryBytes(logsDir));
  const mirrorsRemoved = await removeMirrors(cacheDir, options);
  const checkoutsRemoved = await removeCheckouts(join(cacheDir, "checkouts"), options.logger);
  let logsRemoved = 0;
  for (const namespace of await namesIn(logsDir)) {
    for (const definition of await namesIn(join(logsDir, namespace))) {
      logsRemoved += await removeLogs(logsDir, namespace, definition, options);
    }
  }
  const bytesAfter = (await directoryBytes(cacheDir)) + (await directoryBytes(logsDir));
  return { mirrorsRemoved, checkoutsRemoved, logsRemoved, bytesBefore, bytesAfter };
}

async function removeMirrors(cacheDir: string, options: SourceGcOptions): Promise<number> {
  const reposDir = join(cacheDir, "repos");
  const wantedMirrors = new Set<string>();
  for (const url of options.repositories) {
    try {
      wantedMirrors.add(mirrorPath(cacheDir, checkRepositoryUrl(url).url));
    } catch {
      // A URL Berth refuses has no mirror.
    }
  }
  let removed = 0;
  for (const name of await namesIn(reposDir)) {
    const mirror = join(reposDir, name);
    if (!MIRROR_NAME.test(name) || wantedMirrors.has(mirror)) continue;
    await withMirrorLock(mirror, () => rm(mirror, { recursive: true, force: true }));
    removed++;
    options.logger?.info("removed the mirror of a repository no Instance here builds from", { mirror });
  }
  return removed;
}

async function removeCheckouts(checkoutsDir: string, logger: Logger | undefined): Promise<number> {
  let removed = 0;
  for (const name of await namesIn(checkoutsDir)) {
    const checkout = join(checkoutsDir, name);
    if (checkoutsInUse.has(checkout)) continue;
    // One just made may not be marked in use yet; a crash leaves old ones. The file's time
    // is the file system's, so it is compared with the wall clock.
    if (Date.now() - (await modifiedAt(checkout)) < CHECKOUT_GRACE_MS) continue;
    await rm(checkout, { recursive: true, force: true });
    removed++;
    logger?.info("removed a checkout left by an earlier process", { checkout });
  }
  return removed;
}

/** The build logs of one Definition whose image is gone, but the newest kept ones. */
async function removeLogs(
  logsDir: string,
  namespace: string,
  definition: string,
  options: SourceGcOptions,
): Promise<number> {
  const dir = join(logsDir, namespace, definition);
  const logs = [];
  for (const name of await namesIn(dir)) {
    if (LOG_NAME.test(name)) logs.push({ name, modified: await modifiedAt(join(dir, name)) });
  }
  logs.sort((a, b) => b.modified - a.modified);
  const stillHere = options.definitions.has(`${namespace}/${definition}`);
  let spared = 0;
  let removed = 0;
  for (const log of logs) {
    const tag = `${BUILD_IMAGE_REPOSITORY_PREFIX}/${namespace}/${definition}:${log.name.slice(0, -4)}`;
    if (options.imageTags.has(tag)) continue;
    if (stillHere && spared < options.logsKeptPerDefinition) {
      spared++;
      continue;
    }
    await rm(join(dir, log.name), { force: true });
    removed++;
  }
  if ((await namesIn(dir)).length === 0) await rm(dir, { recursive: true, force: true });
  return removed;
}

/** A file's modification time; 0 when it cannot be read. */
function modifiedAt(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );
}

async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
