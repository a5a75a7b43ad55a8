import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { RegistryClient } from "./registry-client.js";
import type { RegistryInstance, ServiceInstances } from "./types.js";

const instance = (name: string): RegistryInstance => ({
  name,
  url: `http://${name}:80`,
  host: name,
  port: 80,
  node: null,
  deploymentId: null,
  ready: true,
  external: true,
});

/** A registry replica: answers at once when the client's index is behind `state`, else parks. */
async function replica(
  state: { index: number; instances: RegistryInstance[] },
  seen: string[],
): Promise<{ server: Server; url: string }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.url ?? "");
    const asked = Number(new URL(req.url ?? "/", "http://x").searchParams.get("index") ?? "0");
    if (asked >= state.index) return; // parked until the server goes away
    res.setHeader("X-Berth-Index", String(state.index));
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ slug: "web", namespace: "default", ...state }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test("a watch parked on a replica that dies resumes on the next URL and sees the change made meanwhile", async () => {
  const seenA: string[] = [];
  const seenB: string[] = [];
  const a = await replica({ index: 5, instances: [instance("one")] }, seenA);
  const b = await replica({ index: 9, instances: [instance("one"), instance("two")] }, seenB);
  const client = new RegistryClient({ url: [a.url, b.url], maxBackoffMs: 500 });
  const abort = new AbortController();
  const watch = client.watch("web", { signal: abort.signal });
  try {
    const first = await watch.next();
    assert.equal(first.value?.index, 5);
    const second = watch.next();
    // The watch's blocking query is parked on A; A dies.
    while (!seenA.some((u) => u.includes("index=5"))) await new Promise((r) => setTimeout(r, 10));
    a.server.closeAllConnections();
    a.server.close();
    const resumed = (await second).value as ServiceInstances;
    assert.equal(resumed.index, 9);
    assert.deepEqual(
      resumed.instances.map((i) => i.name),
      ["one", "two"],
    );
    assert.ok(
      seenB.some((u) => u.includes("index=5")),
      "B was asked from the index A last answered",
    );
  } finally {
    abort.abort();
    await watch.return(undefined);
    a.server.close();
    b.server.closeAllConnections();
    b.server.close();
  }
});

test("a 5xx moves the next request to the next replica; one URL keeps using that one", async () => {
  let calls = 0;
  const failing = createServer((_req, res) => {
    calls++;
    res.statusCode = 503;
    res.end("{}");
  });
  await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
  const failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`;
  const seen: string[] = [];
  const good = await replica({ index: 3, instances: [instance("one")] }, seen);
  try {
    const client = new RegistryClient({ url: [failingUrl, good.url] });
    await assert.rejects(client.lookup("web"), /503/);
    assert.equal((await client.lookup("web")).index, 3);
    assert.equal(calls, 1);
    const single = new RegistryClient({ url: failingUrl });
    await assert.rejects(single.lookup("web"), /503/);
    await assert.rejects(single.lookup("web"), /503/);
    assert.equal(calls, 3);
    assert.throws(() => new RegistryClient({ url: [] }), /url: at least one/);
  } finally {
    failing.close();
    good.server.closeAllConnections();
    good.server.close();
  }
});
