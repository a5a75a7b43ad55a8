/**
 * A failed build outlives the agent. A repository whose build step fails is built once;
 * an agent restarted after that reads the failure from its state directory, so a replica
 * of the same commit it sees next fails at once with the same BuildFailed, without a
 * second build (no Building Event, no second build in the build log).
 */
import { readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { TEST_REPOSITORIES_DIR, run, testRepositoryScratch } from "../harness/index.js";
import {
  agentWorld,
  condition,
  createInstance,
  eventsOf,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

/** The build logs under a state directory, by path: their text and when each was last written. */
async function buildLogs(stateDir: string): Promise<Map<string, { text: string; mtimeMs: number }>> {
  const logs = new Map<string, { text: string; mtimeMs: number }>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.endsWith(".log")) {
        logs.set(full, { text: await readFile(full, "utf8"), mtimeMs: (await stat(full)).mtimeMs });
      }
    }
  };
  await walk(join(stateDir, "build-logs"));
  return logs;
}

test("an agent restarted after a failed build does not build the same commit again", async (t) => {
  const scratch = await testRepositoryScratch("berth-failed-build-");
  t.after(() => rm(scratch, { recursive: true, force: true }));
  const dir = join(scratch, "repo");
  const made = await run("bash", ["hack/test-repo.sh", dir]);
  assert.equal(made.code, 0, made.stderr);
  const url = made.stdout.trim().split("\n").pop() ?? "";
  const containerfile = await readFile(join(dir, "Containerfile"), "utf8");
  const failingStep = `RUN ["/bin/sh", "-c", "echo the-failing-step-ran-$((6*7)); exit 3"]`;
  await writeFile(
    join(dir, "Containerfile"),
    containerfile.replace("COPY www/", `${failingStep}\nCOPY www/`),
  );
  const git = (...args: string[]) =>
    run("git", ["-C", dir, "-c", "user.name=Berth Test", "-c", "user.email=test@berth.invalid", ...args]);
  assert.equal((await git("commit", "--quiet", "--all", "--message", "a failing step")).code, 0);
  const commit = (await git("rev-parse", "HEAD")).stdout.trim();
  // The controller pins every Instance's ref to a commit; so does this test.
  const template = { repository: { url, ref: commit } };

  const world = await agentWorld(t);
  const options = { allowFileRepositories: [TEST_REPOSITORIES_DIR] };
  const first = await runAgent(world, options);
  await createInstance(world, "broken-0", template, { definition: "broken" });
  const failed = (s: Parameters<typeof condition>[0]) =>
    condition(s, "ContainerReady")?.reason === "BuildFailed";
  await waitForStatus(world, "broken-0", "the build to fail", failed, 300_000);
  const before = await buildLogs(world.stateDir);
  assert.equal(before.size, 1, "one build, one log");
  assert.match([...before.values()][0]?.text ?? "", /the-failing-step-ran-42/, "the step ran");
  await first.stop();

  await runAgent(world, options);
  await createInstance(world, "broken-1", template, { definition: "broken" });
  const replica = await waitForStatus(world, "broken-1", "the replica to fail", failed, 120_000);
  assert.equal(replica.phase, "Failed");
  assert.match(condition(replica, "ContainerReady")?.message ?? "", /Step|exit|returned a non-zero code/);
  const events = await eventsOf(world, "broken-1");
  assert.deepEqual(
    events.filter((event) => event.reason === "Building").map((event) => event.note),
    [],
    "no build was started for the replica",
  );
  assert.deepEqual(await buildLogs(world.stateDir), before, "no second build rewrote the log");
});
