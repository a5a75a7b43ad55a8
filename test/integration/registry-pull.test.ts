/**
 * Pulls with credentials from a real kubernetes.io/dockerconfigjson Secret, from Debian's
 * docker-registry on loopback with htpasswd auth (hack/registry.sh), through the Docker module.
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/registry-pull.test.ts
 */
import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import { DockerEngine, RegistryAuthError } from "../../controller/src/docker/index.js";
import { RestKubeClient } from "../../controller/src/kube/index.js";
import { readPullAuth, SourceError } from "../../controller/src/source/index.js";
import { env, images, kubectlOk, run, testNamespace } from "../harness/index.js";

/** A port of its own, so that stopping the registry afterwards disturbs no other test. */
const REGISTRY_PORT = "5153";

interface RegistryAccess {
  registry: string;
  username: string;
  password: string;
  /** berth-test/echo:1 as pushed to the registry. */
  image: string;
}

let access: RegistryAccess;

before(async () => {
  env();
  const started = await run("bash", ["hack/registry.sh", "start", "--port", REGISTRY_PORT]);
  assert.equal(started.code, 0, `hack/registry.sh start failed: ${started.stderr}`);
  const values = Object.fromEntries(
    started.stdout
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const pushed = await run("bash", ["hack/registry.sh", "push", images.echo, "--port", REGISTRY_PORT], {
    timeoutMs: 120_000,
  });
  assert.equal(pushed.code, 0, `pushing ${images.echo} failed: ${pushed.stderr}`);
  access = {
    registry: values.REGISTRY ?? "",
    username: values.USERNAME ?? "",
    password: values.PASSWORD ?? "",
    image: pushed.stdout.trim().split("\n").pop() ?? "",
  };
  assert.ok(access.registry && access.username && access.password, "hack/registry.sh printed its access");
  assert.equal(access.image, `${access.registry}/${images.echo}`);
});

after(async () => {
  await run("docker", ["rmi", "--force", `127.0.0.1:${REGISTRY_PORT}/${images.echo}`]);
  await run("bash", ["hack/registry.sh", "stop", "--port", REGISTRY_PORT]);
});

/** Removes the registry's copy of the image from the engine, so that a pull must ask the registry. */
async function forgetPulledImage(): Promise<void> {
  await run("docker", ["rmi", "--force", access.image]);
}

async function createPullSecret(namespace: string, name: string, password: string): Promise<void> {
  await kubectlOk([
    "create",
    "secret",
    "docker-registry",
    name,
    "--namespace",
    namespace,
    `--docker-server=${access.registry}`,
    `--docker-username=${access.username}`,
    `--docker-password=${password}`,
  ]);
}

test("a pull with the right Secret's credentials works", async (t) => {
  const namespace = await testNamespace(t);
  await createPullSecret(namespace, "regcred", access.password);
  const kube = new RestKubeClient(env().kc);
  const engine = new DockerEngine({ url: env().dockerHost });
  await forgetPulledImage();
  assert.equal(await engine.imageExists(access.image), false);

  const auth = await readPullAuth(kube, { namespace, name: "regcred" }, access.image);
  assert.equal(auth.username, access.username);
  const pulled = await engine.pullImage(access.image, { auth });
  assert.ok(pulled.repoTags.includes(access.image), pulled.repoTags.join(", "));
  assert.equal(await engine.imageExists(access.image), true);
});

test("a wrong password is RegistryUnauthorized, and the error does not carry it", async (t) => {
  const namespace = await testNamespace(t);
  const wrong = `not-${access.password}`;
  await createPullSecret(namespace, "regcred", wrong);
  const kube = new RestKubeClient(env().kc);
  const engine = new DockerEngine({ url: env().dockerHost });
  await forgetPulledImage();

  const auth = await readPullAuth(kube, { namespace, name: "regcred" }, access.image);
  const err = await engine.pullImage(access.image, { auth }).then(
    () => assert.fail("the pull should be refused"),
    (caught: unknown) => caught,
  );
  assert.ok(err instanceof RegistryAuthError, String(err));
  assert.equal(err.reason, "RegistryUnauthorized");
  assert.ok(!err.message.includes(wrong), err.message);
  assert.equal(await engine.imageExists(access.image), false);

  // No credentials at all is refused the same way.
  await assert.rejects(
    engine.pullImage(access.image),
    (caught: unknown) => caught instanceof RegistryAuthError,
  );
});

test("a missing Secret is PullSecretNotFound, and one of the wrong type PullSecretInvalid", async (t) => {
  const namespace = await testNamespace(t);
  const kube = new RestKubeClient(env().kc);
  await assert.rejects(readPullAuth(kube, { namespace, name: "nowhere" }, access.image), (err: unknown) => {
    assert.ok(err instanceof SourceError);
    assert.equal(err.reason, "PullSecretNotFound");
    assert.match(err.message, new RegExp(`${namespace}/nowhere`));
    return true;
  });

  await kubectlOk([
    "create",
    "secret",
    "generic",
    "opaque",
    "--namespace",
    namespace,
    `--from-literal=password=${access.password}`,
  ]);
  await assert.rejects(readPullAuth(kube, { namespace, name: "opaque" }, access.image), (err: unknown) => {
    assert.ok(err instanceof SourceError);
    assert.equal(err.reason, "PullSecretInvalid");
    assert.ok(!err.message.includes(access.password));
    return true;
  });
});
