/**
 * Definitions built from source, against a real Docker engine and real local git
 * repositories (file:// URLs) made by hack/test-repo.sh.
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/source-build.test.ts
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RepositorySource } from "../../controller/src/api/types.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { hostPortFor } from "../../controller/src/docker/types.js";
import { type BuildOptions } from "../../controller/src/docker/options.js";
import {
  ensureSourceImage,
  type BuildEngine,
  type SourceBuildDeps,
} from "../../controller/src/source/builder.js";
import { resolveRepositoryCommit } from "../../controller/src/source/git.js";
import { SourceBuildError, SourceError } from "../../controller/src/source/errors.js";
import {
  TEST_FILE_REPOSITORIES,
  env,
  httpGet,
  kubectl,
  run,
  testNamespace,
  testRepositoryScratch,
  waitFor,
} from "../harness/index.js";
import { applyDefinition, getDefinition, runController, waitForCondition } from "./controller-fixtures.js";

const NAMESPACE = "itest";
const runId = randomBytes(4).toString("hex");
const RUN_LABEL = "berth.dev/test-run";

/** The real engine, with a count of the builds that reach it. */
class CountingEngine implements BuildEngine {
  builds = 0;
  constructor(readonly engine: DockerEngine) {}
  inspectImage(image: string) {
    return this.engine.inspectImage(image);
  }
  buildImage(options: BuildOptions) {
    this.builds += 1;
    return this.engine.buildImage(options);
  }
}

interface Fixture {
  url: string;
  dir: string;
  deps: SourceBuildDeps & { docker: CountingEngine };
  engine: DockerEngine;
  /** A Definition name unique to this run, so no image from an earlier run is found. */
  definition(name: string): string;
  git(...args: string[]): Promise<string>;
  /** Commits files on a new branch from main; returns the commit. */
  branch(name: string, files: Record<string, string>): Promise<string>;
}

async function fixture(t: TestContext): Promise<Fixture> {
  const { dockerHost } = env();
  const scratch = await testRepositoryScratch("berth-source-it-");
  const dir = join(scratch, "repo");
  const made = await run("bash", ["hack/test-repo.sh", dir]);
  assert.equal(made.code, 0, made.stderr);
  const url = made.stdout.trim().split("\n").pop() ?? "";
  const engine = new DockerEngine({ url: dockerHost });
  const deps = {
    docker: new CountingEngine(engine),
    stateDir: join(scratch, "state"),
    git: { fileRepositories: TEST_FILE_REPOSITORIES },
  };
  const definitions: string[] = [];
  t.after(async () => {
    // Containers first: an image in use is not removed.
    const containers = await run("docker", [
      "ps",
      "--all",
      "--quiet",
      "--filter",
      `label=${RUN_LABEL}=${runId}`,
    ]);
    const containerIds = containers.stdout.split("\n").filter(Boolean);
    if (containerIds.length) await run("docker", ["rm", "--force", ...containerIds]);
    // Images this test built, found by the tag repository each Definition name gives.
    for (const definition of definitions) {
      const listed = await run("docker", ["images", "--quiet", `berth-build/${NAMESPACE}/${definition}`]);
      const ids = [...new Set(listed.stdout.split("\n").filter(Boolean))];
      if (ids.length) await run("docker", ["rmi", "--force", ...ids]);
    }
    await rm(scratch, { recursive: true, force: true });
  });
  const git = async (...args: string[]) => {
    const res = await run("git", [
      "-C",
      dir,
      "-c",
      "user.name=Berth Test",
      "-c",
      "user.email=test@berth.invalid",
      ...args,
    ]);
    assert.equal(res.code, 0, `git ${args.join(" ")}: ${res.stderr}`);
    return res.stdout.trim();
  };
  return {
    url,
    dir,
    deps,
    engine,
    definition(name) {
      const unique = `${name}-${runId}`;
      definitions.push(unique);
      return unique;
    },
    git,
    async branch(name, files) {
      await git("checkout", "--quiet", "-b", name, "main");
      for (const [path, content] of Object.entries(files)) await writeFile(join(dir, path), content);
      await git("add", "--all");
      await git("commit", "--quiet", "--message", `branch ${name}`);
      const commit = await git("rev-parse", "HEAD");
      await git("checkout", "--quiet", "main");
      return commit;
    },
  };
}

