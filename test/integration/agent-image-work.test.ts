/**
 * Image work off the reconcile workers, against the real API server, Docker engine and git:
 * builds that take minutes hold none of the agent's workers, so another Instance on the
 * node starts and a building Instance that is deleted goes, both within seconds; the
 * deleted one's build is cancelled in the engine (its RUN container gone) and its checkout
 * removed.
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/agent-image-work.test.ts
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INSTANCES } from "../../controller/src/kube/resources.js";
import { GitFixture, TEST_REPOSITORIES_DIR } from "../../controller/src/testing/git-fixture.js";
import { images, run, waitFor } from "../harness/index.js";
import { agentWorld, createInstance, getInstance, runAgent, waitForStatus } from "./agent-fixtures.js";

const echo = {
  image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" as const },
  healthCheck: { type: "http" as const, path: "/healthz", intervalSeconds: 1, timeoutSeconds: 1 },
};
/** Builds that would run this long: far longer than any bound below. */
const BUILD_SLEEP_SECONDS = 600;
/**
 * What "within seconds" allows: an idle agent starts an echo Instance in about a second and
 * finalizes one in less (resync 3 s, stop grace 2 s); the margin is for a loaded machine.
 * Without the pool, both would wait for a build: minutes.
 */
const BOUND_MS = 45_000;

/** Build containers of the engine whose command is `sleep <seconds>` (the classic builder's RUN). */
async function buildContainersSleeping(seconds: number): Promise<string[]> {
  const listed = await run("docker", ["ps", "--all", "--no-trunc", "--format", "{{.ID}} {{.Command}}"]);
  return listed.stdout
    .split("\n")
    .filter((line) => line.includes(`sleep ${seconds}`))
    .map((line) => line.split(" ")[0] ?? "");
}

test("four builds that take minutes starve nothing: another Instance starts, a deleted building one goes and its build stops", async (t) => {
  const world = await agentWorld(t);
  const repo = await GitFixture.create("berth-image-work-");
  await copyFile("/bin/busybox", join(repo.dir, "busybox")); // Debian's busybox-static, as hack/test-repo.sh uses

  // Four commits, each a build that sleeps a length of its own, so each build's RUN
  // container can be told apart in the engine.
  const base = BUILD_SLEEP_SECONDS + randomInt(1000, 9000) * 4;
  const builds: Array<{ name: string; commit: string; sleep: number }> = [];
  for (let index = 0; index < 4; index++) {
    const sleep = base + index;
    const commit = await repo.commit({
      Containerfile: [
        "FROM scratch",
        "COPY busybox /bin/busybox",
        `RUN ["/bin/busybox", "sleep", "${sleep}"]`,
        "EXPOSE 8080",
        'ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-p", "8080"]',
      ].join("\n"),
    });
    builds.push({ name: `slow-${index}`, commit, sleep });
  }
  t.after(async () => {
    // The agents stop first (cancelling their builds); whatever a failed test left goes here.
    for (const build of builds) {
      const ids = await buildContainersSleeping(build.sleep);
      if (ids.length) await run("docker", ["rm", "--force", ...ids]);
    }
    await repo.remove();
  });
  const stateDir = await mkdtemp(join(tmpdir(), "berth-image-work-state-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  await runAgent(world, {
    stateDir,
    allowFileRepositories: [TEST_REPOSITORIES_DIR],
    workers: 4,
    imageWork: 4,
  });

  for (const build of builds) {
    await createInstance(world, build.name, { repository: { url: repo.url, ref: build.commit } });
  }
  for (const build of builds) {
    await waitForStatus(world, build.name, `${build.name} Building`, (s) => s.phase === "Building");
  }
  await waitFor(
    "each build's RUN sleep running in the engine",
    async () => {
      for (const build of builds)
        if ((await buildContainersSleeping(build.sleep)).length === 0) return undefined;
      return true;
    },
    { timeoutMs: 120_000 },
  );

  // Every worker would be held by a build if builds ran on them: this start needs one.
  const started = Date.now();
  await createInstance(world, "echo", echo);
  await waitForStatus(
    world,
    "echo",
    "echo Running and ready",
    (s) => s.phase === "Running" && s.ready === true,
    BOUND_MS,
  );
  t.diagnostic(`echo ready ${Date.now() - started} ms after it was created, beside 4 running builds`);

  // Deleting a building Instance: it goes, and so does its build.
  const [deleted, ...others] = builds;
  const deleting = Date.now();
  await world.client.delete(INSTANCES, { namespace: world.namespace, name: deleted!.name });
  await waitFor(
    "the deleted building Instance gone",
    async () => !(await getInstance(world, deleted!.name)),
    {
      timeoutMs: BOUND_MS,
    },
  );
  t.diagnostic(`deleted building Instance gone after ${Date.now() - deleting} ms`);
  await waitFor(
    "the deleted Instance's build container gone from the engine",
    async () => (await buildContainersSleeping(deleted!.sleep)).length === 0,
    { timeoutMs: BOUND_MS },
  );
  const checkouts = await readdir(join(stateDir, "git", "checkouts")).catch(() => [] as string[]);
  assert.ok(
    !checkouts.some((name) => name.startsWith(deleted!.commit.slice(0, 12))),
    `the cancelled build's checkout is removed: ${checkouts.join(", ")}`,
  );
  for (const build of others) {
    assert.equal(
      (await getInstance(world, build.name))?.status?.phase,
      "Building",
      `${build.name} still builds`,
    );
    assert.equal((await buildContainersSleeping(build.sleep)).length, 1, `${build.name}'s build goes on`);
  }
});
