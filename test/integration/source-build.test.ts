/**
 * Definitions built from source, against a real Docker engine and real local git
 * repositories (file:// URLs) made by hack/test-repo.sh.
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/source-build.test.ts
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RepositorySource } from "../../controller/src/api/types.js";
import { DockerEngine, hostPortFor, type BuildOptions } from "../../controller/src/docker/index.js";
import {
  ensureSourceImage,
  resolveRepositoryCommit,
  SourceBuildError,
  SourceError,
  type BuildEngine,
  type SourceBuildDeps,
} from "../../controller/src/source/index.js";
import { env, httpGet, run, waitFor } from "../harness/index.js";

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
  const scratch = await mkdtemp(join(tmpdir(), "berth-source-it-"));
  const dir = join(scratch, "repo");
  const made = await run("bash", ["hack/test-repo.sh", dir]);
  assert.equal(made.code, 0, made.stderr);
  const url = made.stdout.trim().split("\n").pop() ?? "";
  const engine = new DockerEngine({ url: dockerHost });
  const deps = { docker: new CountingEngine(engine), stateDir: join(scratch, "state") };
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
      const listed = await run("docker", ["images", "--quiet", `berth-build/${NAMESPACE}-${definition}`]);
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
    built.image.startsWith(`berth-build/${NAMESPACE}-${definition}:${built.commit.slice(0, 12)}`),
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

  assert.equal(await resolveRepositoryCommit({ url: f.url }), first);
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: "main" }), first);
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: "v1" }), first);
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: first }), first);

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
  const moved = await resolveRepositoryCommit({ url: f.url, ref: "main" });
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
  assert.equal(await resolveRepositoryCommit({ url: f.url, ref: "v1" }), first);
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
