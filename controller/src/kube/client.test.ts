import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { restClientRequestDuration, restClientRequests } from "../runtime/metrics.js";
import { waitUntil } from "../runtime/testing.js";
import { newKubeClient, type KubeClient } from "./client.js";
import { isNotFound } from "./errors.js";
import { CONFIGMAPS } from "./resources.js";

/**
 * A tiny stand-in API server on loopback: enough HTTP for the client to make real requests
 * (the metrics are about requests on the wire, which an in-memory fake never makes).
 */
async function startServer(t: { after(fn: () => Promise<void>): void }): Promise<{
  client: KubeClient;
  host: string;
}> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    res.setHeader("Content-Type", "application/json");
    if (url.searchParams.get("watch") === "true") {
      // An open watch: one event, then the stream stays open until the client stops it.
      res.writeHead(200);
      res.write(JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "7" } } }) + "\n");
      return;
    }
    if (req.method === "GET" && url.pathname.endsWith("/configmaps/present")) {
      res.end(JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "present" } }));
      return;
    }
    if (req.method === "PATCH") {
      res.end(JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "present" } }));
      return;
    }
    res.writeHead(404);
    res.end(
      JSON.stringify({ kind: "Status", status: "Failure", reason: "NotFound", code: 404, message: "nope" }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "local", server: `http://${host}`, skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "local", cluster: "local", user: "nobody" }],
    currentContext: "local",
  });
  return { client: newKubeClient(kc), host };
}

async function requests(labels: { code: string; method: string; host: string }): Promise<number> {
  const metric = await restClientRequests.get();
  const { code, method, host } = labels;
  const sample = metric.values.find(
    (v) => v.labels.code === code && v.labels.method === method && v.labels.host === host,
  );
  return sample?.value ?? 0;
}

async function observations(verb: string, host: string): Promise<number> {
  const metric = await restClientRequestDuration.get();
  return (
    metric.values.find(
      (v) =>
        v.metricName === "rest_client_request_duration_seconds_count" &&
        v.labels.verb === verb &&
        v.labels.host === host,
    )?.value ?? 0
  );
}

test("every request is counted by code, method and host, and timed by verb and host", async (t) => {
  const { client, host } = await startServer(t);
  const ref = { namespace: "default", name: "present" };
  await client.get(CONFIGMAPS, ref);
  await client.get(CONFIGMAPS, ref);
  await assert.rejects(client.get(CONFIGMAPS, { namespace: "default", name: "absent" }), isNotFound);
  await client.mergePatch(CONFIGMAPS, ref, { data: { a: "b" } });

  assert.equal(await requests({ code: "200", method: "GET", host }), 2);
  assert.equal(await requests({ code: "404", method: "GET", host }), 1);
  assert.equal(await requests({ code: "200", method: "PATCH", host }), 1);
  assert.equal(await observations("GET", host), 3);
  assert.equal(await observations("PATCH", host), 1);
});

test("a watch counts once, when it is opened, however long it runs", async (t) => {
  const { client, host } = await startServer(t);
  const events: string[] = [];
  let done!: () => void;
  const ended = new Promise<void>((resolve) => (done = resolve));
  const handle = await client.watch(
    CONFIGMAPS,
    { namespace: "default", resourceVersion: "1" },
    (event) => events.push(event.type),
    () => done(),
  );
  await waitUntil("the watch's first event", () => events.length > 0);
  assert.equal(await requests({ code: "200", method: "GET", host }), 1);
  handle.stop();
  await ended;
  assert.equal(await requests({ code: "200", method: "GET", host }), 1, "stopping it counts nothing");
  assert.equal(await observations("GET", host), 1);
});

test("a request that gets no answer is counted with code <error>", async (t) => {
  const { host } = await startServer(t);
  // Nothing listens on the port of a server that has just closed.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "gone", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "gone", cluster: "gone", user: "nobody" }],
    currentContext: "gone",
  });
  const unreachable = newKubeClient(kc);
  await assert.rejects(unreachable.get(CONFIGMAPS, { namespace: "default", name: "x" }));
  let watchError: Error | undefined;
  await unreachable.watch(
    CONFIGMAPS,
    { namespace: "default", resourceVersion: "1" },
    () => undefined,
    (err) => {
      watchError = err;
    },
  );
  assert.ok(watchError, "the watch failed");
  const gone = `127.0.0.1:${port}`;
  assert.equal(await requests({ code: "<error>", method: "GET", host: gone }), 2);
  assert.equal(await requests({ code: "<error>", method: "GET", host }), 0, "hosts are told apart");
});
