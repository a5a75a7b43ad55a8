/**
 * Self-registration against the real API server: an external instance with a TTL appears
 * in lookup and `kubectl get instances`, stays ready while heartbeats arrive (which are not
 * all written), leaves the ready list within TTL + 1 s of the last one and is deleted after
 * the grace period; DELETE removes it at once; bad input is refused with nothing written;
 * blocking queries are bounded per client and in all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { API_VERSION, type Instance } from "../../controller/src/api/types.js";
import { INSTANCE_FINALIZER } from "../../controller/src/api/vocabulary.js";
import { INSTANCES } from "../../controller/src/kube/resources.js";
import { ignoreNotFound } from "../../controller/src/kube/errors.js";
import { registryHeartbeatWrites, registryHeartbeats } from "../../controller/src/registry/metrics.js";
import { removeFinalizer } from "../../controller/src/runtime/finalizers.js";
import { kubectlOk, testNamespace, waitFor } from "../harness/index.js";
import { client } from "./controller-fixtures.js";
import {
  call,
  openWaits,
  runRegistry,
  serviceAccountToken,
  type LookupBody,
} from "./registry-api-fixtures.js";

type ErrorBody = { error: { code: number; message: string; field?: string } };

const WRITER_RULES = [
  { verbs: ["get", "list"], resources: ["definitions"] },
  { verbs: ["create", "update", "delete"], resources: ["instances"] },
];

async function counter(metric: typeof registryHeartbeats): Promise<number> {
  return (await metric.get()).values[0]?.value ?? 0;
}

test("a self-registered instance with a 3 s TTL lives on heartbeats, expires within TTL + 1 s and is deleted after 3 TTLs", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  const token = await serviceAccountToken(namespace, "writer", WRITER_RULES);
  const registry = await runRegistry(t);
  const base = `/v1/namespaces/${namespace}/services/legacy`;

  const registered = await call<{ name: string; ttlSeconds: number }>(registry, "POST", `${base}/instances`, {
    token,
    body: { url: "http://192.0.2.40:8080", ttlSeconds: 3, metadata: { zone: "b" } },
  });
  assert.equal(registered.status, 201);
  assert.equal(registered.body.ttlSeconds, 3);
  const name = registered.body.name;
  assert.equal(registered.headers.get("location"), `${base}/instances/${name}`);

  const listed = await waitFor("the instance in lookup", async () => {
    const answer = await call<LookupBody>(registry, "GET", base, { token });
    return answer.status === 200 && answer.body.instances.length === 1 ? answer : undefined;
  });
  assert.deepEqual(listed.body.instances[0], {
    name,
    url: "http://192.0.2.40:8080",
    host: "192.0.2.40",
    port: 8080,
    node: null,
    deploymentId: null,
    ready: true,
    external: true,
    metadata: { zone: "b" },
  });
  const row = (await kubectlOk(["get", "instances.berth.dev", name, "-n", namespace, "--no-headers"])).trim();
  assert.match(
    row,
    /^\S+\s+legacy\s+Running\s+true\s+http:\/\/192\.0\.2\.40:8080\s+http:\/\/192\.0\.2\.40:8080\s/,
  );

  // Three TTLs of heartbeats, one a second: ready throughout, and not every beat is written.
  const beatsBefore = await counter(registryHeartbeats);
  const writesBefore = await counter(registryHeartbeatWrites);
  let lastBeat = 0;
  for (let beat = 0; beat < 9; beat++) {
    const answer = await call(registry, "PUT", `${base}/instances/${name}/heartbeat`, { token });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    lastBeat = Date.now();
    const lookup = await call<LookupBody>(registry, "GET", base, { token });
    assert.equal(lookup.body.instances[0]?.ready, true, `ready after beat ${beat}`);
    await sleep(1000);
  }
  const beats = (await counter(registryHeartbeats)) - beatsBefore;
  const writes = (await counter(registryHeartbeatWrites)) - writesBefore;
  assert.equal(beats, 9);
  assert.ok(writes < beats, `heartbeats are not all written: ${writes} writes for ${beats} beats`);

  // Heartbeats stop: out of the ready list within TTL + 1 s of the last one.
  await waitFor(
    "the instance to leave the ready list",
    async () => (await call<LookupBody>(registry, "GET", base, { token })).body.instances.length === 0,
    { timeoutMs: lastBeat + 4000 - Date.now(), intervalMs: 100 },
  );
  const expired = await call<LookupBody>(registry, "GET", `${base}?include=all`, { token });
  assert.equal(expired.body.instances[0]?.reason, "HeartbeatExpired");
  // ...and its object is gone after the grace period, 3 TTLs after the last heartbeat.
  await waitFor(
    "the expired instance's object to be deleted",
    async () => (await client().list(INSTANCES, { namespace })).items.length === 0,
    { timeoutMs: lastBeat + 9000 + 3000 - Date.now(), intervalMs: 200 },
  );
  const late = await call<ErrorBody>(registry, "PUT", `${base}/instances/${name}/heartbeat`, { token });
  assert.equal(late.status, 404);
});

test("DELETE deregisters an external instance at once and never touches a Berth-run one", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  const token = await serviceAccountToken(namespace, "writer", WRITER_RULES);
  const registry = await runRegistry(t);
  const base = `/v1/namespaces/${namespace}/services/legacy`;
  const registered = await call<{ name: string }>(registry, "POST", `${base}/instances`, {
    token,
    body: { url: "https://legacy.example.test" },
  });
  assert.equal(registered.status, 201);
  const name = registered.body.name;
  const created = await client().get(INSTANCES, { namespace, name });
  assert.equal(created.spec.external?.ttlSeconds, 30, "the default TTL");

  const removed = await call(registry, "DELETE", `${base}/instances/${name}`, { token });
  assert.equal(removed.status, 204);
  const after = await client().list(INSTANCES, { namespace });
  assert.deepEqual(after.items, [], "gone from the API server when DELETE answers");
  await waitFor(
    "lookup to forget it",
    async () => (await call(registry, "GET", base, { token })).status === 404,
  );
  assert.equal((await call(registry, "DELETE", `${base}/instances/${name}`, { token })).status, 404);

  const berthRun: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { name: "legacy-0123456789-0", namespace, finalizers: [INSTANCE_FINALIZER] },
    spec: {
      definition: "legacy",
      deploymentId: "0123456789abcdef",
      template: { image: { name: "app:1", port: 80 } },
    },
  };
  await client().create(INSTANCES, berthRun);
  t.after(async () => {
    const current = await client().get(INSTANCES, { namespace, name: "legacy-0123456789-0" });
    await ignoreNotFound(removeFinalizer(client(), INSTANCES, current, INSTANCE_FINALIZER));
  });
  const refused = await call<ErrorBody>(registry, "DELETE", `${base}/instances/legacy-0123456789-0`, {
    token,
  });
  assert.equal(refused.status, 404);
  assert.match(refused.body.error.message, /no external instance "legacy-0123456789-0"/);
  const beat = await call(registry, "PUT", `${base}/instances/legacy-0123456789-0/heartbeat`, { token });
  assert.equal(beat.status, 404);
  const still = await client().get(INSTANCES, { namespace, name: "legacy-0123456789-0" });
  assert.equal(still.metadata.deletionTimestamp, undefined);
});

test("every bad input gets 400 naming the field, and nothing is written", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  const token = await serviceAccountToken(namespace, "writer", WRITER_RULES);
  const registry = await runRegistry(t, { maxBodyBytes: 1024 });
  const register = `/v1/namespaces/${namespace}/services/legacy/instances`;
  const cases: Array<{
    why: string;
    field: string;
    path?: string;
    method?: string;
    body?: unknown;
    raw?: string;
    headers?: Record<string, string>;
  }> = [
    { why: "malformed JSON", field: "body", raw: '{"url": "http://192.0.2.1' },
    { why: "not an object", field: "body", body: ["http://192.0.2.1"] },
    { why: "an unknown field", field: "colour", body: { url: "http://192.0.2.1", colour: "blue" } },
    { why: "no url", field: "url", body: { ttlSeconds: 10 } },
    { why: "a URL that is not http(s)", field: "url", body: { url: "ftp://192.0.2.1/" } },
    { why: "a URL with credentials", field: "url", body: { url: "http://user:pw@192.0.2.1/" } },
    { why: "not a URL", field: "url", body: { url: "192.0.2.1:8080" } },
    { why: "a TTL below the minimum", field: "ttlSeconds", body: { url: "http://192.0.2.1", ttlSeconds: 0 } },
    {
      why: "a TTL above the maximum",
      field: "ttlSeconds",
      body: { url: "http://192.0.2.1", ttlSeconds: 100000 },
    },
    {
      why: "a TTL that is a string",
      field: "ttlSeconds",
      body: { url: "http://192.0.2.1", ttlSeconds: "30" },
    },
    { why: "a TTL with a fraction", field: "ttlSeconds", body: { url: "http://192.0.2.1", ttlSeconds: 2.5 } },
    {
      why: "metadata that is not strings",
      field: "metadata.n",
      body: { url: "http://192.0.2.1", metadata: { n: 1 } },
    },
    {
      why: "an oversized body",
      field: "body",
      body: { url: "http://192.0.2.1", metadata: { big: "x".repeat(2000) } },
    },
    {
      why: "not JSON",
      field: "Content-Type",
      raw: "url=http://192.0.2.1",
      headers: { "Content-Type": "text/plain" },
    },
    {
      why: "a slug that is not a DNS label",
      field: "slug",
      path: `/v1/namespaces/${namespace}/services/Legacy_App/instances`,
      body: { url: "http://192.0.2.1" },
    },
    {
      why: "a namespace that is not one",
      field: "namespace",
      path: "/v1/namespaces/Team_A/services/legacy/instances",
      body: { url: "http://192.0.2.1" },
    },
    {
      why: "a wait that does not parse",
      field: "wait",
      method: "GET",
      path: `/v1/namespaces/${namespace}/services/legacy?index=1&wait=forever`,
    },
    {
      why: "an index that is not a number",
      field: "index",
      method: "GET",
      path: `/v1/namespaces/${namespace}/services/legacy?index=-1`,
    },
  ];
  for (const c of cases) {
    const answer = await call<ErrorBody>(registry, c.method ?? "POST", c.path ?? register, {
      token,
      ...(c.raw !== undefined ? { rawBody: c.raw } : {}),
      ...(c.body !== undefined ? { body: c.body } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    assert.equal(answer.status, 400, `${c.why}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.field, c.field, `${c.why}: ${answer.body.error.message}`);
    assert.ok(answer.body.error.message.startsWith(`${c.field}:`), `${c.why}: the message names the field`);
  }
  assert.deepEqual((await client().list(INSTANCES, { namespace })).items, [], "nothing written");
  const wrongMethod = await call(registry, "PATCH", register, { token, body: {} });
  assert.equal(wrongMethod.status, 405);
});

test("blocking queries beyond the per-client and total limits get 503 with Retry-After", async (t) => {
  const namespace = await testNamespace(t, "berth-reg");
  const first = await serviceAccountToken(namespace, "first", WRITER_RULES);
  const second = await serviceAccountToken(namespace, "second", WRITER_RULES);
  const third = await serviceAccountToken(namespace, "third", WRITER_RULES);
  const registry = await runRegistry(t, { maxWaits: 2, maxWaitsPerClient: 1 });
  await call(registry, "POST", `/v1/namespaces/${namespace}/services/legacy/instances`, {
    token: first,
    body: { url: "http://192.0.2.50" },
  });
  const path = `/v1/namespaces/${namespace}/services/legacy?index=999999999&wait=30s`;
  const parked = new AbortController();
  t.after(() => parked.abort());
  const park = (token: string) =>
    fetch(`${registry.url}${path}`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: parked.signal,
    }).catch(() => undefined);
  void park(first);
  await waitFor("one parked query", async () => (await openWaits("blocking")) === 1);
  const sameClient = await call<ErrorBody>(registry, "GET", path, { token: first });
  assert.equal(sameClient.status, 503);
  assert.equal(sameClient.headers.get("retry-after"), "5");
  assert.match(sameClient.body.error.message, /this client holds its limit of 1/);
  void park(second);
  await waitFor("two parked queries", async () => (await openWaits("blocking")) === 2);
  const overall = await call<ErrorBody>(registry, "GET", path, { token: third });
  assert.equal(overall.status, 503);
  assert.match(overall.body.error.message, /the registry holds its limit of 2/);
  const stream = await call<ErrorBody>(
    registry,
    "GET",
    `/v1/namespaces/${namespace}/services/legacy/events`,
    {
      token: third,
    },
  );
  assert.equal(stream.status, 503, "streams count against the same limit");
  parked.abort();
  await waitFor("the parked queries released", async () => (await openWaits("blocking")) === 0);
  assert.equal(
    (await call(registry, "GET", path.replace("wait=30s", "wait=0s"), { token: third })).status,
    200,
  );
});
