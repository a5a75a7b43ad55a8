import assert from "node:assert/strict";
import { test } from "node:test";
import type { RepositorySource } from "../../api/types.js";
import { DefinitionReconciler } from "./definition-controller.js";
import { NS, applyDefinition, instances, newWorld } from "../../testing/reconciler-fixtures.js";
import { REPOSITORY_RECHECK_MS } from "./repository-commits.js";

const COMMIT = "c".repeat(40);
const HANGING = "https://hangs.example/team/slow.git";

/** A pass that does not end within a second holds its worker: the test fails rather than waits. */
function withinASecond<T>(work: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    work,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not return`)), 1000).unref(),
    ),
  ]);
}

test("a repository whose ls-remote hangs holds no worker: the pass returns, and another Definition deploys", async (t) => {
  const world = await newWorld();
  t.after(() => world.stop());
  const asked: string[] = [];
  world.context.resolveCommit = (repository: RepositorySource) => {
    asked.push(repository.url);
    return repository.url === HANGING ? new Promise<string>(() => undefined) : Promise.resolve(COMMIT);
  };
  const definitions = new DefinitionReconciler(world.context);
  const woken: string[] = [];
  definitions.onRepositoryResolved = (key) => woken.push(key);
  await applyDefinition(world, "slow", { repository: { url: HANGING, ref: "main" }, replicas: 1 });
  await applyDefinition(world, "fast", {
    repository: { url: "https://git.example/team/fast.git", ref: "main" },
    replicas: 2,
  });

  assert.deepEqual(
    await withinASecond(world.reconcile(definitions, `${NS}/slow`), "the hanging Definition's pass"),
    { requeueAfterMs: REPOSITORY_RECHECK_MS },
  );
  assert.equal(instances(world, "slow").length, 0, "nothing is deployed before the ref resolves");

  await withinASecond(world.reconcile(definitions, `${NS}/fast`), "the other Definition's first pass");
  await world.settle();
  assert.deepEqual(
    woken,
    [`${NS}/fast`],
    "the ended lookup wakes its Definition; the hanging one's has not ended",
  );
  await withinASecond(world.reconcile(definitions, `${NS}/fast`), "the other Definition's pass");
  const created = instances(world, "fast");
  assert.equal(created.length, 2);
  assert.ok(
    created.every((i) => i.spec.template?.repository?.ref === COMMIT),
    "pinned to the resolved commit",
  );

  // Passes of the hanging Definition keep returning without asking git again.
  await withinASecond(world.reconcile(definitions, `${NS}/slow`), "a later pass");
  assert.equal(asked.filter((url) => url === HANGING).length, 1);
});
