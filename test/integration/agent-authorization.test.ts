/**
 * What an agent's identity reaches, tried with real ServiceAccount tokens against the real
 * API server, the shipped RBAC and admission policy, and the controller running as its own
 * shipped identity: agent A reads the environment the controller delivered for its own
 * Instance (a referenced Secret's value included), and nothing else of Secrets: not the
 * Secret itself, not B's token Secret, not an unreferenced Secret, not a Secret only B's
 * Instances reference, not B's delivered environment. Listing Instances shows no literal env
 * value; Definitions are not readable at all. A cannot change what steers the scheduler to
 * its Node nor grant it privileged host ports, and writes only Events it reports about its
 * Node or an Instance.
 */
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DefinitionSpec, Instance } from "../../controller/src/api/types.js";
import { environmentSecretRef, readDeliveredEnvironment } from "../../controller/src/environment/delivery.js";
import { CONFIGMAPS, DEFINITIONS, INSTANCES, NODES, SECRETS } from "../../controller/src/kube/resources.js";
import { type KubeClient } from "../../controller/src/kube/client.js";
import { getOrUndefined, isForbidden } from "../../controller/src/kube/errors.js";
import { images, kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import {
  StandInAgent,
  applyDefinition,
  client,
  createNodes,
  listInstances,
  runController,
} from "./controller-fixtures.js";
import {
  NAMESPACE,
  agentIdentity,
  applyAccessControl,
  assertAccess,
  kubectlWithToken,
  serviceAccountToken,
  tokenClient,
} from "./manifests-fixtures.js";

const secretValue = (label: string) => `${label}-${randomBytes(6).toString("hex")}`;

async function createSecret(namespace: string, name: string, value: string): Promise<void> {
  await client().create(SECRETS, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    data: { password: Buffer.from(value).toString("base64") },
  });
}

function definitionSpec(labels: Record<string, string>, secret: string, literal: string): DefinitionSpec {
  return {
    image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" },
    env: [
      { name: "PASSWORD", valueFrom: { secretKeyRef: { name: secret, key: "password" } } },
      { name: "GREETING", value: literal },
    ],
    placement: { nodeSelector: labels },
  };
}

/** Runs the request as the agent; it must be refused by authorization (403), not fail otherwise. */
async function assertForbidden(what: string, request: () => Promise<unknown>): Promise<void> {
  await assert.rejects(request(), (err: unknown) => {
    assert.ok(isForbidden(err), `${what}: expected 403 Forbidden, got ${String(err)}`);
    return true;
  });
}

async function boundInstance(namespace: string, definition: string, node: string): Promise<Instance> {
  return await waitFor(`an Instance of ${definition} bound to ${node}`, async () => {
    const [instance] = await listInstances(namespace, definition);
    return instance?.spec.nodeName === node ? instance : undefined;
  });
}