function rejectsWithReason(reason: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SourceError, `expected a SourceError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

test("a repository is built once per commit, EXPOSEs its port and serves HTTP", async (t) => {
  const f = await fixture(t);
  const definition = f.definition("web");
  const repository: RepositorySource = { url: f.url, containerFile: "Containerfile" };

  const built = await ensureSourceImage({ namespace: NAMESPACE, definition, repository }, f.deps);
  assert.equal(built.reused, false);
  assert.equal(built.port, 8080, "the single EXPOSEd port is the service port");
  assert.equal(built.commit, await f.git("rev-parse", "main"));
  assert.ok(
    built.image.startsWith(`berth-build/${NAMESPACE}/${definition}:${built.commit.slice(0, 12)}`),
    built.image,
  );
  assert.equal(f.deps.docker.builds, 1);
  const log = await readFile(built.logPath, "utf8");
  assert.match(log, /Step \d+\/\d+ : EXPOSE 8080/);

  // The same commit again (a replica, a restart): the image is reused, nothing is built.
  const again = await ensureSourceImage({ namespace: NAMESPACE, definition, repository }, f.deps);
  assert.equal(again.reused, true);
  assert.equal(again.imageId, built.imageId);
  assert.equal(f.deps.docker.builds, 1);

  // It runs like any image (the fixture removes the container).
  const id = await f.engine.createContainer({
    image: built.image,
    labels: { [RUN_LABEL]: runId },
    ports: [{ containerPort: built.port, hostIp: "127.0.0.1" }],
  });
  await f.engine.startContainer(id);
  const hostPort = hostPortFor((await f.engine.inspectContainer(id)).ports, built.port);
  assert.ok(hostPort);
  const answer = await waitFor("the built service to answer", async () => {
    const res = await httpGet(`http://127.0.0.1:${hostPort}/`);
    return res?.status === 200 ? res : undefined;
  });
  assert.equal(answer.body.trim(), "hello from source");
});

test("refs by branch, tag and commit; a moved branch gives a new commit and a new image", async (t) => {
  const f = await fixture(t);
  const definition = f.definition("refs");
  const first = await f.git("rev-parse", "main");

  assert.equal(await resolveRepositoryCommit({ url: f.url }, f.deps.git), first);
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: "main" }, f.deps.git), first);
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: "v1" }, f.deps.git), first);
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: first }, f.deps.git), first);

  const byBranch = await ensureSourceImage(
    { namespace: NAMESPACE, definition, repository: { url: f.url, ref: "main" } },
    f.deps,
  );
  const byTag = await ensureSourceImage(
    { namespace: NAMESPACE, definition, repository: { url: f.url, ref: "v1" } },
    f.deps,
  );
  const byCommit = await ensureSourceImage(
    { namespace: NAMESPACE, definition, repository: { url: f.url, ref: first } },
    f.deps,
  );
  assert.equal(byTag.imageId, byBranch.imageId);
  assert.equal(byCommit.imageId, byBranch.imageId);
  assert.equal(f.deps.docker.builds, 1, "one commit, one build");

  await writeFile(join(f.dir, "www", "index.html"), "hello again\n");
  await f.git("commit", "--quiet", "--all", "--message", "move main");
  const moved = await resolveRepositoryCommit({ url: f.url, ref: "main" }, f.deps.git);
  assert.notEqual(moved, first);
  const rebuilt = await ensureSourceImage(
    { namespace: NAMESPACE, definition, repository: { url: f.url, ref: "main" } },
    f.deps,
  );
  assert.equal(rebuilt.commit, moved);
  assert.notEqual(rebuilt.image, byBranch.image);
  assert.notEqual(rebuilt.imageId, byBranch.imageId);
  assert.equal(f.deps.docker.builds, 2);
  // The tag still points at the old commit.
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: "v1" }, f.deps.git), first);
});

