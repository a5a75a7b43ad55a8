/**
 * The local authenticated registry of hack/registry.sh for pull tests: started on a port of
 * the test file's own (so stopping it disturbs no other file), with berth-test/echo:1 pushed.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { API_VERSION, type ImageSource, type Instance } from "../../controller/src/api/types.js";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import type { DeliveredEnvironment } from "../../controller/src/environment/delivery.js";
import { INSTANCES } from "../../controller/src/kube/resources.js";
import { type KubeClient } from "../../controller/src/kube/client.js";
import { SourceError } from "../../controller/src/source/errors.js";
import { readPullAuth } from "../../controller/src/source/registry-auth.js";
import { images, kubectlOk, run } from "../harness/index.js";
import { deliverEnvironmentTo } from "./agent-fixtures.js";

export interface RegistryAccess {
  /** 127.0.0.1:<port> */
  registry: string;
  username: string;
  password: string;
  /** berth-test/echo:1 as pushed to the registry. */
  image: string;
}

export async function startTestRegistry(port: string): Promise<RegistryAccess> {
  const started = await run("bash", ["hack/registry.sh", "start", "--port", port]);
  assert.equal(started.code, 0, `hack/registry.sh start failed: ${started.stderr}`);
  const values = Object.fromEntries(
    started.stdout
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const pushed = await run("bash", ["hack/registry.sh", "push", images.echo, "--port", port], {
    timeoutMs: 120_000,
  });
  assert.equal(pushed.code, 0, `pushing ${images.echo} failed: ${pushed.stderr}`);
  const access = {
    registry: values.REGISTRY ?? "",
    username: values.USERNAME ?? "",
    password: values.PASSWORD ?? "",
    image: pushed.stdout.trim().split("\n").pop() ?? "",
  };
  assert.ok(access.registry && access.username && access.password, "hack/registry.sh printed its access");
  assert.equal(access.image, `${access.registry}/${images.echo}`);
  return access;
}

/** Removes the pushed image's tag from the default engine and stops the registry. */
export async function stopTestRegistry(port: string): Promise<void> {
  await run("docker", ["rmi", "--force", `127.0.0.1:${port}/${images.echo}`]);
  await run("bash", ["hack/registry.sh", "stop", "--port", port]);
}

/** A kubernetes.io/dockerconfigjson Secret for the registry with this password. */
export async function createPullSecret(
  access: RegistryAccess,
  namespace: string,
  name: string,
  password: string,
): Promise<void> {
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

/**
 * Creates a bound Instance whose environment the controller delivers, and delivers it as the
 * controller does: the credentials of its pull secret for the image's registry (read here
 * with the test's own rights), or the problem that keeps them from being read, into the
 * Node's namespace. An image without a pull secret gets no credentials.
 */
export async function createWithDeliveredCredentials(
  kube: KubeClient,
  instance: Instance,
): Promise<Instance> {
  const nodeName = instance.spec.nodeName;
  assert.ok(nodeName, "the Instance is bound to a Node");
  const created = await kube.create(INSTANCES, {
    ...instance,
    spec: { ...instance.spec, environmentFrom: "NodeSecret" },
  });
  const namespace = instance.metadata.namespace ?? "";
  const image = instance.spec.template!.image;
  const content: DeliveredEnvironment = { env: [] };
  if (image?.pullSecret) {
    try {
      content.pull = { auth: await readPullAuth(kube, { namespace, name: image.pullSecret }, image.name) };
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      content.pull = { problem: { reason: err.reason, message: err.message } };
    }
  }
  await deliverEnvironmentTo(kube, nodeName, created, content);
  return created;
}

/** An Instance of `image` bound to `nodeName`, as the controller would make it (a fresh deploymentId). */
export function pullingInstance(
  image: string,
  where: { namespace: string; name: string; nodeName: string },
  pull: Pick<ImageSource, "pullPolicy" | "pullSecret">,
): Instance {
  const { namespace, name, nodeName } = where;
  const deploymentId = randomBytes(10).toString("hex");
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      name,
      namespace,
      labels: { [LABELS.definition]: name, [LABELS.deploymentId]: deploymentId, [LABELS.node]: nodeName },
    },
    spec: {
      definition: name,
      deploymentId,
      nodeName,
      template: { image: { name: image, port: 8080, ...pull } },
    },
  };
}
