import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureSourceImage, servicePort } from "./builder.js";
import { sourceImageTag } from "./built-images.js";
import { SourceBuildError, SourceError } from "./errors.js";
import { FakeBuildEngine } from "../testing/fake-build-engine.js";
import { GitFixture, TEST_FILE_REPOSITORIES } from "../testing/git-fixture.js";
import { waitUntil } from "../testing/fake-kube-client.js";

async function setup(t: { after(fn: () => Promise<unknown>): void }) {
  const repo = await GitFixture.create();
  const stateDir = await mkdtemp(join(tmpdir(), "berth-build-state-"));
  t.after(() => Promise.all([repo.remove(), rm(stateDir, { recursive: true, force: true })]));
  const docker = new FakeBuildEngine();
  const deps = { docker, stateDir, git: { fileRepositories: TEST_FILE_REPOSITORIES } };
  return { repo, stateDir, docker, deps };
}

function hasReason(reason: string) {
  return (err: unknown) => {
    assert.ok(err instanceof SourceError, `expected a SourceError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  };
}

test("a commit is built once, tagged with namespace, definition and commit, and reused after", async (t) => {
  const { repo, deps, docker } = await setup(t);
  const commit = await repo.commit({ Containerfile: "FROM scratch\nEXPOSE 8080\n" });
  const request = {
    namespace: "team",
    definition: "web",
    repository: { url: repo.url, containerFile: "Containerfile" },
  };

  const first = await ensureSourceImage(request, deps);
  assert.equal(first.commit, commit);
  assert.equal(first.port, 8080);
  assert.equal(first.reused, false);
  assert.match(first.image, new RegExp(`^berth-build/team/web:${commit.slice(0, 12)}-[0-9a-f]{8}$`));
  assert.equal(docker.images.get(first.image)?.labels["berth.dev/source-commit"], commit);
  const log = await readFile(first.logPath, "utf8");
  assert.match(log, /Step 2\/2 : EXPOSE 8080/);

  const second = await ensureSourceImage(request, deps);
  assert.equal(second.reused, true);
  assert.equal(second.imageId, first.imageId);
  assert.equal(docker.builds.length, 1);
});

test("concurrent requests for one commit share one build", async (t) => {
  const { repo, deps, docker } = await setup(t);
  await repo.commit({ Dockerfile: "FROM scratch\nEXPOSE 9000\n" });
  let open!: () => void;
  docker.gate = new Promise((resolve) => (open = resolve));
  const request = { namespace: "team", definition: "web", repository: { url: repo.url } };
  const pending = [1, 2, 3].map(() => ensureSourceImage(request, deps));
  // Let all three get past resolving and inspecting before the build finishes.
  await waitUntil("the shared build to start", () => docker.builds.length > 0);
  open();
  const results = await Promise.all(pending);
  assert.equal(docker.builds.length, 1);
  assert.deepEqual(new Set(results.map((r) => r.imageId)).size, 1);
  assert.ok(results.every((r) => r.port === 9000));
});

test("a moved branch builds a new image; another containerFile never reuses the old one", async (t) => {
  const { repo, deps, docker } = await setup(t);
  const before = await repo.commit({
    Dockerfile: "FROM scratch\nEXPOSE 8080\n",
    "alt/Containerfile": "FROM scratch\nEXPOSE 7070\n",
  });
  const repository = { url: repo.url, ref: "main" };
  const first = await ensureSourceImage({ namespace: "n", definition: "d", repository }, deps);
  const after = await repo.commit({ "README.md": "moved" });
  const second = await ensureSourceImage({ namespace: "n", definition: "d", repository }, deps);
  assert.equal(first.commit, before);
  assert.equal(second.commit, after);
  assert.notEqual(second.image, first.image);

  const alt = await ensureSourceImage(
    { namespace: "n", definition: "d", repository: { ...repository, containerFile: "alt/Containerfile" } },
    deps,
  );
  assert.notEqual(alt.image, second.image);
  assert.equal(alt.port, 7070);
  assert.equal(docker.builds.length, 3);
});

test("the commit given by the caller is built even when the branch moved since", async (t) => {
  const { repo, deps } = await setup(t);
  const pinned = await repo.commit({ Dockerfile: "FROM scratch\nEXPOSE 8080\n" });
  await repo.commit({ Dockerfile: "FROM scratch\nEXPOSE 9090\n" });
  const built = await ensureSourceImage(
    { namespace: "n", definition: "d", repository: { url: repo.url, ref: "main" }, commit: pinned },
    deps,
  );
  assert.equal(built.commit, pinned);
  assert.equal(built.port, 8080);
});

test("contextDir is the build context; a containerFile outside it is brought in", async (t) => {
  const { repo, deps, docker } = await setup(t);
  await repo.commit({ "build/Containerfile": "FROM scratch\nEXPOSE 1234\n", "app/index.html": "hi" });
  const result = await ensureSourceImage(
    {
      namespace: "n",
      definition: "d",
      repository: { url: repo.url, containerFile: "build/Containerfile", contextDir: "app" },
    },
    deps,
  );
  assert.equal(result.port, 1234);
  const build = docker.builds[0];
  assert.ok(build);
  assert.match(build.context, /[\\/]app$/);
  assert.match(build.containerFile, /^\.berth\.Containerfile\.[0-9a-f]{16}$/);
  assert.equal(build.content, "FROM scratch\nEXPOSE 1234\n");
});

test("a link in the context where the containerFile is brought in is never written through", async (t) => {
  const { repo, deps } = await setup(t);
  const outside = await mkdtemp(join(tmpdir(), "berth-canary-"));
  t.after(() => rm(outside, { recursive: true, force: true }));
  const canary = join(outside, "canary");
  await writeFile(canary, "untouched\n");
  await repo.commit({ "build/Containerfile": "FROM scratch\nEXPOSE 1234\n", "app/index.html": "hi" });
  // The names a copy was (or might be) written to, all pointing outside the checkout.
  await symlink(canary, join(repo.dir, "app", ".berth.Containerfile"));
  await symlink(canary, join(repo.dir, "app", ".berth.Containerfile.0000000000000000"));
  await repo.commit({});
  const result = await ensureSourceImage(
    {
      namespace: "n",
      definition: "d",
      repository: { url: repo.url, containerFile: "build/Containerfile", contextDir: "app" },
    },
    deps,
  );
  assert.equal(result.port, 1234, "the build works, from the repository's containerFile");
  assert.equal(await readFile(canary, "utf8"), "untouched\n");
  assert.deepEqual(await readdir(outside), ["canary"]);
});

test("the default Dockerfile falls back to a Containerfile", async (t) => {
  const { repo, deps, docker } = await setup(t);
  await repo.commit({ Containerfile: "FROM scratch\nEXPOSE 8080\n" });
  const result = await ensureSourceImage(
    { namespace: "n", definition: "d", repository: { url: repo.url } },
    deps,
  );
  assert.equal(result.port, 8080);
  assert.equal(docker.builds[0]?.containerFile, "Containerfile");
});

test("a missing containerFile or contextDir, or one that leaves the repository, is ContainerFileMissing", async (t) => {
  const { repo, deps, docker } = await setup(t);
  await repo.commit({ Dockerfile: "FROM scratch\n" });
  await symlink("/etc/hostname", join(repo.dir, "Escape"));
  await repo.commit({});
  const cases = [
    { containerFile: "Nope" },
    { contextDir: "missing-dir" },
    { containerFile: "../outside" },
    { containerFile: "Escape" },
  ];
  for (const extra of cases) {
    await assert.rejects(
      ensureSourceImage({ namespace: "n", definition: "d", repository: { url: repo.url, ...extra } }, deps),
      hasReason("ContainerFileMissing"),
      JSON.stringify(extra),
    );
  }
  assert.equal(docker.builds.length, 0);
});

/** What building the repository at `url` failed with; the test fails when it builds. */
async function failedBuild(
  url: string,
  deps: Parameters<typeof ensureSourceImage>[1],
): Promise<SourceBuildError> {
  const caught = await ensureSourceImage({ namespace: "n", definition: "d", repository: { url } }, deps).then(
    () => assert.fail("the build should have failed"),
    (err: unknown) => err,
  );
  assert.ok(caught instanceof SourceBuildError, String(caught));
  return caught;
}

test("a failing step is BuildFailed naming the step, with the full log kept", async (t) => {
  const { repo, deps } = await setup(t);
  await repo.commit({ Dockerfile: "FROM scratch\nRUN false\nEXPOSE 8080\n" });
  const err = await failedBuild(repo.url, deps);
  assert.equal(err.reason, "BuildFailed");
  assert.equal(err.step, "Step 2/3 : RUN false");
  assert.match(err.message, /Step 2\/3 : RUN false/);
  assert.match(await readFile(err.logPath, "utf8"), /returned a non-zero code: 1/);
});

test("a step that runs out of disk is BuildDiskFull (the machine's fault, retried), not BuildFailed", async (t) => {
  const { repo, deps } = await setup(t);
  await repo.commit({ Dockerfile: "FROM scratch\nRUN fill-the-disk\nEXPOSE 8080\n" });
  const err = await failedBuild(repo.url, deps);
  assert.equal(err.reason, "BuildDiskFull");
  assert.match(err.message, /no space left on device; the engine's disk is full: retried once it has room/);
  assert.equal(err.step, "Step 2/3 : RUN fill-the-disk");
});

test("the service port: repository.port, else the single TCP port EXPOSEd", () => {
  const tag = "berth-build/n/d:abc";
  const image = (ports: Array<[number, string]>) => ({
    exposedPorts: ports.map(([port, protocol]) => ({ port, protocol })),
  });
  assert.equal(
    servicePort(
      { url: "u", port: 81 },
      image([
        [80, "tcp"],
        [90, "tcp"],
      ]),
      tag,
    ),
    81,
  );
  assert.equal(
    servicePort(
      { url: "u" },
      image([
        [80, "tcp"],
        [53, "udp"],
      ]),
      tag,
    ),
    80,
  );
  assert.throws(() => servicePort({ url: "u" }, image([]), tag), hasReason("NoExposedPort"));
  assert.throws(() => servicePort({ url: "u" }, image([[53, "udp"]]), tag), hasReason("NoExposedPort"));
  assert.throws(
    () =>
      servicePort(
        { url: "u" },
        image([
          [80, "tcp"],
          [443, "tcp"],
        ]),
        tag,
      ),
    (err: unknown) => hasReason("AmbiguousExposedPort")(err) && /80, 443/.test(String(err)),
  );
});

test("the image tag depends on commit and recipe, not on how a default is spelled", () => {
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const plain = sourceImageTag("n", "d", { url: "file:///r" }, commit);
  assert.equal(
    sourceImageTag("n", "d", { url: "file:///r", containerFile: "Dockerfile", contextDir: "." }, commit),
    plain,
  );
  assert.notEqual(sourceImageTag("n", "d", { url: "file:///r", containerFile: "Other" }, commit), plain);
  assert.notEqual(sourceImageTag("n", "d", { url: "file:///r" }, commit.replace("0", "f")), plain);
});

test("build tags of different namespaces never collide", () => {
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const repository = { url: "https://git.example/team/web.git" };
  const teamA = sourceImageTag("team-a", "web", repository, commit);
  const team = sourceImageTag("team", "a-web", repository, commit);
  assert.notEqual(teamA.split(":")[0], team.split(":")[0]);
  assert.match(teamA, /^berth-build\/team-a\/web:0123456789ab-[0-9a-f]{8}$/);
  // A valid reference: lowercase path components joined by "/", then a tag.
  assert.match(teamA, /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[\w][\w.-]{0,127}$/);
});

test("names that are not Kubernetes names never reach a tag or a log path", async (t) => {
  const { repo, deps, stateDir, docker } = await setup(t);
  await repo.commit({ Dockerfile: "FROM scratch\nEXPOSE 8080\n" });
  const commit = "0123456789abcdef0123456789abcdef01234567";
  for (const [namespace, definition] of [
    ["team", "../../escape"],
    ["..", "web"],
    ["team/a", "web"],
    ["team", "a/web"],
    ["Team", "web"],
  ] as const) {
    assert.throws(
      () => sourceImageTag(namespace, definition, { url: repo.url }, commit),
      hasReason("InvalidBuildName"),
    );
    await assert.rejects(
      ensureSourceImage({ namespace, definition, repository: { url: repo.url } }, deps),
      hasReason("InvalidBuildName"),
    );
  }
  assert.equal(docker.builds.length, 0);
  assert.deepEqual(await readdir(stateDir), [], "nothing was written");
});

test("a file:// URL into the state directory or outside the allowed ones is refused", async (t) => {
  const { repo, deps, stateDir, docker } = await setup(t);
  await repo.commit({ Dockerfile: "FROM scratch\nEXPOSE 8080\n" });
  const request = { namespace: "n", definition: "d", repository: { url: repo.url } };
  await ensureSourceImage(request, deps);
  const mirrors = await readdir(join(stateDir, "git", "repos"));
  assert.equal(mirrors.length, 1);
  const mirror = join(stateDir, "git", "repos", mirrors[0] ?? "");
  // The mirror is refused even when the state directory is listed as allowed.
  const listed = {
    ...deps,
    git: { fileRepositories: { allowed: [stateDir, ...TEST_FILE_REPOSITORIES.allowed], refused: [] } },
  };
  await assert.rejects(
    ensureSourceImage({ ...request, definition: "other", repository: { url: `file://${mirror}` } }, listed),
    (err: unknown) => hasReason("RepositoryURLRefused")(err) && /state directory/.test(String(err)),
  );
  // Nothing allowed: file:// is refused.
  await assert.rejects(
    ensureSourceImage(request, { docker, stateDir }),
    (err: unknown) => hasReason("RepositoryURLRefused")(err) && /--allow-file-repositories/.test(String(err)),
  );
  assert.equal(docker.builds.length, 1);
});