test("failures carry reasons a person can act on", async (t) => {
  const f = await fixture(t);
  const definition = f.definition("broken");
  const containerfile = await readFile(join(f.dir, "Containerfile"), "utf8");
  await f.branch("failing-step", {
    Containerfile: containerfile.replace(
      "COPY www/",
      'RUN ["/bin/sh", "-c", "echo about to fail; exit 7"]\nCOPY www/',
    ),
  });
  await f.branch("no-port", { Containerfile: containerfile.replace(/^EXPOSE .*$/m, "") });
  await f.branch("two-ports", { Containerfile: containerfile.replace(/^EXPOSE .*$/m, "EXPOSE 8080 9090") });
  const ensure = (repository: RepositorySource) =>
    ensureSourceImage({ namespace: NAMESPACE, definition, repository }, f.deps);

  await assert.rejects(
    ensure({ url: f.url, containerFile: "build/Containerfile" }),
    rejectsWithReason("ContainerFileMissing", /build\/Containerfile/),
  );
  await assert.rejects(
    ensure({ url: f.url, ref: "no-such-branch" }),
    rejectsWithReason("RefNotFound", /no-such-branch/),
  );
  await assert.rejects(ensure({ url: `${f.url}-missing` }), rejectsWithReason("RepositoryUnreachable"));
  await assert.rejects(ensure({ url: f.url, ref: "no-port" }), rejectsWithReason("NoExposedPort", /EXPOSE/));
  await assert.rejects(
    ensure({ url: f.url, ref: "two-ports" }),
    rejectsWithReason("AmbiguousExposedPort", /8080, 9090/),
  );
  assert.equal(
    (await ensure({ url: f.url, ref: "two-ports", port: 9090 })).port,
    9090,
    "repository.port settles it",
  );

  const failed = await ensure({ url: f.url, ref: "failing-step" }).then(
    () => assert.fail("the build should fail"),
    (err: unknown) => err,
  );
  assert.ok(failed instanceof SourceBuildError, String(failed));
  assert.equal(failed.reason, "BuildFailed");
  assert.match(failed.step ?? "", /^Step \d+\/\d+ : RUN .*exit 7/);
  assert.match(failed.message, /exit 7/);
  assert.ok(
    failed.lastLines.some((line) => line.includes("about to fail")),
    failed.lastLines.join("\n"),
  );
  assert.match(await readFile(failed.logPath, "utf8"), /about to fail/);
});

test("a URL with a disallowed scheme is refused before git runs", async (t) => {
  const f = await fixture(t);
  const marker = join(f.dir, "..", `pwned-${runId}`);
  for (const url of [
    "ext::sh",
    `ext::sh -c touch% ${marker}`,
    `ext::touch ${marker}`,
    "http://127.0.0.1:1/repo.git",
    `--upload-pack=touch ${marker}`,
  ]) {
    await assert.rejects(
      ensureSourceImage(
        { namespace: NAMESPACE, definition: f.definition("refused"), repository: { url } },
        f.deps,
      ),
      rejectsWithReason("RepositoryURLRefused"),
      url,
    );
    await assert.rejects(resolveRepositoryCommit({ url }), rejectsWithReason("RepositoryURLRefused"), url);
  }
  await assert.rejects(access(marker), { code: "ENOENT" }, "no command from the URL ran");
  assert.equal(f.deps.docker.builds, 0);
});

test("a link named like the copied containerFile is never written through, and the build works", async (t) => {
  const f = await fixture(t);
  const definition = f.definition("linked");
  // The canary is outside the state directory and outside the repository.
  const outside = await mkdtemp(join(tmpdir(), "berth-canary-"));
  t.after(() => rm(outside, { recursive: true, force: true }));
  const canary = join(outside, "canary");
  await writeFile(canary, "canary: untouched\n");
  // The build context is site/, the containerFile outside it (so it is brought in), and
  // site/ holds links under the name the copy had, pointing at the canary.
  await f.git("checkout", "--quiet", "-b", "linked", "main");
  await mkdir(join(f.dir, "site"));
  await f.git("mv", "busybox", "www", "serve.sh", "site/");
  await symlink(canary, join(f.dir, "site", ".berth.Containerfile"));
  await symlink(canary, join(f.dir, "site", "Containerfile"));
  await f.git("add", "--all");
  await f.git("commit", "--quiet", "--message", "context in site/, links to a canary beside it");
  await f.git("checkout", "--quiet", "main");

  const built = await ensureSourceImage(
    {
      namespace: NAMESPACE,
      definition,
      repository: { url: f.url, ref: "linked", containerFile: "Containerfile", contextDir: "site" },
    },
    f.deps,
  );
  assert.equal(built.port, 8080, "built from the repository's own containerFile");
  assert.equal(await readFile(canary, "utf8"), "canary: untouched\n");
  assert.deepEqual(await readdir(outside), ["canary"], "nothing was created beside the canary");
  assert.equal(f.deps.docker.builds, 1);
});

