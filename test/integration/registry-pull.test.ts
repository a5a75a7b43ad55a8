/**
 * Pulls with credentials from a real kubernetes.io/dockerconfigjson Secret, from Debian's
 * docker-registry on loopback with htpasswd auth (hack/registry.sh): through the Docker
 * module, and through a real agent running Instances whose image has a pullSecret (the
 * credentials delivered to the agent's Node as the controller does).
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/registry-pull.test.ts
 */
import { before, after, test } from "node:test";
import assert from "node:assert/strict";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { RegistryAuthError } from "../../controller/src/docker/errors.js";
import { type DockerObserver } from "../../controller/src/docker/metrics.js";
import { INSTANCES, NODES } from "../../controller/src/kube/resources.js";
import { RestKubeClient } from "../../controller/src/kube/client.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { readPullAuth } from "../../controller/src/source/registry-auth.js";
import { SourceError } from "../../controller/src/source/errors.js";
import { env, httpGet, kubectlOk, run, testNamespace, waitFor } from "../harness/index.js";
import { agentWorld, runAgent } from "./agent-fixtures.js";
import {
  createPullSecret as createTestPullSecret,
  createWithDeliveredCredentials,
  pullingInstance,
  startTestRegistry,
  stopTestRegistry,
  type RegistryAccess,
} from "./registry-fixtures.js";

/** A port of its own, so that stopping the registry afterwards disturbs no other test. */
const REGISTRY_PORT = "5153";

let access: RegistryAccess;

before(async () => {
  env();
  access = await startTestRegistry(REGISTRY_PORT);
});

after(async () => {
  await stopTestRegistry(REGISTRY_PORT);
});

/** Removes the registry's copy of the image from the engine, so that a pull must ask the registry. */
async function forgetPulledImage(): Promise<void> {
  await run("docker", ["rmi", "--force", access.image]);
}

function createPullSecret(namespace: string, name: string, password: string): Promise<void> {
  return createTestPullSecret(access, namespace, name, password);
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

/** Short enough that a few retries come quickly, long enough to tell from none. */
const RETRY_BACKOFF = { baseMs: 1000, maxMs: 60_000 };

test("the agent pulls with an Instance's pull secret; a wrong one fails with its reason and no retry storm", async (t) => {
  // An extra engine without the test images: the agent must pull them.
  const world = await agentWorld(t, { engine: "extra", loadImages: false });
  const { namespace, nodeName } = world;
  const kube = world.client;
  await createPullSecret(namespace, "regcred", access.password);
  await createPullSecret(namespace, "wrongcred", `not-${access.password}`);
  const unauthorizedPulls: number[] = [];
  const observer: DockerObserver = {
    operationFinished(operation, _seconds, errorReason) {
      if (operation === "pull_image" && errorReason === "RegistryUnauthorized")
        unauthorizedPulls.push(Date.now());
    },
  };
  await runAgent(world, { retryBackoff: RETRY_BACKOFF }, createLogger({ level: "error" }), {
    docker: new DockerEngine({ url: world.url, observer }),
  });
  // Other tests' controllers must not place their Instances on this Node.
  await kube.mergePatch(NODES, { name: nodeName }, { spec: { unschedulable: true } });

  await createWithDeliveredCredentials(
    kube,
    pullingInstance(
      access.image,
      { namespace, name: "pulled", nodeName },
      { pullPolicy: "Always", pullSecret: "regcred" },
    ),
  );
  await createWithDeliveredCredentials(
    kube,
    pullingInstance(
      access.image,
      { namespace, name: "refused", nodeName },
      { pullPolicy: "Always", pullSecret: "wrongcred" },
    ),
  );

  const pulled = await waitFor(
    "the Instance with the right secret to be ready",
    async () => {
      const instance = await kube.get(INSTANCES, { namespace, name: "pulled" });
      return instance.status?.ready ? instance : undefined;
    },
    { timeoutMs: 60_000 },
  );
  const url = pulled.status?.address?.url;
  assert.ok(url);
  assert.equal((await httpGet(`${url}/healthz`))?.status, 200);

  const refused = await waitFor(
    "the Instance with the wrong secret to fail",
    async () => {
      const instance = await kube.get(INSTANCES, { namespace, name: "refused" });
      const condition = instance.status?.conditions?.find((c) => c.type === "ContainerReady");
      return condition?.reason === "RegistryUnauthorized" ? instance : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(refused.status?.phase, "Failed");
  assert.match(refused.status?.message ?? "", /registry refused access/);
  assert.ok(!(refused.status?.message ?? "").includes(access.password));

  // Retries back off: each refused pull waits at least the configured back-off, doubling,
  // after the one before (no upper bound: a slow machine only makes the gaps longer).
  const PULLS = 4;
  await waitFor(`${PULLS} refused pulls`, () => unauthorizedPulls.length >= PULLS, {
    timeoutMs: RETRY_BACKOFF.baseMs * 2 ** PULLS + 30_000,
  });
  const gaps = unauthorizedPulls.slice(1, PULLS).map((at, i) => at - unauthorizedPulls[i]!);
  t.diagnostic(`gaps between refused pulls: ${gaps.join(", ")} ms`);
  gaps.forEach((gap, i) => {
    const backoff = RETRY_BACKOFF.baseMs * 2 ** i;
    // A pull's end is stamped, so the next pull's own time can only add to the gap; the
    // 50 ms allow for timer granularity.
    assert.ok(
      gap >= backoff - 50,
      `refused pull ${i + 2} came ${gap} ms after the one before, back-off ${backoff} ms`,
    );
  });
});
