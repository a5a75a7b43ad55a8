import { test } from "node:test";
import assert from "node:assert/strict";
import type { ContainerSummary, ImageInfo, ImageSummary } from "../docker/types.js";
import { nullLogger } from "../runtime/log.js";
import { collectImages, nanosOf, type ImageGcOptions } from "./image-gc.js";

const INSTALLATION = "inst-a";

/** An engine's image list, as the real one answers the label filter; removal drops a tag. */
class Images {
  readonly images: ImageSummary[] = [];
  readonly inUseByContainers = new Set<string>();
  readonly removed: string[] = [];
  /** Creation times as inspect gives them (to the nanosecond), where a test sets one. */
  readonly preciseCreated = new Map<string, string>();
  readonly inspected: string[] = [];
  add(
    tag: string,
    createdAt: number,
    labels: Record<string, string> = { "berth.dev/installation": INSTALLATION },
  ) {
    this.images.push({ id: `sha256:${tag}`, repoTags: [tag], labels, sizeBytes: 1000, createdAt });
  }
  listImages(labels: Record<string, string> = {}) {
    return Promise.resolve(
      this.images.filter((image) =>
        Object.entries(labels).every(([key, value]) => image.labels[key] === value),
      ),
    );
  }
  removeImage(tag: string) {
    if (this.inUseByContainers.has(tag)) return Promise.resolve("in-use" as const);
    const image = this.images.find((candidate) => candidate.repoTags.includes(tag));
    if (!image) return Promise.resolve("gone" as const);
    this.images.splice(this.images.indexOf(image), 1);
    this.removed.push(tag);
    return Promise.resolve("removed" as const);
  }
  listContainers(): Promise<ContainerSummary[]> {
    return Promise.resolve([]);
  }
  inspectImage(tag: string): Promise<ImageInfo> {
    this.inspected.push(tag);
    const image = this.images.find((candidate) => candidate.repoTags.includes(tag));
    if (!image) return Promise.reject(new Error(`no such image ${tag}`));
    const createdAt = this.preciseCreated.get(tag) ?? new Date(image.createdAt).toISOString();
    return Promise.resolve({
      id: image.id,
      repoTags: image.repoTags,
      labels: image.labels,
      exposedPorts: [],
      createdAt,
    });
  }
}

function options(images: Images, overrides: Partial<ImageGcOptions> = {}): ImageGcOptions {
  return {
    docker: images,
    installation: INSTALLATION,
    keepPerDefinition: 2,
    wanted: () => [],
    diskUsagePercent: () => Promise.resolve(50),
    highPercent: 85,
    lowPercent: 80,
    logger: nullLogger,
    ...overrides,
  };
}

test("the newest N build images of each Definition stay, with any in use; others, and no one else's, go", async () => {
  const images = new Images();
  for (let commit = 1; commit <= 5; commit++) images.add(`berth-build/ns/web:c${commit}-r`, commit);
  images.add("berth-build/ns/api:c1-r", 1);
  images.add("berth-build/ns/web:other-installation", 0, { "berth.dev/installation": "inst-b" });
  images.add("berth-build/ns/web:unlabelled", 0, {});
  images.add("team/tool:1", 0);
  images.inUseByContainers.add("berth-build/ns/web:c2-r");
  const result = await collectImages(options(images, { wanted: () => ["berth-build/ns/web:c1-r"] }));
  assert.deepEqual(images.removed, ["berth-build/ns/web:c3-r"]);
  assert.deepEqual(result.before, { images: 6, bytes: 6000 });
  assert.deepEqual(result.after, { images: 5, bytes: 5000 });
});

test("above the high threshold, older kept images go too, oldest first, until below the low one; never one in use", async () => {
  const images = new Images();
  for (let commit = 1; commit <= 4; commit++) images.add(`berth-build/ns/web:c${commit}-r`, commit);
  images.add("berth-build/ns/api:c1-r", 10);
  let usage = 90;
  const result = await collectImages(
    options(images, {
      keepPerDefinition: 3,
      wanted: () => ["berth-build/ns/web:c1-r"],
      // Each removal frees 4 points of the disk.
      diskUsagePercent: () => Promise.resolve(usage),
      docker: {
        listImages: (labels) => images.listImages(labels),
        listContainers: () => images.listContainers(),
        inspectImage: (tag) => images.inspectImage(tag),
        removeImage: async (tag) => {
          const outcome = await images.removeImage(tag);
          if (outcome === "removed") usage -= 4;
          return outcome;
        },
      },
    }),
  );
  assert.deepEqual(images.removed, [
    "berth-build/ns/web:c2-r",
    "berth-build/ns/web:c3-r",
    "berth-build/ns/web:c4-r",
  ]);
  assert.equal(result.diskPercentBefore, 90);
  assert.equal(result.diskPercentAfter, 78);
});

test("below the high threshold nothing beyond the per-Definition rule is removed", async () => {
  const images = new Images();
  for (let commit = 1; commit <= 2; commit++) images.add(`berth-build/ns/web:c${commit}-r`, commit);
  await collectImages(options(images, { diskUsagePercent: () => Promise.resolve(84) }));
  assert.deepEqual(images.removed, []);
});

test("an agent scoped to a namespace collects only that namespace's builds", async () => {
  const images = new Images();
  const labelled = (namespace: string) => ({
    "berth.dev/installation": INSTALLATION,
    "berth.dev/namespace": namespace,
  });
  for (let commit = 1; commit <= 3; commit++) {
    images.add(`berth-build/team-a/web:c${commit}-r`, commit, labelled("team-a"));
    images.add(`berth-build/team-b/web:c${commit}-r`, commit, labelled("team-b"));
  }
  await collectImages(options(images, { namespace: "team-a", keepPerDefinition: 1 }));
  assert.deepEqual(images.removed, ["berth-build/team-a/web:c2-r", "berth-build/team-a/web:c1-r"]);
});

test("builds made within one second are told apart by their own creation time: the later ones stay", async () => {
  const images = new Images();
  const second = Date.UTC(2026, 10, 30, 8, 41, 42);
  // Listed in the order that would keep the wrong two, all in the same second.
  const fractions = { c1: "000000100", c4: "9", c2: "5", c3: "75" };
  for (const [commit, fraction] of Object.entries(fractions)) {
    const tag = `berth-build/ns/web:${commit}-r`;
    images.add(tag, second);
    images.preciseCreated.set(tag, `2026-11-30T08:41:42.${fraction}Z`);
  }
  images.add("berth-build/ns/web:older-r", second - 1000);
  await collectImages(options(images));
  assert.deepEqual(images.removed.sort(), [
    "berth-build/ns/web:c1-r",
    "berth-build/ns/web:c2-r",
    "berth-build/ns/web:older-r",
  ]);
  assert.ok(
    !images.inspected.includes("berth-build/ns/web:older-r"),
    "an image alone in its second is not inspected",
  );
});

test("nanosOf reads RFC 3339 times with 0 to 9 fractional digits and an offset", () => {
  const base = BigInt(Date.UTC(2026, 10, 30, 8, 41, 42)) * 1_000_000n;
  assert.equal(nanosOf("2026-11-30T08:41:42Z"), base);
  assert.equal(nanosOf("2026-11-30T08:41:42.5Z"), base + 500_000_000n);
  assert.equal(nanosOf("2026-11-30T08:41:42.000000007Z"), base + 7n);
  assert.equal(nanosOf("2026-11-30T09:41:42.25+01:00"), base + 250_000_000n);
  assert.equal(nanosOf("not a time"), undefined);
});
