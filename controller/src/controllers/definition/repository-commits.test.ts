import { test } from "node:test";
import assert from "node:assert/strict";
import type { DefinitionSpec, RepositorySource } from "../../api/types.js";
import { FakeClock } from "../../testing/fake-clock.js";
import { SourceError } from "../../source/errors.js";
import { computeDeploymentId, runTemplateOf } from "./deployment-id.js";
import {
  REPOSITORY_RECHECK_MS,
  RepositoryCommits,
  pinnedRunTemplate,
  withSourceProblem,
} from "./repository-commits.js";
import type { ConditionSpec } from "./definition-status.js";

const COMMIT_A = "a".repeat(40);
const COMMIT_B = "b".repeat(40);
const repository: RepositorySource = { url: "https://git.example/team/web.git", ref: "main" };

/** A remote whose branch the test moves, counting the lookups. */
function remote() {
  const state = { head: COMMIT_A, lookups: 0, failure: undefined as Error | undefined };
  const resolve = (): Promise<string> => {
    state.lookups++;
    return state.failure ? Promise.reject(state.failure) : Promise.resolve(state.head);
  };
  return { state, resolve };
}

test("a moved branch is a new deploymentId; an image Definition's id does not change", () => {
  const spec: DefinitionSpec = { repository, hostPort: 9998 };
  const none = new Map<string, string | null>();
  const atA = computeDeploymentId(spec, none, { commit: COMMIT_A });
  assert.equal(atA, computeDeploymentId(spec, none, { commit: COMMIT_A }), "stable");
  assert.notEqual(atA, computeDeploymentId(spec, none, { commit: COMMIT_B }));
  const image: DefinitionSpec = { image: { name: "app:1", port: 8080 } };
  assert.equal(computeDeploymentId(image, none), computeDeploymentId(image, none, undefined));
  assert.equal(computeDeploymentId(image, none), "8ff3358bb62792a2a5f1", "ids of image Definitions are kept");
});

test("the Instances' template carries the commit, so every replica builds the same one", () => {
  const template = pinnedRunTemplate(runTemplateOf({ repository, replicas: 3 }), COMMIT_A);
  assert.deepEqual(template.repository, { url: repository.url, ref: COMMIT_A });
  assert.equal(repository.ref, "main", "the Definition's spec is not touched");
  const image = runTemplateOf({ image: { name: "app:1", port: 8080 } });
  assert.equal(pinnedRunTemplate(image, COMMIT_A), image);
});

