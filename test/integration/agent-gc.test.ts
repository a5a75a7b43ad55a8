/**
 * What the agent may touch: labelled containers nobody wants are removed, containers
 * without Berth's labels never are, and a second agent for a held Node or URL is refused.
 */
import path from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { NodeConflictError } from "../../controller/src/agent/registration.js";
import { NODES } from "../../controller/src/kube/resources.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { env, images, run, testNamespace, waitFor } from "../harness/index.js";
import { agentWorld, containersOf, installationOf, runAgent } from "./agent-fixtures.js";

const DOCKER_CLI = "/usr/bin/docker";

test("an orphan labelled container is removed; an unlabelled one is left alone", async (t) => {
  const world = await agentWorld(t);
  // Made through Docker directly: a container Berth did not make, with no labels of Berth's.
  const foreign = await run(DOCKER_CLI, [
    "-H",
    env().dockerHost,
    "create",
    "--label",
    `${LABELS.node}=${world.nodeName}`,
    "--label",
    `${LABELS.instance}=ghost`,
    images.echo,
  ]);
  assert.equal(foreign.code, 0, foreign.stderr);
  const foreignId = foreign.stdout.trim();
  t.after(() => run(DOCKER_CLI, ["-H", env().dockerHost, "rm", "-f", foreignId]).then(() => undefined));
  // Labelled as Berth's, of this installation, for this node, for an Instance that does not exist.
  const orphanId = await world.docker.createContainer({
    image: images.echo,
    labels: {
      [LABELS.installation]: await installationOf(world),
      [LABELS.node]: world.nodeName,
      [LABELS.namespace]: world.namespace,
      [LABELS.instance]: "ghost",
    },
  });
  await world.docker.startContainer(orphanId);

  await runAgent(world);
  await waitFor("the orphan to be removed", async () => (await containersOf(world, "ghost")).length === 0);
  const inspected = await run(DOCKER_CLI, ["-H", env().dockerHost, "inspect", "-f", "{{.Id}}", foreignId]);
  assert.equal(inspected.code, 0, "the unlabelled container still exists");
  assert.equal(inspected.stdout.trim(), foreignId);
});

test("an agent scoped to one namespace collects only that namespace's orphans", async (t) => {
  const world = await agentWorld(t);
  const otherNamespace = await testNamespace(t, "berth-agent-other");
  const installation = await installationOf(world);
  const orphanIn = async (namespace: string): Promise<string> => {
    const id = await world.docker.createContainer({
      image: images.echo,
      labels: {
        [LABELS.installation]: installation,
        [LABELS.node]: world.nodeName,
        [LABELS.namespace]: namespace,
        [LABELS.instance]: "ghost",
      },
    });
    t.after(() => world.docker.removeContainer(id, { force: true }).then(() => undefined));
    await world.docker.startContainer(id);
    return id;
  };
  const inScope = await orphanIn(world.namespace);
  const outOfScope = await orphanIn(otherNamespace);

  await runAgent(world, { watchNamespace: world.namespace });
  await waitFor(
    "the in-scope orphan to be removed",
    async () => (await containersOf(world, "ghost")).length === 0,
  );
  // Another agent (or another Berth) may own the other namespace's Instances: never this one's to judge.
  const left = await world.docker.listContainers({ [LABELS.node]: world.nodeName });
  assert.deepEqual(
    left.map((c) => c.id),
    [outOfScope],
    `only the other namespace's container is left (the in-scope one was ${inScope.slice(0, 12)})`,
  );
});

test("a second live agent for the same Node, or for the same URL, is refused", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await assert.rejects(runAgent(world), (err: unknown) => {
    assert.ok(err instanceof NodeConflictError);
    assert.match(err.message, /held by another live agent/);
    return true;
  });
  // Its own state directory: the first agent's holds the first agent's lock.
  const twin = { ...world, nodeName: `${world.nodeName}-twin`, stateDir: path.join(world.stateDir, "twin") };
  await assert.rejects(runAgent(twin), (err: unknown) => {
    assert.ok(err instanceof NodeConflictError);
    assert.match(err.message, /already registered by Node/);
    return true;
  });
  await assert.rejects(
    world.client.get(NODES, { name: `${world.nodeName}-twin` }),
    (err: unknown) => isNotFound(err),
    "the refused Node was not created",
  );
});
