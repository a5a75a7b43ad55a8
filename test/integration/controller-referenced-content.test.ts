/**
 * What the controller keeps of Secrets and ConfigMaps, against the real API server: its
 * caches hold metadata only (no data, no last-applied annotation that would carry the
 * data), yet an edit of a referenced Secret or ConfigMap still gives a new deploymentId,
 * and a deleted one (optional reference) too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DefinitionSpec } from "../../controller/src/api/types.js";
import { metadataOnly } from "../../controller/src/controllers/definition/referenced-content.js";
import { CONFIGMAPS, SECRETS } from "../../controller/src/kube/resources.js";
import { images, kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import { applyDefinition, getDefinition, runController } from "./controller-fixtures.js";

function secretYaml(namespace: string, name: string, value: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace, name },
    stringData: { token: value },
  });
}

test("the controller caches no Secret data, and referenced edits still roll", async (t) => {
  const ns = await testNamespace(t, "berth-refs");
  // kubectl apply: the last-applied annotation then carries the value too.
  await kubectlOk(["apply", "-f", "-"], { input: secretYaml(ns, "token", "first-value") });
  await kubectlOk(["apply", "-f", "-"], { input: secretYaml(ns, "unrelated", "unrelated-value") });
  await kubectlOk(["-n", ns, "create", "configmap", "settings", "--from-literal=mode=a"]);
  const spec: DefinitionSpec = {
    image: { name: images.echo, port: 8080 },
    replicas: 1,
    env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "token", key: "token", optional: true } } }],
    envFrom: [{ configMapRef: { name: "settings" } }],
    // No Node carries this label: Instances stay Pending, the deploymentId is all the test needs.
    placement: { nodeSelector: { "berth.dev/test": "referenced-content-nowhere" } },
  };
  const handle = await runController(t, { watchNamespace: ns });
  await applyDefinition(ns, "web", spec);
  const idAfter = async (previous: string | undefined, what: string): Promise<string> =>
    await waitFor(`a new deploymentId after ${what}`, async () => {
      const id = (await getDefinition(ns, "web"))?.status?.deploymentId;
      return id && id !== previous ? id : undefined;
    });

  const first = await idAfter(undefined, "the apply");
  const secrets = handle.manager.informer(SECRETS, { namespace: ns, transform: metadataOnly });
  const configMaps = handle.manager.informer(CONFIGMAPS, { namespace: ns, transform: metadataOnly });
  assert.ok(secrets.get(ns, "token"), "the Secret is cached, by name");
  for (const cached of [...secrets.list(ns), ...configMaps.list(ns)]) {
    const text = JSON.stringify(cached);
    assert.doesNotMatch(text, /first-value|unrelated-value|"mode"/, `cached: ${text}`);
    assert.equal(cached.metadata?.annotations, undefined);
    assert.equal((cached as { data?: unknown }).data, undefined);
  }

  await kubectlOk(["apply", "-f", "-"], { input: secretYaml(ns, "token", "second-value") });
  const second = await idAfter(first, "the Secret changed");
  await kubectlOk([
    "-n",
    ns,
    "patch",
    "configmap",
    "settings",
    "--type=merge",
    "-p",
    '{"data":{"mode":"b"}}',
  ]);
  const third = await idAfter(second, "the ConfigMap changed");
  await kubectlOk(["-n", ns, "delete", "secret", "token"]);
  const fourth = await idAfter(third, "the Secret was deleted");
  // Back to the first values: the hash is of the content, so the first id comes back.
  await kubectlOk(["apply", "-f", "-"], { input: secretYaml(ns, "token", "second-value") });
  await kubectlOk([
    "-n",
    ns,
    "patch",
    "configmap",
    "settings",
    "--type=merge",
    "-p",
    '{"data":{"mode":"a"}}',
  ]);
  await kubectlOk(["apply", "-f", "-"], { input: secretYaml(ns, "token", "first-value") });
  assert.notEqual(fourth, first);
  await waitFor("the first deploymentId to come back with the first values", async () =>
    (await getDefinition(ns, "web"))?.status?.deploymentId === first ? true : undefined,
  );
});
