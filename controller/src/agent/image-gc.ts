/**
 * Garbage collection of the images this agent built. Every new commit of a tracked branch
 * is a new berth-build/<namespace>/<definition>:<commit>-<recipe> image; without collection
 * they fill the node's disk. On each pass:
 *
 * - an image a container uses, or that an Instance bound here runs or is about to run, stays;
 * - of each Definition's other build images, the newest `keepPerDefinition` stay (a rollback
 *   to a recent commit need not build again), the rest are removed;
 * - when the disk holding the images is fuller than `highPercent`, older ones of those kept
 *   go too (oldest first, never one in use) until it is below `lowPercent`: kubelet's image
 *   garbage collection thresholds.
 *
 * Only images that carry this installation's berth.dev/installation label and a berth-build/
 * tag are looked at: images a person pulled or built, and another installation's builds on
 * a shared engine, are never touched. Removal is never forced, so the engine itself refuses
 * an image a container (of anyone) still uses.
 */
import { statfs } from "node:fs/promises";
import { LABELS } from "../api/vocabulary.js";
import type { DockerEngine } from "../docker/engine.js";
import type { ImageSummary } from "../docker/types.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { BUILD_IMAGE_REPOSITORY_PREFIX, SOURCE_LABELS } from "../source/built-images.js";

export interface ImageGcOptions {
  docker: Pick<DockerEngine, "listImages" | "removeImage" | "listContainers" | "inspectImage">;
  installation: string;
  /** With a namespace scope (--watch-namespace), only builds of that namespace are looked at. */
  namespace?: string;
  /** Build images kept per Definition besides those in use. */
  keepPerDefinition: number;
  /** Image references Instances bound here run or are preparing. */
  wanted: () => Iterable<string>;
  /** Disk usage in percent of the filesystem holding the images; undefined when unknown. */
  diskUsagePercent: () => Promise<number | undefined>;
  highPercent: number;
  lowPercent: number;
  logger: Logger;
}

export interface ImageGcResult {
  /** Build images of this installation before and after the pass, and their bytes. */
  before: { images: number; bytes: number };
  after: { images: number; bytes: number };
  removed: string[];
  diskPercentBefore: number | undefined;
  diskPercentAfter: number | undefined;
}

/** One pass of image garbage collection; see the module comment. */
export async function collectImages(options: ImageGcOptions, signal?: AbortSignal): Promise<ImageGcResult> {
  const { docker, logger } = options;
  const call = signal ? { signal } : {};
  const selector: Record<string, string> = { [LABELS.installation]: options.installation };
  if (options.namespace) selector[SOURCE_LABELS.namespace] = options.namespace;
  const listed = (await docker.listImages(selector, call))
    .map((image) => ({
      image,
      tag: image.repoTags.find(isBuildTag),
      createdNs: BigInt(image.createdAt) * MS,
    }))
    .filter((entry): entry is BuildImage => entry.tag !== undefined);
  const images = await withSameSecondOrder(listed, docker, call);
  const before = totals(images.map((entry) => entry.image));
  const inUse = new Set<string>(options.wanted());
  for (const container of await docker.listContainers({}, call)) inUse.add(container.image);
  const used = (entry: { image: ImageSummary }) =>
    inUse.has(entry.image.id) || entry.image.repoTags.some((tag) => inUse.has(tag));

  const removed: string[] = [];
  const gone = new Set<string>();
  const remove = async (entry: BuildImage, why: string): Promise<void> => {
    try {
      const outcome = await docker.removeImage(entry.tag, call);
      if (outcome === "in-use") return;
      removed.push(entry.tag);
      gone.add(entry.image.id);
      logger.info("removed build image", { image: entry.tag, bytes: entry.image.sizeBytes, why });
    } catch (err) {
      logger.warn("removing a build image failed", { image: entry.tag, ...errorFields(err) });
    }
  };
  const kept: BuildImage[] = [];
  for (const entries of byRepository(images).values()) {
    entries.sort((a, b) => compareTimes(b.createdNs, a.createdNs));
    let newest = 0;
    for (const entry of entries) {
      if (used(entry)) continue;
      if (newest < options.keepPerDefinition) {
        newest++;
        kept.push(entry);
      } else {
        await remove(entry, `more than ${options.keepPerDefinition} build images of the Definition`);
      }
    }
  }

  const { diskPercentBefore, diskPercentAfter } = await relieveDiskPressure(options, kept, remove);
  const after = totals(images.filter((entry) => !gone.has(entry.image.id)).map((entry) => entry.image));
  return { before, after, removed, diskPercentBefore, diskPercentAfter };
}