test("credentials in a repository URL are refused at apply and by the agent, and appear nowhere", async (t) => {
  const f = await fixture(t);
  const namespace = await testNamespace(t, "berth-source");
  const token = `tok${runId}SECRET`;
  const urls = [
    `https://${token}@127.0.0.1:1/team/app.git`,
    `https://deploy:${token}@127.0.0.1:1/team/app.git`,
    `https://:${token}@127.0.0.1:1/team/app.git`,
  ];
  for (const [index, url] of urls.entries()) {
    const manifest = JSON.stringify({
      apiVersion: "berth.dev/v1alpha1",
      kind: "Definition",
      metadata: { name: `credentials-${index}` },
      spec: { repository: { url } },
    });
    const applied = await kubectl(["apply", "-n", namespace, "-f", "-"], { input: manifest });
    assert.notEqual(applied.code, 0, `${url} was accepted`);
    assert.match(applied.stderr, /spec\.repository\.url/);
    assert.match(applied.stderr, /must not hold credentials/);
    assert.ok(!`${applied.stdout}${applied.stderr}`.includes(token), applied.stderr);

    // The agent and the controller refuse it too (an Instance stored before the rule was there).
    const refused = (err: unknown) =>
      rejectsWithReason("RepositoryURLRefused", /must|holds a user, password or token/)(err) &&
      !(err as Error).message.includes(token);
    await assert.rejects(
      ensureSourceImage(
        { namespace: NAMESPACE, definition: f.definition(`credentials-${index}`), repository: { url } },
        f.deps,
      ),
      refused,
    );
    await assert.rejects(resolveRepositoryCommit({ url }, f.deps.git), refused);
  }

  // A successful and a failed build next to them: nothing anywhere carries the token.
  const good = await ensureSourceImage(
    { namespace: NAMESPACE, definition: f.definition("credentials-good"), repository: { url: f.url } },
    f.deps,
  );
  const containerfile = await readFile(join(f.dir, "Containerfile"), "utf8");
  await f.branch("credentials-failing", { Containerfile: `${containerfile}RUN ["/bin/false"]\n` });
  await assert.rejects(
    ensureSourceImage(
      {
        namespace: NAMESPACE,
        definition: f.definition("credentials-bad"),
        repository: { url: f.url, ref: "credentials-failing" },
      },
      f.deps,
    ),
    rejectsWithReason("BuildFailed"),
  );
  const inspected = await run("docker", ["image", "inspect", good.image]);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, new RegExp(`"berth.dev/source-url": "${f.url}"`));
  const stored = await run("grep", ["-r", "--count", token, f.deps.stateDir]);
  assert.equal(stored.code, 1, `the token is in the state directory: ${stored.stdout}`);
  const images = await run("docker", [
    "image",
    "ls",
    "--quiet",
    "--filter",
    `label=berth.dev/namespace=${NAMESPACE}`,
  ]);
  const ids = [...new Set(images.stdout.split("\n").filter(Boolean))];
  const allImages = ids.length ? (await run("docker", ["image", "inspect", ...ids])).stdout : "";
  assert.ok(!allImages.includes(token), "no image label carries the token");
  const kubeObjects = await kubectl(["get", "definitions,instances,events", "-n", namespace, "-o", "yaml"]);
  assert.ok(!kubeObjects.stdout.includes(token), "no Definition, Instance or Event carries the token");
});

