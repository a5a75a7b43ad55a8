/**
 * The deployment salt against the real API server: the controller makes the Secret
 * berth-deployment-salt once and reads the same one after a restart (deploymentIds stay),
 * racing creators agree on one salt, and the same Secret in two installations (two salts)
 * gives two different deploymentIds.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { DefinitionSpec } from "../../controller/src/api/types.js";
import {
  DEPLOYMENT_SALT_SECRET,
  ensureDeploymentSalt,
} from "../../controller/src/controllers/definition/deployment-salt.js";
import { SECRETS } from "../../controller/src/kube/resources.js";
import { images, kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import { applyDefinition, client, getDefinition, runController } from "./controller-fixtures.js";

/** A Definition reading a four-digit PIN from a Secret: the kind of value one could guess. */
async function pinDefinition(namespace: string): Promise<void> {
  await kubectlOk(["-n", namespace, "create", "secret", "generic", "pin", "--from-literal=pin=1234"]);
  const spec: DefinitionSpec = {
    image: { name: images.echo, port: 8080 },
    replicas: 1,
    env: [{ name: "PIN", valueFrom: { secretKeyRef: { name: "pin", key: "pin" } } }],
    // No Node carries this label: Instances stay Pending, the deploymentId is all the test needs.
    placement: { nodeSelector: { "berth.dev/test": "deployment-salt-nowhere" } },
  };
  await applyDefinition(namespace, "web", spec);
}

async function deploymentIdOf(namespace: string, notEqualTo?: string): Promise<string> {
  return await waitFor(`the deploymentId of ${namespace}/web`, async () => {
    const id = (await getDefinition(namespace, "web"))?.status?.deploymentId;
    return id && id !== notEqualTo ? id : undefined;
  });
}

/** One installation: a controller scoped to `tenant`, its salt in `home`. */
async function installation(t: TestContext, home: string, tenant: string) {
  return await runController(t, { watchNamespace: tenant, deploymentSaltNamespace: home });
}

test("the controller creates the salt Secret once and reuses it after a restart", async (t) => {
  const home = await testNamespace(t, "berth-salt-home");
  const tenant = await testNamespace(t, "berth-salt-tenant");
  await pinDefinition(tenant);
  const kube = client();

  const first = await installation(t, home, tenant);
  const id = await deploymentIdOf(tenant);
  const salt = await kube.get(SECRETS, { namespace: home, name: DEPLOYMENT_SALT_SECRET });
  assert.equal(salt.immutable, true, "an edit would roll every Instance that references a Secret");
  assert.equal(Buffer.from(salt.data?.salt ?? "", "base64").length, 32);
  await first.stop();

  // A restarted controller (or another replica) reads the same salt: same id, same Secret.
  // The status is scribbled over first, so the id read back is one the new controller wrote.
  await kubectlOk([
    "-n",
    tenant,
    "patch",
    "definitions.berth.dev",
    "web",
    "--subresource=status",
    "--type=merge",
    "-p",
    '{"status":{"deploymentId":"restarted"}}',
  ]);
  await installation(t, home, tenant);
  assert.equal(await deploymentIdOf(tenant, "restarted"), id);
  const after = await kube.get(SECRETS, { namespace: home, name: DEPLOYMENT_SALT_SECRET });
  assert.equal(after.metadata?.uid, salt.metadata?.uid, "the salt Secret was not replaced");
  assert.equal(after.metadata?.resourceVersion, salt.metadata?.resourceVersion, "nor changed");
});

test("replicas racing to create the salt agree on one", async (t) => {
  const home = await testNamespace(t, "berth-salt-race");
  const salts = await Promise.all(Array.from({ length: 4 }, () => ensureDeploymentSalt(client(), home)));
  for (const salt of salts) assert.deepEqual(salt, salts[0]);
});

test("the same Secret in two installations gives different deploymentIds", async (t) => {
  const ids: string[] = [];
  for (const name of ["one", "two"]) {
    const home = await testNamespace(t, `berth-salt-${name}`);
    const tenant = await testNamespace(t, `berth-salt-${name}-tenant`);
    await pinDefinition(tenant);
    await installation(t, home, tenant);
    ids.push(await deploymentIdOf(tenant));
  }
  assert.notEqual(ids[0], ids[1], "the same Secret value gave the same deploymentId in both installations");
});