test("an agent reads the environment of its own Node's Instances and no other Secret, Definition or literal value", async (t) => {
  await applyAccessControl();
  const suffix = randomBytes(3).toString("hex");
  const nodeA = `authz-a-${suffix}`;
  const nodeB = `authz-b-${suffix}`;
  const userA = await agentIdentity(t, nodeA);
  await agentIdentity(t, nodeB);
  const tenant = await testNamespace(t, "berth-authz");

  const values = {
    a: secretValue("a-secret"),
    b: secretValue("b-secret"),
    unreferenced: secretValue("unreferenced"),
    literalA: secretValue("literal-a"),
    literalB: secretValue("literal-b"),
  };
  await createSecret(tenant, "a-secret", values.a);
  await createSecret(tenant, "b-secret", values.b);
  await createSecret(tenant, "unreferenced", values.unreferenced);
  const labelsA = { "berth.dev/test": nodeA };
  const labelsB = { "berth.dev/test": nodeB };
  await createNodes(t, [nodeA], labelsA);
  await createNodes(t, [nodeB], labelsB);

  // The controller as its shipped identity: its RoleBinding in berth-node-<node> is what lets it deliver.
  await runController(
    t,
    { nodeGracePeriodMs: 10 * 60_000 },
    undefined,
    tokenClient(await serviceAccountToken("berth-controller")),
  );
  new StandInAgent(tenant, new Set([nodeA, nodeB])).start(t);
  await applyDefinition(tenant, "web-a", definitionSpec(labelsA, "a-secret", values.literalA));
  await applyDefinition(tenant, "web-b", definitionSpec(labelsB, "b-secret", values.literalB));
  const instanceA = await boundInstance(tenant, "web-a", nodeA);
  const instanceB = await boundInstance(tenant, "web-b", nodeB);

  const tokenA = await serviceAccountToken(`berth-agent-${nodeA}`);
  const asA: KubeClient = tokenClient(tokenA);
  const kubectlAsA = await kubectlWithToken(t, tokenA);
  const whoami = await kubectlAsA(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
  assert.equal(whoami.stdout, userA, `the token authenticates as agent A: ${whoami.stderr}`);

  // A's own referenced Secret, through the chosen path: the environment delivered to its Node.
  const refA = environmentSecretRef(instanceA);
  assert.ok(refA);
  const delivered = await waitFor("the environment of A's Instance, read as agent A", async () =>
    readDeliveredEnvironment(await getOrUndefined(() => asA.get(SECRETS, refA)), instanceA),
  );
  assert.equal(delivered.problem, undefined);
  assert.deepEqual(Object.fromEntries(delivered.env), { PASSWORD: values.a, GREETING: values.literalA });

  // B's delivered environment exists (the admin sees it) and is refused to A, like every other Secret.
  const refB = environmentSecretRef(instanceB);
  assert.ok(refB);
  await waitFor("the environment of B's Instance", () => getOrUndefined(() => client().get(SECRETS, refB)));
  await assertForbidden("B's delivered environment", () => asA.get(SECRETS, refB));
  await assertForbidden("the Secrets of B's Node namespace", () =>
    asA.list(SECRETS, { namespace: refB.namespace }),
  );
  await assertForbidden("A's referenced Secret read directly", () =>
    asA.get(SECRETS, { namespace: tenant, name: "a-secret" }),
  );
  await assertForbidden("a Secret only B's Instances reference", () =>
    asA.get(SECRETS, { namespace: tenant, name: "b-secret" }),
  );
  await assertForbidden("an unreferenced Secret", () =>
    asA.get(SECRETS, { namespace: tenant, name: "unreferenced" }),
  );
  await assertForbidden("B's token Secret", () =>
    asA.get(SECRETS, { namespace: NAMESPACE, name: `berth-agent-${nodeB}-token` }),
  );
  await assertForbidden("every Secret", () => asA.list(SECRETS));
  await assertForbidden("a ConfigMap", () => asA.list(CONFIGMAPS, { namespace: tenant }));
  await assertForbidden("B's Definition", () => asA.get(DEFINITIONS, { namespace: tenant, name: "web-b" }));
  await assertAccess(
    userA,
    [["get", `secrets/${refA.name}`, "-n", refA.namespace]],
    [
      ["get", `secrets/${refB.name}`, "-n", refB.namespace],
      ["get", "secrets/a-secret", "-n", tenant],
      ["get", "secrets/b-secret", "-n", tenant],
      ["get", "secrets/unreferenced", "-n", tenant],
      ["get", `secrets/berth-agent-${nodeB}-token`, "-n", NAMESPACE],
      ["get", "definitions.berth.dev/web-b", "-n", tenant],
    ],
  );

  // A may list every Instance (RBAC cannot say "mine"), but no literal or Secret value is in them.
  const listed = JSON.stringify((await asA.list(INSTANCES)).items);
  assert.ok(listed.includes(instanceB.metadata.name ?? "?"), "A's list holds B's Instance");
  for (const [name, value] of Object.entries(values)) {
    assert.ok(!listed.includes(value), `listing Instances as A shows the value of ${name}`);
  }
  const viaKubectl = await kubectlAsA(["get", "instances.berth.dev", "--all-namespaces", "-o", "json"]);
  assert.equal(viaKubectl.code, 0, viaKubectl.stderr);
  assert.ok(!viaKubectl.stdout.includes(values.literalB), "kubectl get instances as A shows B's literal env");

  // What steers the scheduler to A's Node, and its permission for privileged host ports, are
  // an administrator's; the address is the agent's.
  const refusedNodeChange =
    /may not change spec.labels, spec.capacity, spec.unschedulable or spec.allowPrivilegedPorts/;
  const patchAsA = (patch: object, ...extra: string[]) =>
    kubectlAsA(["patch", "nodes.berth.dev", nodeA, "--type=merge", "-p", JSON.stringify(patch), ...extra]);
  for (const [field, patch] of [
    ["labels", { spec: { labels: { ...labelsA, gpu: "true" } } }],
    ["capacity", { spec: { capacity: { instances: 1000 } } }],
    ["unschedulable", { spec: { unschedulable: true } }],
    ["allowPrivilegedPorts", { spec: { allowPrivilegedPorts: true } }],
  ] as const) {
    const res = await patchAsA(patch);
    assert.notEqual(res.code, 0, `agent A changed its Node's ${field}`);
    assert.match(res.stderr, refusedNodeChange, field);
  }
  // Nor can A take the permission back once an administrator gave it, or create its Node with it.
  await kubectlOk([
    "patch",
    "nodes.berth.dev",
    nodeA,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { allowPrivilegedPorts: true } }),
  ]);
  for (const patch of [{ spec: { allowPrivilegedPorts: false } }, { spec: { allowPrivilegedPorts: null } }]) {
    const res = await patchAsA(patch);
    assert.notEqual(
      res.code,
      0,
      `agent A changed an administrator's allowPrivilegedPorts: ${JSON.stringify(patch)}`,
    );
    assert.match(res.stderr, refusedNodeChange, JSON.stringify(patch));
  }
  const nodeOfA = await client().get(NODES, { name: nodeA });
  assert.equal(nodeOfA.spec.allowPrivilegedPorts, true, "the administrator's permission stands");
  const createdAsA = await kubectlAsA(
    ["create", "--dry-run=server", "-f", "-"],
    JSON.stringify({
      apiVersion: "berth.dev/v1alpha1",
      kind: "Node",
      metadata: { name: nodeA },
      spec: { url: nodeOfA.spec.url, address: nodeOfA.spec.address, allowPrivilegedPorts: true },
    }),
  );
  assert.notEqual(createdAsA.code, 0, "agent A created its Node with allowPrivilegedPorts");
  assert.match(createdAsA.stderr, /may not create its Node with spec.allowPrivilegedPorts/);
  const address = await patchAsA({ spec: { address: `${nodeA}.example` } }, "--dry-run=server");
  assert.equal(address.code, 0, `the agent keeps its Node's address: ${address.stderr}`);

  // Events: its own Node (in default) or an Instance of the Event's namespace, reported as itself.
  const event = (
    namespace: string,
    regarding: object,
    reportingController = "berth.dev/agent",
    reportingInstance = nodeA,
  ) =>
    JSON.stringify({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { namespace, generateName: "authz-" },
      eventTime: new Date().toISOString().replace(/Z$/, "000Z"),
      reportingController,
      reportingInstance,
      action: "Test",
      reason: "Test",
      type: "Normal",
      note: "authorization test",
      regarding,
    });
  const nodeRef = (name: string) => ({ apiVersion: "berth.dev/v1alpha1", kind: "Node", name });
  const instanceRef = (namespace: string, name: string) => ({
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    namespace,
    name,
  });
  const createEvent = (body: string) => kubectlAsA(["create", "--dry-run=server", "-f", "-"], body);
  for (const [what, body] of [
    ["about its own Node", event("default", nodeRef(nodeA))],
    ["about its Instance", event(tenant, instanceRef(tenant, instanceA.metadata.name ?? ""))],
  ] as const) {
    const res = await createEvent(body);
    assert.equal(res.code, 0, `an Event ${what}: ${res.stderr}`);
  }
  for (const [what, body] of [
    ["about another Node", event("default", nodeRef(nodeB))],
    ["reported under another Node's name", event("default", nodeRef(nodeA), "berth.dev/agent", nodeB)],
    ["about an Instance of another namespace", event("default", instanceRef(tenant, "x"))],
    ["reported as the controller", event(tenant, instanceRef(tenant, "x"), "berth.dev/controller")],
    [
      "about a Secret",
      event(tenant, { apiVersion: "v1", kind: "Secret", namespace: tenant, name: "b-secret" }),
    ],
  ] as const) {
    const res = await createEvent(body);
    assert.notEqual(res.code, 0, `an Event ${what} was admitted`);
    assert.match(res.stderr, /may only write Events it reports/, what);
  }

  // Its own Instance's template is not the agent's to change: checked like the Definition's
  // when the controller created it and immutable after, so not even a malformed one gets in.
  for (const image of ["x/../../images/get?names=big&a=", "berth-test/other:1"]) {
    const patch = JSON.stringify({ spec: { template: { image: { name: image } } } });
    const res = await kubectlAsA([
      ...["-n", tenant, "patch", "instances.berth.dev", instanceA.metadata.name ?? ""],
      ...["--type=merge", "--dry-run=server", "-p", patch],
    ]);
    assert.notEqual(res.code, 0, `agent A changed its Instance's image to ${image}`);
    assert.match(res.stderr, /spec\.template is immutable/, image);
  }

  // Gone with its Instance: the delivered environment does not outlive it.
  await kubectlOk(["-n", tenant, "delete", "definition.berth.dev", "web-a", "--wait=false"]);
  await waitFor("A's delivered environment to be removed", async () =>
    (await getOrUndefined(() => client().get(SECRETS, refA))) ? undefined : true,
  );
  await kubectlOk(["-n", tenant, "delete", "definition.berth.dev", "web-b", "--wait=false"]);
  await waitFor("the Instances to be gone", async () =>
    (await listInstances(tenant)).length === 0 ? true : undefined,
  );
});
