import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Instance } from "../api/types.js";
import { ImageNotFoundError, RegistryAuthError } from "../docker/errors.js";
import { type ImageInfo } from "../docker/types.js";
import { type RegistryAuth } from "../docker/options.js";
import { RecordingEventRecorder } from "../testing/recording-events.js";
import { SourceError } from "../source/errors.js";
import { ContainerConfigError } from "./container-request.js";
import { InstanceImages } from "./images.js";
import { PRIVATE_IMAGES_FILE, PrivateImages } from "./private-images.js";

const REGISTRY = "registry.example:5000";
const IMAGE = `${REGISTRY}/team-a/app:1`;
const RIGHT: RegistryAuth = { username: "team-a", password: "s3cret-pw", serverAddress: REGISTRY };
const WRONG: RegistryAuth = { username: "team-b", password: "other-pw", serverAddress: REGISTRY };

test("the record survives a restart, forgets images pulled without credentials, and holds no password", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-private-images-"));
  const record = new PrivateImages(dir);
  record.pulled("sha256:aaa", REGISTRY, RIGHT);
  record.pulled("sha256:bbb", REGISTRY, RIGHT);
  record.pulled("sha256:bbb", "docker.io", undefined);

  const restarted = new PrivateImages(dir);
  assert.equal(restarted.registryOf("sha256:aaa"), REGISTRY);
  assert.equal(restarted.registryOf("sha256:bbb"), undefined, "an anonymous pull proved it public");
  assert.equal(restarted.accepted("sha256:aaa", RIGHT), true);
  assert.equal(restarted.accepted("sha256:aaa", WRONG), false);
  restarted.accept("sha256:aaa", WRONG);
  assert.equal(new PrivateImages(dir).accepted("sha256:aaa", WRONG), true);
  const text = readFileSync(path.join(dir, PRIVATE_IMAGES_FILE), "utf8");
  assert.ok(!text.includes(RIGHT.password ?? "") && !text.includes(WRONG.password ?? ""), text);
});

test("a record that cannot be read stops the agent rather than letting every cached image pass", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-private-images-"));
  writeFileSync(path.join(dir, PRIVATE_IMAGES_FILE), "{not json");
  assert.throws(() => new PrivateImages(dir), /private-images\.json is not a record of private images/);
});

/** An engine whose registry serves IMAGE to RIGHT's credentials only. */
class RegistryEngine {
  readonly images = new Map<string, string>([["berth-test/echo:1", "sha256:local"]]);
  readonly asked: string[] = [];
  private allows(auth: RegistryAuth | undefined): boolean {
    return auth?.username === RIGHT.username && auth?.password === RIGHT.password;
  }
  async imageExists(image: string): Promise<boolean> {
    return this.images.has(image);
  }
  async inspectImage(image: string): Promise<ImageInfo> {
    const id = this.images.get(image);
    if (!id) throw new ImageNotFoundError("inspect_image", image, "No such image");
    return { id, repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
  }
  async pullImage(image: string, options: { auth?: RegistryAuth } = {}): Promise<ImageInfo> {
    if (!this.allows(options.auth)) throw new RegistryAuthError("pull_image", image, "unauthorized");
    this.images.set(image, "sha256:private");
    return this.inspectImage(image);
  }
  async inspectDistribution(image: string, options: { auth?: RegistryAuth } = {}): Promise<string> {
    this.asked.push(options.auth?.username ?? "anonymous");
    if (!this.allows(options.auth))
      throw new RegistryAuthError("inspect_distribution", image, "unauthorized");
    return "sha256:manifest";
  }
}

function instance(namespace: string, pullSecret?: string, image = IMAGE): Instance {
  return {
    metadata: { namespace, name: "web-0" },
    spec: {
      definition: "web",
      deploymentId: "0123456789abcdef0123",
      nodeName: "node-a",
      template: {
        image: { name: image, port: 8080, pullPolicy: "IfNotPresent", ...(pullSecret ? { pullSecret } : {}) },
      },
    },
  } as Instance;
}

test("a cached private image runs only for Instances whose credentials the registry accepts", async () => {
  const engine = new RegistryEngine();
  // The credentials the controller delivered for each namespace's pull secret "regcred".
  const delivered = new Map([
    ["team-a/regcred", RIGHT],
    ["team-b/regcred", WRONG],
    ["team-c/regcred", RIGHT],
  ]);
  const images = new InstanceImages({
    docker: engine,
    events: new RecordingEventRecorder(),
    nodeName: "node-a",
    buildSourceImage: () => Promise.reject(new Error("no builds here")),
  });
  const signal = new AbortController().signal;
  const pullAuthOf = (i: Instance) => () => {
    const pullSecret = i.spec.template!.image?.pullSecret;
    return pullSecret ? delivered.get(`${i.metadata.namespace}/${pullSecret}`) : undefined;
  };
  const freeSlot = () => Promise.resolve(() => undefined);
  const ensure = (i: Instance) => images.ensure(i, () => undefined, signal, pullAuthOf(i), freeSlot);
  const refusal = async (i: Instance): Promise<string> => {
    const err = await ensure(i).then(
      () => assert.fail("the cached private image must not run"),
      (caught: unknown) => caught,
    );
    assert.ok(err instanceof ContainerConfigError, String(err));
    assert.ok(!err.message.includes(WRONG.password ?? ""), err.message);
    return `${err.reason}: ${err.message}`;
  };

  await ensure(instance("team-a", "regcred")); // pulls with team A's credentials
  assert.match(await refusal(instance("team-b")), /^PullSecretRequired: .*set image\.pullSecret/);
  assert.match(await refusal(instance("team-b", "regcred")), /^ImagePullUnauthorized: .*team-b\/regcred/);
  assert.deepEqual(engine.asked, ["anonymous", "team-b"]);

  // The credentials that pulled it, and the same credentials in another Secret, need no new question.
  await ensure(instance("team-a", "regcred"));
  await ensure(instance("team-c", "regcred"));
  assert.deepEqual(engine.asked, ["anonymous", "team-b"]);
  // Images built or loaded on the node were never pulled with credentials: they run as before.
  await ensure(instance("team-b", undefined, "berth-test/echo:1"));
  assert.deepEqual(engine.asked, ["anonymous", "team-b"]);

  // A pull secret the controller could not deliver (missing, say) is the Instance's failure:
  // the cached copy is not run and the registry is not asked with anything else.
  const undelivered = instance("team-d", "regcred");
  const failure = await images
    .ensure(
      undelivered,
      () => undefined,
      signal,
      () => {
        throw new SourceError("PullSecretNotFound", "pull secret team-d/regcred not found");
      },
      freeSlot,
    )
    .then(
      () => assert.fail("an undelivered pull secret must not run the cached copy"),
      (caught: unknown) => caught,
    );
  assert.ok(failure instanceof SourceError && failure.reason === "PullSecretNotFound", String(failure));
  assert.deepEqual(engine.asked, ["anonymous", "team-b"]);
});
