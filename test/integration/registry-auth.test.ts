/**
 * The registry's tenancy is Kubernetes': real ServiceAccount tokens checked by TokenReview,
 * every request authorized by SubjectAccessReview against real RBAC in its namespace.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Instance } from "../../controller/src/api/types.js";
import { INSTANCES } from "../../controller/src/kube/resources.js";
import { kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import { client } from "./controller-fixtures.js";
import {
  call,
  collectEvents,
  openWaits,
  runRegistry,
  serviceAccountToken,
  type LookupBody,
  type StreamEvent,
} from "./registry-api-fixtures.js";

type ErrorBody = { error: { message: string } };

async function declareExternal(namespace: string, slug: string): Promise<void> {
  const instance: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { name: `${slug}-fixed`, namespace },
    spec: { definition: slug, external: { url: "http://192.0.2.20:8080" } },
  };
  await client().create(INSTANCES, instance);
}

test("a token with get on definitions in A reads A and gets 403 in B; no rights is 403; a garbage or missing token is 401", async (t) => {
  const a = await testNamespace(t, "berth-reg-a");
  const b = await testNamespace(t, "berth-reg-b");
  await declareExternal(a, "web");
  await declareExternal(b, "web");
  const reader = await serviceAccountToken(a, "reader", [
    { verbs: ["get", "list"], resources: ["definitions"] },
  ]);
  const nobody = await serviceAccountToken(a, "nobody");
  const writer = await serviceAccountToken(a, "writer", [
    { verbs: ["get"], resources: ["definitions"] },
    { verbs: ["create", "update", "delete"], resources: ["instances"] },
  ]);
  const registry = await runRegistry(t, { allowAnonymousLoopback: false });

  const inA = await call<LookupBody>(registry, "GET", `/v1/namespaces/${a}/services/web`, { token: reader });
  assert.equal(inA.status, 200);
  assert.equal(inA.body.instances[0]?.url, "http://192.0.2.20:8080");
  assert.equal((await call(registry, "GET", `/v1/namespaces/${a}/services`, { token: reader })).status, 200);

  const inB = await call<ErrorBody>(registry, "GET", `/v1/namespaces/${b}/services/web`, { token: reader });
  assert.equal(inB.status, 403);
  assert.equal(
    inB.body.error.message,
    `forbidden: user "system:serviceaccount:${a}:reader" cannot get definitions.berth.dev "web" in namespace "${b}"`,
  );
  const listB = await call<ErrorBody>(registry, "GET", `/v1/namespaces/${b}/services`, { token: reader });
  assert.equal(listB.status, 403);
  assert.match(
    listB.body.error.message,
    new RegExp(`cannot list definitions\\.berth\\.dev in namespace "${b}"`),
  );

  const noRights = await call<ErrorBody>(registry, "GET", `/v1/namespaces/${a}/services/web`, {
    token: nobody,
  });
  assert.equal(noRights.status, 403);
  assert.match(noRights.body.error.message, /nobody" cannot get definitions\.berth\.dev "web"/);

  const garbage = await call<ErrorBody>(registry, "GET", `/v1/namespaces/${a}/services/web`, {
    token: "not-a-token",
  });
  assert.equal(garbage.status, 401);
  assert.match(garbage.body.error.message, /not accepted/);
  assert.equal(garbage.headers.get("www-authenticate"), 'Bearer realm="berth"');
  const missing = await call<ErrorBody>(registry, "GET", `/v1/namespaces/${a}/services/web`);
  assert.equal(missing.status, 401, "no anonymous reads unless the operator allows them");
  assert.match(missing.body.error.message, /bearer token is required/);
  const malformed = await call(registry, "GET", `/v1/namespaces/${a}/services/web`, {
    headers: { Authorization: "Basic dTpw" },
  });
  assert.equal(malformed.status, 401);

  // Registering needs create on instances: a reader may not, a writer may, and only in A.
  const body = { url: "http://192.0.2.30:8080", ttlSeconds: 30 };
  const readerWrites = await call<ErrorBody>(registry, "POST", `/v1/namespaces/${a}/services/web/instances`, {
    token: reader,
    body,
  });
  assert.equal(readerWrites.status, 403);
  assert.match(
    readerWrites.body.error.message,
    new RegExp(`cannot create instances\\.berth\\.dev in namespace "${a}"`),
  );
  const writerInB = await call(registry, "POST", `/v1/namespaces/${b}/services/web/instances`, {
    token: writer,
    body,
  });
  assert.equal(writerInB.status, 403);
  const registered = await call<{ name: string }>(
    registry,
    "POST",
    `/v1/namespaces/${a}/services/web/instances`,
    {
      token: writer,
      body,
    },
  );
  assert.equal(registered.status, 201);
  const created = await client().get(INSTANCES, { namespace: a, name: registered.body.name });
  assert.equal(
    created.metadata.annotations?.["berth.dev/registered-by"],
    `system:serviceaccount:${a}:writer`,
  );
  const beatByReader = await call(
    registry,
    "PUT",
    `/v1/namespaces/${a}/services/web/instances/${registered.body.name}/heartbeat`,
    { token: reader },
  );
  assert.equal(beatByReader.status, 403);
  const deleteByReader = await call(
    registry,
    "DELETE",
    `/v1/namespaces/${a}/services/web/instances/${registered.body.name}`,
    {
      token: reader,
    },
  );
  assert.equal(deleteByReader.status, 403);
  assert.equal(
    (await client().get(INSTANCES, { namespace: a, name: registered.body.name })).spec.external?.url,
    body.url,
  );
});

test("anonymous reads are allowed from loopback only with the flag, and never writes", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  await declareExternal(namespace, "web");
  const registry = await runRegistry(t, { allowAnonymousLoopback: true });
  assert.equal((await call(registry, "GET", `/v1/namespaces/${namespace}/services/web`)).status, 200);
  const write = await call<ErrorBody>(
    registry,
    "POST",
    `/v1/namespaces/${namespace}/services/web/instances`,
    {
      body: { url: "http://192.0.2.30:8080" },
    },
  );
  assert.equal(write.status, 401);
  assert.equal((await client().list(INSTANCES, { namespace })).items.length, 1, "nothing written");
});

test("an open event stream is checked again: removing the caller's RoleBinding ends it with an error event", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  await declareExternal(namespace, "web");
  const reader = await serviceAccountToken(namespace, "reader", [
    { verbs: ["get", "list"], resources: ["definitions"] },
  ]);
  const recheckMs = 300;
  const registry = await runRegistry(t, {
    allowAnonymousLoopback: false,
    authCacheTtlMs: 0,
    streamRecheckMs: recheckMs,
  });
  const events: StreamEvent[] = [];
  await collectEvents(t, registry, `/v1/namespaces/${namespace}/services/web/events`, events, reader);
  await waitFor("the first event", () => events.length > 0, { timeoutMs: 10_000 });
  assert.equal(events[0]!.event, "instances");
  // Rechecks that allow it change nothing (wait for two to have happened).
  const allowedBefore = await streamRechecks("allowed");
  await waitFor("two rechecks", async () => (await streamRechecks("allowed")) >= allowedBefore + 2, {
    timeoutMs: 10_000,
  });
  assert.deepEqual(
    events.map((e) => e.event),
    ["instances"],
    "an allowed reader keeps its stream",
  );
  assert.equal(await openWaits("stream"), 1);

  await kubectlOk(["delete", "rolebinding", "reader", "-n", namespace]);
  await waitFor("an error event", () => events.some((e) => e.event === "error"), { timeoutMs: 15_000 });
  const refusal = events.find((e) => e.event === "error")!.data as unknown as {
    code: number;
    message: string;
  };
  assert.equal(refusal.code, 403);
  assert.match(refusal.message, /reader" cannot get definitions\.berth\.dev "web"/);
  await waitFor("the stream closed", async () => (await openWaits("stream")) === 0, { timeoutMs: 10_000 });
});

async function streamRechecks(result: "allowed" | "refused"): Promise<number> {
  const { registryStreamRechecks } = await import("../../controller/src/registry/metrics.js");
  return (await registryStreamRechecks.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}
