/**
 * Disk garbage collection of an agent against the real Docker engine and real git: built
 * images beyond the newest N per Definition go (never one in use or wanted), a deleted
 * Definition's mirror and its old build logs go, and images Berth did not make (or another
 * installation made) stay. Prints the figures of each pass.
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/agent-disk-gc.test.ts
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Instance } from "../../controller/src/api/types.js";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { DiskGarbageCollector, type DiskGcPass } from "../../controller/src/agent/disk-gc.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { FakeClock } from "../../controller/src/testing/fake-clock.js";
import { ensureSourceImage, type SourceBuildDeps } from "../../controller/src/source/builder.js";
import { formatBytes } from "../../controller/src/source/source-disk.js";
import { GitFixture, TEST_FILE_REPOSITORIES } from "../../controller/src/testing/git-fixture.js";
import { env, images, run } from "../harness/index.js";
import { testLogger } from "./agent-fixtures.js";

const NAMESPACE = "itest";
const KEPT = 2;
const INTERVAL_MS = 60_000;

/** The tags of the engine's images of a tag repository (berth-build/<namespace>/<definition>). */
async function tagsOf(repository: string): Promise<string[]> {
  const listed = await run("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}", repository]);
  return listed.stdout.split("\n").filter(Boolean).sort();
}

async function imageExists(reference: string): Promise<boolean> {
  return (await run("docker", ["image", "inspect", reference])).code === 0;
}

function describe(pass: DiskGcPass): string {
  const { images: i, sources: s } = pass;
  return (
    `build images ${i.before.images} (${formatBytes(i.before.bytes)}) -> ${i.after.images} (${formatBytes(i.after.bytes)}), ` +
    `state dir ${formatBytes(s.bytesBefore)} -> ${formatBytes(s.bytesAfter)}, ` +
    `mirrors removed ${s.mirrorsRemoved}, logs removed ${s.logsRemoved}, checkouts removed ${s.checkoutsRemoved}`
  );
}

