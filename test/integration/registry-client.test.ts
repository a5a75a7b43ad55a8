/**
 * The client library and the CLI against the real registry and API server: watch sees
 * every change in order (also across a registry restart), register keeps an instance alive
 * on heartbeats and removes it on close(), and `berth lookup` / `berth register` work as
 * documented.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { RegistryClient, type ServiceInstances } from "../../controller/src/client/index.js";
import { INSTANCES } from "../../controller/src/kube/resources.js";
import { run, spawnForTest, testNamespace, waitFor } from "../harness/index.js";
import { client as kube } from "./controller-fixtures.js";
import { runRegistry, serviceAccountToken } from "./registry-api-fixtures.js";

const CLI = path.join(fileURLToPath(new URL("../..", import.meta.url)), "controller/src/cli/main.ts");
const WRITER_RULES = [
  { verbs: ["get", "list"], resources: ["definitions"] },
  { verbs: ["create", "update", "delete"], resources: ["instances"] },
];

test("watch sees every change in order, across a registry restart", async (t) => {
  const namespace = await testNamespace(t, "berth-reg-client");
  const token = await serviceAccountToken(namespace, "writer", WRITER_RULES);
  const first = await runRegistry(t);
  const port = Number(new URL(first.url).port);
  const client = new RegistryClient({ url: first.url, namespace, token, maxBackoffMs: 1000 });
  const seen: ServiceInstances[] = [];
  const abort = new AbortController();
  t.after(() => abort.abort());
  const watching = (async () => {
    for await (const answer of client.watch("orders", { signal: abort.signal })) seen.push(answer);
  })();
  const names = (answer: ServiceInstances | undefined) => (answer?.instances ?? []).map((i) => i.url).sort();
  const observed = (urls: string[]) =>
    waitFor(
      `the watch to show ${urls.join(",") || "nothing"}`,
      () => seen.length > 0 && JSON.stringify(names(seen.at(-1))) === JSON.stringify(urls),
    );

  await observed([]);
  assert.equal(seen[0]?.found, false, "a slug nobody registered yet is not found, and still watched");
  const a = await client.register("orders", { url: "http://192.0.2.1:80", ttlSeconds: 30 });
  await observed(["http://192.0.2.1:80"]);
  const b = await client.register("orders", { url: "http://192.0.2.2:80", ttlSeconds: 30 });
  await observed(["http://192.0.2.1:80", "http://192.0.2.2:80"]);

  // The registry restarts on the same port: the watch reconnects and misses nothing.
  await first.stop();
  const c = await client
    .register("orders", { url: "http://192.0.2.3:80", ttlSeconds: 30 })
    .catch(() => undefined);
  assert.equal(c, undefined, "no registry to register with while it is down");
  await runRegistry(t, { port });
  const c2 = await client.register("orders", { url: "http://192.0.2.3:80", ttlSeconds: 30 });
  await observed(["http://192.0.2.1:80", "http://192.0.2.2:80", "http://192.0.2.3:80"]);
  await a.close();
  await observed(["http://192.0.2.2:80", "http://192.0.2.3:80"]);
  await b.close();
  await observed(["http://192.0.2.3:80"]);
  await c2.close();
  await observed([]);
  abort.abort();
  await watching;

  const distinct = seen
    .map(names)
    .filter((urls, i, all) => i === 0 || JSON.stringify(urls) !== JSON.stringify(all[i - 1]));
  assert.deepEqual(distinct, [
    [],
    ["http://192.0.2.1:80"],
    ["http://192.0.2.1:80", "http://192.0.2.2:80"],
    ["http://192.0.2.1:80", "http://192.0.2.2:80", "http://192.0.2.3:80"],
    ["http://192.0.2.2:80", "http://192.0.2.3:80"],
    ["http://192.0.2.3:80"],
    [],
  ]);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.index > seen[i - 1]!.index, "indexes only grow");
});

test("register keeps an instance alive across 3 TTLs on heartbeats and removes it on close()", async (t) => {
  const namespace = await testNamespace(t, "berth-reg-client");
  const token = await serviceAccountToken(namespace, "writer", WRITER_RULES);
  const registry = await runRegistry(t);
  const client = new RegistryClient({ url: registry.url, namespace, token });
  const handle = await client.register("batch", { url: "http://192.0.2.9:8080", ttlSeconds: 2 });
  t.after(() => handle.close());
  assert.equal(handle.ttlSeconds, 2);
  const until = Date.now() + 3 * 2000 + 500;
  while (Date.now() < until) {
    const answer = await client.lookup("batch");
    assert.deepEqual(
      answer.instances.map((i) => [i.name, i.ready]),
      [[handle.name, true]],
      "ready throughout",
    );
    await sleep(250);
  }
  await handle.close();
  assert.deepEqual((await kube().list(INSTANCES, { namespace })).items, [], "deregistered on close()");
  await waitFor("lookup to forget it", async () => !(await client.lookup("batch")).found);
});

test("berth lookup and berth register work from the command line", async (t) => {
  const namespace = await testNamespace(t, "berth-reg-cli");
  const token = await serviceAccountToken(namespace, "writer", WRITER_RULES);
  const registry = await runRegistry(t);
  const common = [`--registry-url=${registry.url}`, "-n", namespace];
  const env = { BERTH_REGISTRY_TOKEN: token };
  const registering = spawnForTest(
    t,
    process.execPath,
    [
      "--import",
      "tsx",
      CLI,
      "register",
      "cli-svc",
      "--url",
      "http://192.0.2.77:8080",
      "--ttl",
      "2s",
      ...common,
    ],
    env,
  );
  await waitFor("berth register to register", () => /registered (\S+)/.test(registering.output()));
  const name = /registered (\S+)/.exec(registering.output())?.[1];

  const lookup = await run(
    process.execPath,
    ["--import", "tsx", CLI, "lookup", "cli-svc", "-o", "json", ...common],
    {
      env: { ...process.env, ...env },
    },
  );
  assert.equal(lookup.code, 0, lookup.stderr);
  const answer = JSON.parse(lookup.stdout) as {
    instances: Array<{ name: string; url: string; ready: boolean }>;
  };
  assert.deepEqual(
    answer.instances.map((i) => [i.name, i.url, i.ready]),
    [[name, "http://192.0.2.77:8080", true]],
  );
  const table = await run(process.execPath, ["--import", "tsx", CLI, "lookup", "cli-svc", ...common], {
    env: { ...process.env, ...env },
  });
  assert.match(table.stdout, new RegExp(`^${name}\\s+http://192\\.0\\.2\\.77:8080\\s+true\\s+external`, "m"));
  const missing = await run(process.execPath, ["--import", "tsx", CLI, "lookup", "nothing", ...common], {
    env: { ...process.env, ...env },
  });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /service "nothing" not found/);
  const noToken = await run(process.execPath, ["--import", "tsx", CLI, "lookup", "cli-svc", ...common]);
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /bearer token is required.*HTTP 401/);

  // Kept alive past its TTL by the heartbeats, then Ctrl-C deregisters.
  await sleep(3000);
  assert.equal((await kube().get(INSTANCES, { namespace, name: name ?? "" })).status?.ready, true);
  const exited = new Promise<number | null>((resolve) => registering.child.once("exit", resolve));
  registering.child.kill("SIGINT");
  assert.equal(await exited, 0, registering.output());
  assert.match(registering.output(), /deregistered/);
  assert.deepEqual((await kube().list(INSTANCES, { namespace })).items, []);
});