/** Lets lookups that answer at once (the stand-in remote) end. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The answer once the lookup a first ask starts has ended. */
async function resolvedAfterLookup(commits: RepositoryCommits, source: RepositorySource) {
  for (let tries = 0; tries < 200; tries++) {
    const answer = commits.resolve(source);
    if (!("pending" in answer)) return answer;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error("the lookup did not end");
}

test("a resolved commit is reused for the recheck period; then the old one is given while a lookup runs", async () => {
  const clock = new FakeClock();
  const { state, resolve } = remote();
  const woken: string[] = [];
  const commits = new RepositoryCommits({ clock, resolve, onResolved: (key) => woken.push(key) });
  assert.deepEqual(commits.resolve(repository, "ns/web"), { pending: true }, "no answer is waited for");
  await settled();
  assert.deepEqual(woken, ["ns/web"], "the Definition that asked is woken");
  assert.deepEqual(commits.resolve(repository, "ns/web"), { commit: COMMIT_A });
  state.head = COMMIT_B;
  clock.advance(REPOSITORY_RECHECK_MS - 1);
  assert.deepEqual(commits.resolve(repository, "ns/web"), { commit: COMMIT_A });
  assert.equal(state.lookups, 1);
  clock.advance(1);
  assert.deepEqual(commits.resolve(repository, "ns/web"), { commit: COMMIT_A }, "the last answer meanwhile");
  await settled();
  assert.deepEqual(woken, ["ns/web", "ns/web"], "woken again when the new answer is there");
  assert.deepEqual(commits.resolve(repository, "ns/web"), { commit: COMMIT_B }, "the moved branch is seen");
  assert.equal(state.lookups, 2);
});

test("an unreachable repository is reported, asked again only after the recheck period", async () => {
  const clock = new FakeClock();
  const { state, resolve } = remote();
  const commits = new RepositoryCommits({ clock, resolve });
  state.failure = new SourceError(
    "RepositoryUnreachable",
    "git could not reach https://git.example/team/web.git",
  );
  const first = await resolvedAfterLookup(commits, repository);
  assert.ok("error" in first && first.error.reason === "RepositoryUnreachable");
  clock.advance(1000);
  assert.ok("error" in commits.resolve(repository));
  assert.equal(state.lookups, 1, "a failure is not looked up again on every pass");
  state.failure = undefined;
  clock.advance(REPOSITORY_RECHECK_MS);
  assert.ok("error" in commits.resolve(repository), "the last answer while the new lookup runs");
  await settled();
  assert.deepEqual(commits.resolve(repository), { commit: COMMIT_A });

  state.failure = new Error("spawn git ENOENT");
  clock.advance(REPOSITORY_RECHECK_MS);
  commits.resolve(repository);
  await settled();
  assert.throws(() => commits.resolve(repository), /ENOENT/, "not a person's problem: the queue retries");
});

test("a repository that never answers holds up no reconcile, and counts as unreachable after the lookup timeout", async () => {
  const clock = new FakeClock();
  const hanging: RepositorySource = { url: "https://hangs.example/team/web.git", ref: "main" };
  const woken: string[] = [];
  const commits = new RepositoryCommits({
    clock,
    resolve: (source) =>
      source.url === hanging.url ? new Promise<string>(() => undefined) : Promise.resolve(COMMIT_A),
    onResolved: (key) => woken.push(key),
    lookupTimeoutMs: 50,
  });
  assert.deepEqual(commits.resolve(hanging, "ns/slow"), { pending: true });
  assert.deepEqual(
    await resolvedAfterLookup(commits, repository),
    { commit: COMMIT_A },
    "another one answers",
  );
  assert.deepEqual(woken, [], "not before the lookup timeout");
  await clock.advanceAsync(50);
  assert.deepEqual(woken, ["ns/slow"]);
  const answer = commits.resolve(hanging, "ns/slow");
  assert.ok("error" in answer && answer.error.reason === "RepositoryUnreachable", JSON.stringify(answer));
  assert.match(answer.error.message, /gave no answer within 0 s/);
});

test("an unresolved ref makes the Definition Degraded with the source's reason", () => {
  const conditions: ConditionSpec[] = [
    { type: "Ready", status: "True", reason: "InstancesReady", message: "1/1 ready" },
    { type: "Progressing", status: "True", reason: "RolloutComplete", message: "done" },
    { type: "Degraded", status: "False", reason: "AsExpected", message: "Nothing needs attention." },
  ];
  const problem = new SourceError("RefNotFound", 'ref "mian" is not a branch, tag or commit of repository x');
  const result = withSourceProblem(conditions, problem);
  assert.deepEqual(result[0], conditions[0], "the running Instances still say whether it is ready");
  assert.equal(result[1]?.status, "False");
  assert.equal(result[1]?.reason, "RefNotFound");
  assert.deepEqual(result[2], {
    type: "Degraded",
    status: "True",
    reason: "RefNotFound",
    message: problem.message,
  });
});

test("a URL with credentials is refused before git runs, and its conditions never show them", async () => {
  const token = "ghp_0123456789SECRET";
  const commits = new RepositoryCommits({ clock: new FakeClock(0) });
  const conditions: ConditionSpec[] = [
    { type: "Progressing", status: "True", reason: "RolloutComplete", message: "done" },
    { type: "Degraded", status: "False", reason: "AsExpected", message: "Nothing needs attention." },
  ];
  for (const url of [
    `https://${token}@127.0.0.1:1/team/web.git`,
    `https://u:${token}@127.0.0.1:1/team/web.git`,
  ]) {
    const resolution = await resolvedAfterLookup(commits, { url });
    assert.ok("error" in resolution);
    assert.equal(resolution.error.reason, "RepositoryURLRefused");
    const shown = JSON.stringify(withSourceProblem(conditions, resolution.error));
    assert.ok(!shown.includes(token), shown);
    assert.match(shown, /https:\/\/\*\*\*@127\.0\.0\.1:1\/team\/web\.git/);
  }
});

test("the controller refuses file:// repositories unless they are under an allowed directory", async () => {
  const refusing = new RepositoryCommits({ clock: new FakeClock(0) });
  const refused = await resolvedAfterLookup(refusing, { url: "file:///srv/git/app" });
  assert.ok("error" in refused && refused.error.reason === "RepositoryURLRefused");
  assert.match(refused.error.message, /--allow-file-repositories/);
  const elsewhere = new RepositoryCommits({
    clock: new FakeClock(0),
    fileRepositories: { allowed: ["/srv/git"], refused: [] },
  });
  const outside = await resolvedAfterLookup(elsewhere, { url: "file:///srv/other/app" });
  assert.ok("error" in outside && outside.error.reason === "RepositoryURLRefused");
});