test("a branch that moves 5 times leaves at most N build images; a deleted Definition's mirror goes; user images stay", async (t) => {
  const runId = randomBytes(4).toString("hex");
  const docker = new DockerEngine({ url: env().dockerHost });
  const installation = `itest-gc-${runId}`;
  const definition = `gc-${runId}`;
  const otherDefinition = `gc-other-${runId}`;
  const repo = await GitFixture.create("berth-disk-gc-");
  const stateDir = await mkdtemp(join(tmpdir(), "berth-disk-gc-state-"));
  const deps: SourceBuildDeps = {
    docker,
    stateDir,
    git: { fileRepositories: TEST_FILE_REPOSITORIES },
    imageLabels: { [LABELS.installation]: installation },
  };
  const userTags = [`berth-gc-user-${runId}:kept`, `berth-build/${NAMESPACE}/${definition}:by-hand`];
  const container = `berth-gc-user-${runId}`;
  t.after(async () => {
    await run("docker", ["rm", "--force", container]);
    for (const repository of [
      `berth-build/${NAMESPACE}/${definition}`,
      `berth-build/${NAMESPACE}/${otherDefinition}`,
    ]) {
      const tags = await tagsOf(repository);
      if (tags.length) await run("docker", ["rmi", "--force", ...tags]);
    }
    await run("docker", ["rmi", "--force", ...userTags]);
    await repo.remove();
    await rm(stateDir, { recursive: true, force: true });
  });

  // A branch that moves five times: five commits, five builds (each with bytes of its own).
  const commits: string[] = [];
  const tags: string[] = [];
  for (let index = 0; index < 5; index++) {
    const commit = await repo.commit({
      Containerfile: "FROM scratch\nCOPY . /app/\nEXPOSE 8080\n",
      "index.html": `version ${index}\n`,
      blob: randomBytes(256 * 1024).toString("base64"),
    });
    const built = await ensureSourceImage(
      { namespace: NAMESPACE, definition, repository: { url: repo.url, ref: commit }, commit },
      deps,
    );
    commits.push(commit);
    tags.push(built.image);
  }
  // Another installation's build on the same engine, a person's tag on a build image, and a
  // person's image under a berth-build/ name: none of them is this agent's to remove.
  const other = await ensureSourceImage(
    { namespace: NAMESPACE, definition: otherDefinition, repository: { url: repo.url, ref: commits[0]! } },
    { ...deps, imageLabels: { [LABELS.installation]: `someone-else-${runId}` } },
  );
  assert.equal((await run("docker", ["tag", tags[2]!, userTags[0]!])).code, 0);
  assert.equal((await run("docker", ["tag", images.echo, userTags[1]!])).code, 0);
  // A container (not Berth's) uses the second build; an Instance bound here wants the first.
  assert.equal((await run("docker", ["create", "--name", container, tags[1]!, "/app/none"])).code, 0);
  let instances: Instance[] = [
    {
      apiVersion: "berth.dev/v1alpha1",
      kind: "Instance",
      metadata: { namespace: NAMESPACE, name: `${definition}-0` },
      spec: {
        definition,
        deploymentId: "gc",
        nodeName: "gc-node",
        template: { repository: { url: repo.url, ref: commits[0]! } },
      },
    },
  ];
  // A checkout left by a crash: old, and no build of this process uses it.
  const leftover = join(stateDir, "git", "checkouts", `${commits[0]!.slice(0, 12)}-crashed`);
  await mkdir(join(leftover, "tree"), { recursive: true });
  await utimes(leftover, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
  assert.equal((await readdir(join(stateDir, "git", "repos"))).length, 1, "the repository's mirror");

  const clock = new FakeClock();
  const passes: DiskGcPass[] = [];
  let passed: () => void = () => undefined;
  const nextPass = () => new Promise<void>((resolve) => (passed = resolve));
  const gc = new DiskGarbageCollector({
    docker,
    installation,
    namespace: "",
    stateDir,
    settings: {
      intervalMs: INTERVAL_MS,
      keepPerDefinition: KEPT,
      highPercent: 100,
      lowPercent: 99,
      diskPath: "",
    },
    instances: () => instances,
    waitForSync: () => Promise.resolve(true),
    diskPath: () => Promise.resolve(stateDir),
    clock,
    logger: testLogger(),
    onPass: (pass) => {
      passes.push(pass);
      passed();
    },
  });
  t.after(() => gc.stop());
  let pass = nextPass();
  gc.start();
  await pass;
  t.diagnostic(`first pass: ${describe(passes[0]!)}`);
  assert.deepEqual(
    await tagsOf(`berth-build/${NAMESPACE}/${definition}`),
    [tags[0]!, tags[1]!, tags[3]!, tags[4]!, userTags[1]!].sort(),
    "the wanted one, the one a container uses and the newest two stay; the third goes",
  );
  assert.ok(await imageExists(userTags[0]!), "a person's tag on a removed build's image keeps the image");
  assert.equal((await readdir(join(stateDir, "git", "checkouts"))).length, 0, "the crash's checkout is gone");
  assert.equal(
    (await readdir(join(stateDir, "git", "repos"))).length,
    1,
    "the mirror stays while Instances build from it",
  );

  // The Definition is deleted (its Instances go) and the container too; the next tick collects.
  instances = [];
  await run("docker", ["rm", "--force", container]);
  pass = nextPass();
  clock.advance(INTERVAL_MS);
  await pass;
  t.diagnostic(`second pass: ${describe(passes[1]!)}`);
  const left = (await tagsOf(`berth-build/${NAMESPACE}/${definition}`)).filter((tag) => tag !== userTags[1]);
  assert.ok(left.length <= KEPT, `at most ${KEPT} build images stay: ${left.join(", ")}`);
  assert.deepEqual(left, [tags[3]!, tags[4]!].sort(), "the newest ones");
  assert.equal(
    (await readdir(join(stateDir, "git", "repos"))).length,
    0,
    "the deleted Definition's mirror is gone",
  );
  const logs = await readdir(join(stateDir, "build-logs", NAMESPACE, definition));
  assert.deepEqual(
    logs.sort(),
    [tags[3]!, tags[4]!].map((tag) => `${tag.slice(tag.lastIndexOf(":") + 1)}.log`).sort(),
    "only the logs of images still there",
  );
  for (const reference of [...userTags, other.image]) {
    assert.ok(await imageExists(reference), `${reference} is not Berth's (this installation's) to remove`);
  }
  assert.ok(passes[1]!.images.after.bytes < passes[0]!.images.before.bytes);
});
