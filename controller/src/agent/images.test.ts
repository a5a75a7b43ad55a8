import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Instance } from "../api/types.js";
import { ImageNotFoundError } from "../docker/errors.js";
import { RecordingEventRecorder } from "../testing/recording-events.js";
import { SourceBuildError, SourceError } from "../source/errors.js";
import { ensureSourceImage } from "../source/builder.js";
import { FakeClock } from "../testing/fake-clock.js";
import { BuildFailures } from "./build-failures.js";
import { InstanceImages, failureMessage } from "./images.js";

const TOKEN = "ghp_0123456789SECRET";

function instanceWithUrl(url: string): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { name: "web-0123456789-0", namespace: "team" },
    spec: {
      definition: "web",
      nodeName: "n1",
      deploymentId: "0123456789abcdef",
      template: { repository: { url, ref: "0123456789abcdef0123456789abcdef01234567" } },
    },
  } as Instance;
}

/** The engine side of a repository Instance: it pulls, inspects and asks a registry nothing. */
const REPOSITORY_ONLY_ENGINE = {
  imageExists: () => Promise.resolve(false),
  pullImage: () => Promise.reject(new Error("a repository Instance pulls nothing")),
  inspectImage: () => Promise.reject(new Error("a repository Instance inspects no pulled image")),
  inspectDistribution: () => Promise.reject(new Error("a repository Instance asks no registry")),
};

/** What ensure() threw for this Instance; failing the test when it succeeds (`why` it must not). */
function ensureFailure(
  images: InstanceImages,
  instance: Instance,
  why: string,
  onStep: (step: { message: string }) => void = () => undefined,
): Promise<unknown> {
  return images
    .ensure(
      instance,
      onStep,
      new AbortController().signal,
      () => undefined,
      () => Promise.resolve(() => undefined),
    )
    .then(
      () => assert.fail(why),
      (err: unknown) => err,
    );
}

/** An agent's images whose every build fails with `failure()`, each build counted in `built`. */
function imagesWithFailingBuilds(
  built: { count: number },
  failure: () => SourceBuildError,
  buildFailures?: BuildFailures,
): InstanceImages {
  return new InstanceImages({
    docker: REPOSITORY_ONLY_ENGINE,
    events: new RecordingEventRecorder(),
    nodeName: "n1",
    buildSourceImage: () => {
      built.count += 1;
      return Promise.reject(failure());
    },
    ...(buildFailures ? { buildFailures } : {}),
  });
}

test("credentials in an Instance's repository URL reach no status message, Event or error", async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), "berth-images-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const events = new RecordingEventRecorder();
  let builds = 0;
  const images = new InstanceImages({
    docker: REPOSITORY_ONLY_ENGINE,
    events,
    nodeName: "n1",
    buildSourceImage: (request) =>
      ensureSourceImage(request, {
        stateDir,
        docker: {
          buildImage: () => {
            builds += 1;
            return Promise.resolve("sha256:0");
          },
          inspectImage: (image) =>
            Promise.reject(new ImageNotFoundError("inspect_image", image, "no such image")),
        },
      }),
  });
  // Instances stored before the API refused such URLs still carry them.
  for (const url of [
    `https://${TOKEN}@git.example/team/web.git`,
    `https://deploy:${TOKEN}@git.example/team/web.git`,
  ]) {
    const messages: string[] = [];
    const instance = instanceWithUrl(url);
    const failure = await ensureFailure(images, instance, "the URL should be refused", (step) => {
      messages.push(step.message);
    });
    assert.ok(failure instanceof SourceError && failure.reason === "RepositoryURLRefused", String(failure));
    messages.push(failure.message);
    assert.ok(
      messages.some((m) => m.includes("https://***@git.example/team/web.git")),
      messages.join("\n"),
    );
    for (const message of [...messages, ...events.events.map((e) => e.message)]) {
      assert.ok(!message.includes(TOKEN), message);
    }
  }
  assert.equal(builds, 0);
});

test("a failed build's message keeps the end of a long output line, where the error is", () => {
  const long = `${" ".repeat(20_000)} error: the real cause`;
  const err = new SourceBuildError(
    "the build failed at step 3",
    "Step 3/5 : RUN make",
    [...Array.from({ length: 1600 }, (_, i) => `chatter ${i}`), long],
    "/logs/x.log",
  );
  const message = failureMessage(err);
  assert.ok(message.endsWith("error: the real cause"), message.slice(-300));
  assert.ok(message.length < 4096, `${message.length} characters`);
  assert.match(message, /chatter 1599/);
  assert.doesNotMatch(message, /chatter 1589\n/, "only the last lines");
});

test("a commit whose build failed is not built again by an agent that restarted", async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), "berth-images-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const built = { count: 0 };
  const agentProcess = () =>
    imagesWithFailingBuilds(
      built,
      () => new SourceBuildError("building failed at step 2", "Step 2/3 : RUN false", ["false"], "/l.log"),
      new BuildFailures({ stateDir, clock: new FakeClock(0) }),
    );
  const ensure = (images: InstanceImages) =>
    ensureFailure(images, instanceWithUrl("https://git.example/team/web.git"), "the build should fail");
  const first = await ensure(agentProcess());
  assert.ok(first instanceof SourceBuildError);
  const afterRestart = await ensure(agentProcess());
  assert.ok(afterRestart instanceof SourceBuildError && afterRestart.reason === "BuildFailed");
  assert.equal(failureMessage(afterRestart), failureMessage(first));
  assert.equal(built.count, 1, "the known-bad commit was built once");
});

test("a build that found the disk full is tried again; a failed build of the same commit is not", async () => {
  for (const [reason, expectedBuilds] of [
    ["BuildDiskFull", 2],
    ["BuildFailed", 1],
  ] as const) {
    const built = { count: 0 };
    const images = imagesWithFailingBuilds(
      built,
      () => new SourceBuildError(`step failed (${reason})`, "Step 2/3 : RUN make", [], "/log", { reason }),
    );
    const instance = instanceWithUrl("https://git.example/team/web.git");
    for (let attempt = 0; attempt < 2; attempt++) {
      const failure = await ensureFailure(images, instance, "the build should fail");
      assert.ok(failure instanceof SourceError && failure.reason === reason, String(failure));
    }
    assert.equal(built.count, expectedBuilds, reason);
  }
});
