/**
 * The agent's disk garbage collection on a timer: built images (image-gc.ts), then what
 * building leaves in the state directory (the source module's collectSources). The first
 * pass runs once the Instance cache is complete, so nothing an Instance wants is taken for
 * unused; then one every interval, on the agent's clock.
 */
import { access } from "node:fs/promises";
import type { Instance } from "../api/types.js";
import type { DockerEngine } from "../docker/engine.js";
import type { Clock, TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import type { SourceGcResult } from "../source/source-gc.js";
import { collectSources } from "../source/source-gc.js";
import { sourceImageTag } from "../source/built-images.js";
import type { ImageGcSettings } from "./options.js";
import type { ImageGcResult } from "./image-gc.js";
import { collectImages, filesystemUsagePercent } from "./image-gc.js";
import { pinnedCommitOf } from "./images.js";

export interface DiskGcOptions {
  docker: Pick<DockerEngine, "listImages" | "removeImage" | "listContainers" | "inspectImage">;
  installation: string;
  /** The agent's namespace scope; "" for all. */
  namespace: string;
  stateDir: string;
  settings: ImageGcSettings;
  /** The Instances bound to this node (the informer's list), and whether that list is complete. */
  instances: () => readonly Instance[];
  waitForSync: (signal: AbortSignal) => Promise<boolean>;
  /** A path on the filesystem of the engine's images; resolved once at start. */
  diskPath: () => Promise<string>;
  clock: Clock;
  logger: Logger;
  /** Told the figures of every pass that ran. */
  onPass?: (pass: DiskGcPass) => void;
}

export interface DiskGcPass {
  images: ImageGcResult;
  sources: SourceGcResult;
}

export class DiskGarbageCollector {
  private timer: TimerHandle | undefined;
  private running: Promise<DiskGcPass | undefined> = Promise.resolve(undefined);
  private readonly abort = new AbortController();
  private diskPath: Promise<string> | undefined;

  constructor(private readonly options: DiskGcOptions) {}

  /** Runs the first pass once the cache is complete, then one per interval. */
  start(): void {
    void this.options.waitForSync(this.abort.signal).then(async (synced) => {
      if (synced) await this.runOnce();
      this.schedule();
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    await this.running.catch(() => undefined);
  }

  /** One pass (after any pass under way); undefined when it failed or the collector stopped. */
  runOnce(): Promise<DiskGcPass | undefined> {
    this.running = this.running.then(async () => {
      if (this.abort.signal.aborted) return undefined;
      try {
        return await this.pass();
      } catch (err) {
        this.options.logger.warn("disk garbage collection failed", errorFields(err));
        return undefined;
      }
    });
    return this.running;
  }

  private schedule(): void {
    if (this.abort.signal.aborted) return;
    this.timer = this.options.clock.setTimeout(() => {
      void this.runOnce().finally(() => this.schedule());
    }, this.options.settings.intervalMs);
  }

  private async pass(): Promise<DiskGcPass> {
    const { settings, logger } = this.options;
    const { wanted, repositories, definitions } = inUseBy(this.options.instances());
    this.diskPath ??= this.options.diskPath();
    const diskPath = await this.diskPath;
    const images = await collectImages(
      {
        docker: this.options.docker,
        installation: this.options.installation,
        ...(this.options.namespace ? { namespace: this.options.namespace } : {}),
        keepPerDefinition: settings.keepPerDefinition,
        wanted: () => wanted,
        diskUsagePercent: () => filesystemUsagePercent(diskPath),
        highPercent: settings.highPercent,
        lowPercent: settings.lowPercent,
        logger,
      },
      this.abort.signal,
    );
    const remaining = await this.options.docker.listImages({}, { signal: this.abort.signal });
    const sources = await collectSources({
      stateDir: this.options.stateDir,
      repositories,
      definitions,
      imageTags: new Set(remaining.flatMap((image) => image.repoTags)),
      logsKeptPerDefinition: settings.keepPerDefinition,
      logger,
    });
    const pass = { images, sources };
    logger.info("disk garbage collection done", passFields(pass));
    this.options.onPass?.(pass);
    return pass;
  }
}

/** What the Instances bound here still need: images, repositories and Definitions. */
function inUseBy(instances: readonly Instance[]): {
  wanted: Set<string>;
  repositories: Set<string>;
  definitions: Set<string>;
} {
  const wanted = new Set<string>();
  const repositories = new Set<string>();
  const definitions = new Set<string>();
  for (const instance of instances) {
    const namespace = instance.metadata.namespace ?? "";
    const template = instance.spec.template;
    if (!template) continue; // nothing runs from it here
    definitions.add(`${namespace}/${instance.spec.definition}`);
    if (template.image) wanted.add(template.image.name);
    const repository = template.repository;
    if (!repository) continue;
    repositories.add(repository.url);
    const commit = pinnedCommitOf(repository);
    try {
      if (commit) wanted.add(sourceImageTag(namespace, instance.spec.definition, repository, commit));
    } catch {
      // Names no build can have: nothing of it to keep.
    }
  }
  return { wanted, repositories, definitions };
}

function passFields({ images, sources }: DiskGcPass): Record<string, unknown> {
  return {
    buildImagesBefore: images.before.images,
    buildImagesAfter: images.after.images,
    buildImageBytesBefore: images.before.bytes,
    buildImageBytesAfter: images.after.bytes,
    diskPercent: images.diskPercentAfter,
    mirrorsRemoved: sources.mirrorsRemoved,
    checkoutsRemoved: sources.checkoutsRemoved,
    logsRemoved: sources.logsRemoved,
    sourceBytesBefore: sources.bytesBefore,
    sourceBytesAfter: sources.bytesAfter,
  };
}

/**
 * Where the disk thresholds of image garbage collection are measured: the flag's path, else
 * the engine's root directory when this machine has it (a local engine), else the state directory.
 */
export async function imageDiskPath(
  configured: string,
  stateDir: string,
  docker: Pick<DockerEngine, "info">,
): Promise<string> {
  if (configured) return configured;
  const rootDir = await docker
    .info()
    .then((info) => info.rootDir)
    .catch(() => "");
  if (
    rootDir &&
    (await access(rootDir).then(
      () => true,
      () => false,
    ))
  )
    return rootDir;
  return stateDir;
}
