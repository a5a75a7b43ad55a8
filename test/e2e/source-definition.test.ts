/**
 * End to end: a Definition built from source, in the shape of manifests/examples/internet/test-b.yaml
 * (repository + containerFile, a fixed hostPort, no port), from a local git repository made
 * by hack/test-repo.sh. The controller and a real agent run in-process; the agent has an
 * extra engine of its own (hack/engines.sh), which builds the image from scratch. Moving the
 * branch gives a new deploymentId, and the new commit replaces the old one.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { startAgent, type RunningAgent } from "../../controller/src/agent/agent-role.js";
import { NODES } from "../../controller/src/kube/resources.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import {
  TEST_REPOSITORIES_DIR,
  httpGet,
  run,
  startExtraEngine,
  stopExtraEngine,
  testNamespace,
  testRepositoryScratch,
  waitFor,
} from "../harness/index.js";
import {
  applyDefinition,
  client,
  getDefinition,
  runController,
  waitForCondition,
} from "../integration/controller-fixtures.js";

/** The extra engine this test uses: it publishes ports on 127.0.0.37. */
const ENGINE = 37;
const HOST_PORT = 9998;

test("a repository Definition without a port is built, runs on its EXPOSEd port and rolls when the branch moves", async (t) => {
  const namespace = await testNamespace(t, "berth-e2e");
  const labels = { "berth.dev/test": randomBytes(4).toString("hex") };
  const nodeName = `e2e-source-${labels["berth.dev/test"]}`;

  const scratch = await testRepositoryScratch("berth-e2e-source-");
  const repoDir = join(scratch, "repo");
  const made = await run("bash", ["hack/test-repo.sh", repoDir]);
  assert.equal(made.code, 0, made.stderr);
  const url = made.stdout.trim().split("\n").pop() ?? "";

  // No images loaded: everything the Definition runs is built from the repository.
  const engine = await startExtraEngine(ENGINE, { loadImages: false });
  const running: { agent?: RunningAgent } = {};
  // The agent stops before its engine goes, or it would recreate the containers the stop removes.
  t.after(async () => {
    await running.agent?.stop();
    await stopExtraEngine(ENGINE);
    await client()
      .delete(NODES, { name: nodeName })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    await rm(scratch, { recursive: true, force: true });
  });

  await runController(t);
  running.agent = await startAgent(
    {
      nodeName,
      url: engine.url,
      address: engine.address,
      labels,
      allowFileRepositories: [TEST_REPOSITORIES_DIR],
    },
    { client: client(), logger: createLogger({ level: "error" }) },
  );

  await applyDefinition(namespace, "test-b", {
    repository: { url, containerFile: "Containerfile" },
    hostPort: HOST_PORT,
    placement: { nodeSelector: labels },
    // One node and a fixed host port: a surge Instance could never be placed beside the old one.
    rollout: { strategy: "Recreate" },
  });
  const ready = await waitForCondition(namespace, "test-b", "Ready", "True/InstancesReady", 120_000);
  const address = `http://${engine.address}:${HOST_PORT}`;
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
