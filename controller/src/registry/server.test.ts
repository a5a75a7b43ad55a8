/**
 * The registry's HTTP server on a real loopback socket, over caches fed by the in-memory API
 * server: what depends on the server's own plumbing (parked list queries, slow stream
 * readers), not on RBAC or the real API server (those are in test/integration/registry-*).
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { API_VERSION, type Instance, type Node } from "../api/types.js";
import { DEFINITIONS, INSTANCES, NODES } from "../kube/resources.js";
import { FakeClock } from "../testing/fake-clock.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { Informer } from "../runtime/informer.js";
import { nullLogger } from "../runtime/log.js";
import { KubeAuthorizer } from "./auth.js";
import { ServiceCatalog } from "./catalog.js";
import { ExternalInstances } from "./external.js";
import { WaitSlots } from "./limits.js";
import { registryOpenWaits } from "./metrics.js";
import { RegistryServer } from "./server.js";
import { INDEX_HEADER } from "./service-reads.js";

async function serve(t: TestContext, streamBufferBytes = 256 * 1024) {
  const api = new FakeApiServer();
  const clock = new FakeClock();
  const caches = {
    definitions: new Informer(api, DEFINITIONS, { clock }),
    instances: new Informer(api, INSTANCES, { clock }),
    nodes: new Informer(api, NODES, { clock }),
  };
  for (const informer of Object.values(caches)) informer.start();
  for (const informer of Object.values(caches)) await informer.waitForSync();
  const server = new RegistryServer({
    host: "127.0.0.1",
    port: 0,
    catalog: new ServiceCatalog(caches),
    authorizer: new KubeAuthorizer({ client: api, clock, cacheTtlMs: 0, cacheSize: 0 }),
    external: new ExternalInstances({ client: api, instances: caches.instances, clock, logger: nullLogger }),
    slots: new WaitSlots({ total: 10, perClient: 10, retryAfterSeconds: 1 }),
    ttl: { minSeconds: 1, maxSeconds: 60, defaultSeconds: 10 },
    maxWaitMs: 30_000,
    maxBodyBytes: 16 * 1024,
    allowAnonymousLoopback: true,
    streamBufferBytes,
    logger: nullLogger,
  });
  const { url, port } = await server.start();
  t.after(async () => {
    await server.stop();
    for (const informer of Object.values(caches)) await informer.stop();
  });
  await api.create(NODES, readyNode("n1"));
  return { api, url, port };
}

function readyNode(name: string): Node {
  return {
    apiVersion: API_VERSION,
    kind: "Node",
    metadata: { name },
    spec: { url: `http://${name}.example:2375` },
    status: { conditions: [{ type: "Ready", status: "True", reason: "HeartbeatFresh" }] },
  } as unknown as Node;
}

function external(namespace: string, name: string, slug: string, url: string): Instance {
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { name, namespace },
    spec: { definition: slug, external: { url } },
  };
}

const openStreams = async (): Promise<number> =>
  (await registryOpenWaits.get()).values.find((v) => v.labels.kind === "stream")?.value ?? 0;

test("a blocking query on a namespace's service list is parked until the list changes", async (t) => {
  const { api, url } = await serve(t);
  await api.create(INSTANCES, external("team", "db-1", "db", "http://192.0.2.1:5432"));
  const first = await fetch(`${url}/v1/namespaces/team/services`);
  const index = Number(first.headers.get(INDEX_HEADER));
  assert.equal(first.status, 200);
  assert.deepEqual(
    ((await first.json()) as { services: Array<{ slug: string }> }).services.map((s) => s.slug),
    ["db"],
  );

  let answered = false;
  const parked = fetch(`${url}/v1/namespaces/team/services?index=${index}&wait=20s`).then((res) => {
    answered = true;
    return res;
  });
  // A change elsewhere does not answer it.
  await api.create(INSTANCES, external("other", "db-1", "db", "http://192.0.2.2:5432"));
  const other = await fetch(`${url}/v1/namespaces/other/services`);
  assert.equal(other.status, 200, "the other namespace's change is in the caches");
  await other.arrayBuffer();
  assert.equal(answered, false, "a change in another namespace leaves the query parked");

  await api.create(INSTANCES, external("team", "cache-1", "cache", "http://192.0.2.3:6379"));
  const res = await parked;
  assert.equal(res.status, 200);
  const body = (await res.json()) as { index: number; services: Array<{ slug: string }> };
  assert.ok(body.index > index, "the answer carries a newer index");
  assert.equal(res.headers.get(INDEX_HEADER), String(body.index));
  assert.deepEqual(
    body.services.map((s) => s.slug),
    ["cache", "db"],
  );

  const unchanged = await fetch(`${url}/v1/namespaces/team/services?index=${body.index}&wait=200ms`);
  assert.equal(unchanged.status, 200, "a wait that runs out answers with the same list");
  assert.equal(Number(unchanged.headers.get(INDEX_HEADER)), body.index);
  await unchanged.arrayBuffer();
});

test("an event stream whose reader stops reading is dropped, not buffered without bound", async (t) => {
  const { api, port } = await serve(t, 64 * 1024);
  // A service with a large answer: every change is tens of KiB on the wire.
  const many = Array.from({ length: 300 }, (_, i) =>
    external(
      "team",
      `web-${String(i).padStart(3, "0")}`,
      "web",
      `http://192.0.2.${(i % 250) + 1}:${8000 + i}`,
    ),
  );
  for (const instance of many) await api.create(INSTANCES, instance);

  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  let closed = false;
  socket.on("close", () => (closed = true));
  socket.on("error", () => undefined);
  socket.write("GET /v1/namespaces/team/services/web/events HTTP/1.1\r\nHost: registry\r\n\r\n");
  // Read the headers, then stop reading for good.
  await new Promise<void>((resolve) => socket.once("data", () => resolve()));
  socket.pause();
  assert.equal(await openStreams(), 1);

  // Flip one instance's URL back and forth: each change sends the whole list again.
  let changes = 0;
  while ((await openStreams()) > 0 && changes < 2000) {
    const name = "web-000";
    const current = await api.get(INSTANCES, { namespace: "team", name });
    await api.replace(INSTANCES, {
      ...current,
      spec: { ...current.spec, external: { url: `http://192.0.2.1:${changes % 2 === 0 ? 9000 : 8000}` } },
    });
    changes++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(await openStreams(), 0, `the stream was dropped (after ${changes} changes)`);
  assert.ok(changes < 2000);
  socket.resume();
  socket.on("data", () => undefined);
  await new Promise<void>((resolve) => (closed ? resolve() : socket.once("close", () => resolve())));
  assert.ok(closed, "the server closed the connection");
});