test("file:// repositories: the state directory's mirrors and unlisted directories are refused", async (t) => {
  const f = await fixture(t);
  const owner = await ensureSourceImage(
    { namespace: NAMESPACE, definition: f.definition("mirror-owner"), repository: { url: f.url } },
    f.deps,
  );
  assert.equal(owner.reused, false, "an allowed file:// repository builds");
  const mirrors = await readdir(join(f.deps.stateDir, "git", "repos"));
  assert.equal(mirrors.length, 1);
  const mirror = join(f.deps.stateDir, "git", "repos", mirrors[0] ?? "");
  // The operator even lists the state directory: the mirror is refused all the same.
  const listed = {
    ...f.deps,
    git: { fileRepositories: { allowed: [f.deps.stateDir, ...TEST_FILE_REPOSITORIES.allowed], refused: [] } },
  };
  const thief = f.definition("mirror-thief");
  await assert.rejects(
    ensureSourceImage(
      { namespace: NAMESPACE, definition: thief, repository: { url: `file://${mirror}` } },
      listed,
    ),
    rejectsWithReason("RepositoryURLRefused", /state directory/),
  );
  // Through a link in an allowed directory: judged by where it points.
  const link = join(f.dir, "..", "mirror-link.git");
  await symlink(mirror, link);
  await assert.rejects(
    ensureSourceImage(
      { namespace: NAMESPACE, definition: thief, repository: { url: `file://${link}` } },
      f.deps,
    ),
    rejectsWithReason("RepositoryURLRefused", /state directory/),
  );
  // The controller's lookup, with the agent's state directory refused as `berth all` does.
  await assert.rejects(
    resolveRepositoryCommit(
      { url: `file://${mirror}` },
      { fileRepositories: { allowed: [f.deps.stateDir], refused: [f.deps.stateDir] } },
    ),
    rejectsWithReason("RepositoryURLRefused", /state directory/),
  );
  // A repository outside the allowed directories.
  const elsewhere = await mkdtemp(join(tmpdir(), "berth-not-allowed-"));
  t.after(() => rm(elsewhere, { recursive: true, force: true }));
  const made = await run("bash", ["hack/test-repo.sh", join(elsewhere, "repo")]);
  assert.equal(made.code, 0, made.stderr);
  await assert.rejects(
    ensureSourceImage(
      { namespace: NAMESPACE, definition: thief, repository: { url: `file://${join(elsewhere, "repo")}` } },
      f.deps,
    ),
    rejectsWithReason("RepositoryURLRefused", /not under a directory allowed/),
  );
  assert.equal(f.deps.docker.builds, 1, "nothing but the allowed repository was built");
});

test("the controller resolves an allowed file:// repository and refuses one elsewhere", async (t) => {
  const f = await fixture(t);
  const namespace = await testNamespace(t, "berth-source");
  // The harness's controller allows the test repositories' directory, nothing else.
  await runController(t);
  const elsewhere = await mkdtemp(join(tmpdir(), "berth-not-allowed-"));
  t.after(() => rm(elsewhere, { recursive: true, force: true }));
  const made = await run("bash", ["hack/test-repo.sh", join(elsewhere, "repo")]);
  assert.equal(made.code, 0, made.stderr);

  await applyDefinition(namespace, "outside", { repository: { url: `file://${join(elsewhere, "repo")}` } });
  const refused = await waitForCondition(namespace, "outside", "Degraded", "True/RepositoryURLRefused");
  const degraded = refused.status?.conditions?.find((c) => c.type === "Degraded");
  assert.match(degraded?.message ?? "", /not under a directory allowed for file:\/\/ repositories/);
  assert.equal(refused.status?.deploymentId ?? "", "", "no deployment for a refused repository");

  await applyDefinition(namespace, "inside", { repository: { url: f.url } });
  const resolved = await waitFor("a deploymentId for the allowed repository", async () => {
    const definition = await getDefinition(namespace, "inside");
    return definition?.status?.deploymentId ? definition : undefined;
  });
  assert.notEqual(
    resolved.status?.conditions?.find((c) => c.type === "Degraded")?.reason,
    "RepositoryURLRefused",
  );
});
