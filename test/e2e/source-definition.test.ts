/**
 * End to end: a Definition built from source, in the shape of manifests/examples/internet/test-b.yaml
 * (repository + containerFile, a fixed hostPort, no port), from a local git repository made
 * by hack/test-repo.sh. The controller and a real agent run in-process; the agent has an
 * extra engine of its own (hack/engines.sh), which builds the image from scratch. Moving the
 * branch gives a new deploymentId, and the new commit replaces the old one.
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  TEST_REPOSITORIES_DIR,
  httpGet,
  run,
  testNamespace,
  testRepositoryScratch,
  waitFor,
} from "../harness/index.js";
import {
  applyDefinition,
  getDefinition,
  runController,
  waitForCondition,
} from "../integration/controller-fixtures.js";
import { agentWorld, runAgent } from "../integration/agent-fixtures.js";

const HOST_PORT = 9998;

test("a repository Definition without a port is built, runs on its EXPOSEd port and rolls when the branch moves", async (t) => {
  const namespace = await testNamespace(t, "berth-e2e");
  const scratch = await testRepositoryScratch("berth-e2e-source-");
  t.after(() => rm(scratch, { recursive: true, force: true }));
  const repoDir = join(scratch, "repo");
  const made = await run("bash", ["hack/test-repo.sh", repoDir]);
  assert.equal(made.code, 0, made.stderr);
  const url = made.stdout.trim().split("\n").pop() ?? "";

  // No images loaded: everything the Definition runs is built from the repository. The
  // world's clean-up stops the agent before its engine goes, or it would recreate the
  // containers the stop removes.
  const world = await agentWorld(t, { engine: "extra", loadImages: false, namespace });
  const { labels } = world;
  await runController(t);
  await runAgent(world, { allowFileRepositories: [TEST_REPOSITORIES_DIR] });

  await applyDefinition(namespace, "test-b", {
    repository: { url, containerFile: "Containerfile" },
    hostPort: HOST_PORT,
    placement: { nodeSelector: labels },
    // One node and a fixed host port: a surge Instance could never be placed beside the old one.
    rollout: { strategy: "Recreate" },
  });
  const ready = await waitForCondition(namespace, "test-b", "Ready", "True/InstancesReady", 120_000);
  const address = `http://${world.address}:${HOST_PORT}`;
  assert.deepEqual(ready.status?.addresses, [address]);
  const first = await httpGet(`${address}/`);
  assert.equal(first?.status, 200);
  assert.equal(first?.body.trim(), "hello from source");
  const firstDeployment = ready.status?.deploymentId;
  assert.ok(firstDeployment);

  const git = (...args: string[]) =>
    run("git", ["-C", repoDir, "-c", "user.name=Berth Test", "-c", "user.email=test@berth.invalid", ...args]);
  await writeFile(join(repoDir, "www", "index.html"), "hello again\n");
  assert.equal((await git("commit", "--quiet", "--all", "--message", "move main")).code, 0);

  const moved = await waitFor(
    "a new deploymentId for the moved branch",
    async () => {
      const definition = await getDefinition(namespace, "test-b");
      const id = definition?.status?.deploymentId;
      return id && id !== firstDeployment ? id : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 1000 },
  );
  assert.notEqual(moved, firstDeployment);
  await waitFor(
    "the new commit to answer",
    async () => (await httpGet(`${address}/`))?.body.trim() === "hello again",
    { timeoutMs: 120_000, intervalMs: 500 },
  );
});
