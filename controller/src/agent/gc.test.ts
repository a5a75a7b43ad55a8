import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "../api/types.js";
import { LABELS } from "../api/vocabulary.js";
import type { ContainerSummary } from "../docker/types.js";
import { MemoryLogger, nullLogger } from "../runtime/log.js";
import type { AgentDocker } from "./docker-port.js";
import { collectContainers } from "./gc.js";
import { UnclaimedContainerLog } from "./installation.js";

function summary(id: string, labels: Record<string, string>): ContainerSummary {
  return { id, name: id, image: "app:1", labels, state: "running", status: "Up", ports: [] };
}

const mine = (instance: string) => ({
  [LABELS.managedBy]: "berth",
  [LABELS.installation]: "inst-a",
  [LABELS.node]: "node-a",
  [LABELS.namespace]: "ns",
  [LABELS.instance]: instance,
});

function fakeDocker(containers: ContainerSummary[], removed: string[]): AgentDocker {
  const unused = () => Promise.reject(new Error("not used here"));
  return {
    url: "unix:///fake.sock",
    listContainers: (labels: Record<string, string> = {}) =>
      Promise.resolve(containers.filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v))),
    stopContainer: () => Promise.resolve(),
    removeContainer: (id: string) => {
      removed.push(id);
      return Promise.resolve(true);
    },
    ping: unused,
    version: unused,
    imageExists: unused,
    inspectImage: unused,
    pullImage: unused,
    inspectDistribution: unused,
    createContainer: unused,
    startContainer: unused,
    inspectContainer: unused,
    exec: unused,
  };
}

const wanted: Instance = {
  apiVersion: "berth.dev/v1alpha1",
  kind: "Instance",
  metadata: { namespace: "ns", name: "web-0" },
  spec: { definition: "web", deploymentId: "d", nodeName: "node-a", template: {} },
};

/** The Instance cache of these tests: only ns/web-0 is wanted. */
const onlyWanted = {
  get: (namespace: string | undefined, name: string) =>
    namespace === "ns" && name === "web-0" ? wanted : undefined,
};

/** A collection pass of installation inst-a on node-a over `docker`, with a complete cache. */
function passOver(
  docker: AgentDocker,
  changes: Partial<Parameters<typeof collectContainers>[0]> = {},
): Parameters<typeof collectContainers>[0] {
  return {
    nodeName: "node-a",
    installation: "inst-a",
    unclaimed: new UnclaimedContainerLog(nullLogger),
    docker,
    instances: onlyWanted,
    hasSynced: () => true,
    stopGraceSeconds: 1,
    logger: nullLogger,
    ...changes,
  };
}

test("containers whose Instance is gone are removed; wanted ones are adopted; other nodes' are not seen", async () => {
  const removed: string[] = [];
  const docker = fakeDocker(
    [
      summary("keep", mine("web-0")),
      summary("orphan", mine("web-9")),
      summary("elsewhere", { ...mine("web-9"), [LABELS.node]: "node-b" }),
    ],
    removed,
  );
  const result = await collectContainers(passOver(docker));
  assert.deepEqual(result, { adopted: ["ns/web-0"], removed: ["orphan"] });
  assert.deepEqual(removed, ["orphan"]);
});

test("nothing is judged before the Instance cache is complete", async () => {
  const removed: string[] = [];
  const docker = fakeDocker([summary("orphan", mine("web-9"))], removed);
  const result = await collectContainers(passOver(docker, { hasSynced: () => false }));
  assert.deepEqual(result, { adopted: [], removed: [] });
  assert.deepEqual(removed, []);
});

test("another installation's containers on the same node and engine are never touched, even for a wanted name", async () => {
  const removed: string[] = [];
  const theirs = (instance: string) => ({ ...mine(instance), [LABELS.installation]: "inst-b" });
  const docker = fakeDocker(
    [summary("their-orphan", theirs("web-9")), summary("their-web", theirs("web-0"))],
    removed,
  );
  const result = await collectContainers(passOver(docker));
  assert.deepEqual(result, { adopted: [], removed: [] });
  assert.deepEqual(removed, []);
});

test("containers from before the installation label are adopted when wanted, else left and logged once", async () => {
  const removed: string[] = [];
  const logger = new MemoryLogger();
  const unlabelled = (instance: string) => {
    const labels: Record<string, string> = mine(instance);
    delete labels[LABELS.installation];
    return labels;
  };
  const docker = fakeDocker(
    [summary("old-web", unlabelled("web-0")), summary("old-orphan", unlabelled("web-9"))],
    removed,
  );
  const options = passOver(docker, { unclaimed: new UnclaimedContainerLog(logger) });
  assert.deepEqual(await collectContainers(options), { adopted: ["ns/web-0"], removed: [] });
  assert.deepEqual(await collectContainers(options), { adopted: ["ns/web-0"], removed: [] });
  assert.deepEqual(removed, []);
  const warnings = logger.lines.filter((line) => line.level === "warn");
  assert.equal(warnings.length, 1, "one warning for the unwanted one, not one per pass");
  assert.equal(warnings[0]?.fields.containerId, "old-orphan");
  assert.match(warnings[0]?.message ?? "", /without an installation label/);
});
