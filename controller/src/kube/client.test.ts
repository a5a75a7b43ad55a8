import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { waitUntil } from "../testing/fake-kube-client.js";
import { newKubeClient, type KubeClient } from "./client.js";
import type { FinishedRequest, RequestObserver } from "./transport.js";
import { isGone, isNotFound } from "./errors.js";
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
    if (req.method === "GET" && url.pathname.endsWith("/configmaps")) {
      // A list of three, a page at a time, with the count of the rest as the server gives it.
      listQueries.push(url.search);
      const start = Number(url.searchParams.get("continue") ?? 0);
      const limit = Number(url.searchParams.get("limit"));
      const names = ["a", "b", "c"].slice(start, start + limit);
      const rest = 3 - start - names.length;
      res.end(
        JSON.stringify({
          metadata: {
            resourceVersion: "9",
            ...(rest > 0 ? { continue: String(start + names.length), remainingItemCount: rest } : {}),
          },
          items: names.map((name) => ({ metadata: { name } })),
        }),
      );
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
  return { client: newKubeClient(kc, { observer: recorder }), host };
}

/** The query string of every list the stand-in server answered. */
const listQueries: string[] = [];

/** Every request the observed clients finished, for the tests to count. */
const finished: FinishedRequest[] = [];
const recorder: RequestObserver = { requestDone: (request) => finished.push(request) };

function requests(labels: { code: string; method: string; host: string }): number {
  const { code, method, host } = labels;
  return finished.filter((r) => r.code === code && r.method === method && r.host === host).length;
}

function observations(verb: string, host: string): number {
  return finished.filter((r) => r.method === verb && r.host === host && r.durationSeconds >= 0).length;
}

test("every request is counted by code, method and host, and timed by verb and host", async (t) => {
  const { client, host } = await startServer(t);
  const ref = { namespace: "default", name: "present" };
  await client.get(CONFIGMAPS, ref);
  await client.get(CONFIGMAPS, ref);
  await assert.rejects(client.get(CONFIGMAPS, { namespace: "default", name: "absent" }), isNotFound);
  await client.mergePatch(CONFIGMAPS, ref, { data: { a: "b" } });

  assert.equal(requests({ code: "200", method: "GET", host }), 2);
  assert.equal(requests({ code: "404", method: "GET", host }), 1);
  assert.equal(requests({ code: "200", method: "PATCH", host }), 1);
  assert.equal(observations("GET", host), 3);
  assert.equal(observations("PATCH", host), 1);
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
  assert.equal(requests({ code: "200", method: "GET", host }), 1);
  handle.stop();
  await ended;
  assert.equal(requests({ code: "200", method: "GET", host }), 1, "stopping it counts nothing");
  assert.equal(observations("GET", host), 1);
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
  const unreachable = newKubeClient(kc, { observer: recorder });
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
  assert.equal(requests({ code: "<error>", method: "GET", host: gone }), 2);
  assert.equal(requests({ code: "<error>", method: "GET", host }), 0, "hosts are told apart");
});

/** A server that accepts connections and never answers, like a wedged proxy. */
async function silentServer(t: { after(fn: () => Promise<void>): void }): Promise<KubeConfig> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "silent", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "silent", cluster: "silent", user: "nobody" }],
    currentContext: "silent",
  });
  return kc;
}

test("a watch whose server never answers fails once the request timeout has passed", async (t) => {
  const kc = await silentServer(t);
  const client = newKubeClient(kc, { requestTimeoutMs: 300 });
  let watchError: Error | undefined;
  await client.watch(
    CONFIGMAPS,
    { namespace: "default", resourceVersion: "1" },
    () => undefined,
    (err) => (watchError = err),
  );
  assert.match(watchError?.message ?? "", /no answer from the API server in 300 ms/);
});

test("aborting a watch that is still waiting for its answer ends it at once", async (t) => {
  const kc = await silentServer(t);
  // A request timeout far beyond the test's own: only the abort can end this watch.
  const client = newKubeClient(kc, { requestTimeoutMs: 600_000 });
  const abort = new AbortController();
  let doneCalls = 0;
  const opened = client.watch(
    CONFIGMAPS,
    { namespace: "default", resourceVersion: "1", signal: abort.signal },
    () => undefined,
    () => doneCalls++,
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  abort.abort();
  const handle = await opened;
  handle.stop();
  assert.equal(doneCalls, 1, "onDone is called exactly once");
});

test("a watch delivers events split across chunks and reports an error answer with its status", async (t) => {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.searchParams.get("resourceVersion") === "old") {
      res.writeHead(410, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", code: 410, reason: "Expired", message: "too old" }));
      return;
    }
    res.writeHead(200);
    const line = JSON.stringify({ type: "ADDED", object: { metadata: { name: "é-split" } } }) + "\n";
    const bytes = Buffer.from(line);
    res.write(bytes.subarray(0, 20));
    setTimeout(() => res.end(bytes.subarray(20)), 20);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "l", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "l", cluster: "l", user: "nobody" }],
    currentContext: "l",
  });
  const client = newKubeClient(kc);
  const names: string[] = [];
  const ended = await new Promise<Error | undefined>((resolve) => {
    void client.watch(
      CONFIGMAPS,
      { namespace: "default", resourceVersion: "1" },
      (event) => names.push((event.object as { metadata: { name: string } }).metadata.name),
      resolve,
    );
  });
  assert.equal(ended, undefined, "a stream the server closed ends without an error");
  assert.deepEqual(names, ["é-split"]);
  const gone = await new Promise<Error | undefined>((resolve) => {
    void client.watch(CONFIGMAPS, { namespace: "default", resourceVersion: "old" }, () => undefined, resolve);
  });
  assert.equal(isGone(gone), true, `expected 410, got ${gone?.message}`);
  assert.match(gone?.message ?? "", /too old/);
});

test("list follows every page; with a limit it reads one page and says how many items remain", async (t) => {
  const { client } = await startServer(t);
  listQueries.length = 0;
  const all = await client.list(CONFIGMAPS, { namespace: "ns", pageSize: 2 });
  assert.deepEqual(
    all.items.map((item) => item.metadata?.name),
    ["a", "b", "c"],
  );
  assert.equal(all.remainingItemCount, undefined);
  assert.equal(listQueries.length, 2, "two pages");
  listQueries.length = 0;
  const counted = await client.list(CONFIGMAPS, { namespace: "ns", limit: 1 });
  assert.deepEqual(
    counted.items.map((item) => item.metadata?.name),
    ["a"],
  );
  assert.equal(counted.remainingItemCount, 2);
  assert.equal(listQueries.length, 1, "one page, though the server offered more");
  assert.match(listQueries[0]!, /limit=1/);
});