/** A build image, with its creation time in nanoseconds since the epoch. */
type BuildImage = { image: ImageSummary; tag: string; createdNs: bigint };

const MS = 1_000_000n;

function compareTimes(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The engine lists creation times to the second, so builds made within one second would be
 * kept or removed in list order. Those are told apart by their own creation time, which
 * an inspect gives to the nanosecond; one that cannot be inspected keeps its listed time.
 */
async function withSameSecondOrder(
  images: BuildImage[],
  docker: Pick<DockerEngine, "inspectImage">,
  call: { signal?: AbortSignal },
): Promise<BuildImage[]> {
  const perSecond = new Map<bigint, number>();
  for (const entry of images) perSecond.set(entry.createdNs, (perSecond.get(entry.createdNs) ?? 0) + 1);
  const refined: BuildImage[] = [];
  for (const entry of images) {
    if ((perSecond.get(entry.createdNs) ?? 0) < 2) {
      refined.push(entry);
      continue;
    }
    const precise = await docker.inspectImage(entry.tag, call).then(
      (info) => nanosOf(info.createdAt),
      () => undefined,
    );
    refined.push(precise === undefined ? entry : { ...entry, createdNs: precise });
  }
  return refined;
}

/** Nanoseconds since the epoch of an RFC 3339 time with up to nine fractional digits. */
export function nanosOf(time: string): bigint | undefined {
  const match = /^([^.]+?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (!Number.isFinite(ms)) return undefined;
  return BigInt(ms) * MS + BigInt((match[2] ?? "").padEnd(9, "0"));
}

/** The build images of each Definition (one image repository per Definition). */
function byRepository(images: readonly BuildImage[]): Map<string, BuildImage[]> {
  const grouped = new Map<string, BuildImage[]>();
  for (const entry of images) {
    const repository = entry.tag.slice(0, entry.tag.lastIndexOf(":"));
    grouped.set(repository, [...(grouped.get(repository) ?? []), entry]);
  }
  return grouped;
}

/** Above the high threshold, removes the kept images oldest first until below the low one. */
async function relieveDiskPressure(
  options: ImageGcOptions,
  kept: BuildImage[],
  remove: (entry: BuildImage, why: string) => Promise<void>,
): Promise<{ diskPercentBefore: number | undefined; diskPercentAfter: number | undefined }> {
  const diskPercentBefore = await options.diskUsagePercent();
  let diskPercentAfter = diskPercentBefore;
  if (diskPercentBefore === undefined || diskPercentBefore < options.highPercent) {
    return { diskPercentBefore, diskPercentAfter };
  }
  options.logger.warn("image disk above the high threshold, removing older build images", {
    usedPercent: diskPercentBefore,
    highPercent: options.highPercent,
    lowPercent: options.lowPercent,
  });
  kept.sort((a, b) => compareTimes(a.createdNs, b.createdNs));
  for (const entry of kept) {
    if (diskPercentAfter !== undefined && diskPercentAfter < options.lowPercent) break;
    await remove(entry, `disk ${diskPercentAfter}% full (threshold ${options.highPercent}%)`);
    diskPercentAfter = await options.diskUsagePercent();
  }
  return { diskPercentBefore, diskPercentAfter };
}

function isBuildTag(tag: string): boolean {
  return tag.startsWith(`${BUILD_IMAGE_REPOSITORY_PREFIX}/`) && tag.lastIndexOf(":") > tag.indexOf("/");
}

function totals(images: ImageSummary[]): { images: number; bytes: number } {
  return { images: images.length, bytes: images.reduce((sum, image) => sum + image.sizeBytes, 0) };
}

/** Percent of the filesystem at `path` in use, as df counts it; undefined when it cannot be read. */
export async function filesystemUsagePercent(path: string): Promise<number | undefined> {
  try {
    const fs = await statfs(path);
    const total = fs.blocks;
    const used = fs.blocks - fs.bfree;
    const usable = used + fs.bavail;
    return usable > 0 && total > 0 ? Math.ceil((used / usable) * 100) : undefined;
  } catch {
    return undefined;
  }
}
