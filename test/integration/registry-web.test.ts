/**
 * The registry's web index in a real browser against the real API server (no containers
 * needed): a registry without anonymous reads asks for a token and keeps it in session
 * storage only; what the token may not read is refused on the page; a lost connection
 * shows "Reconnecting" and recovers; Nodes show a heartbeat age that counts up and their
 * Misconfigured warnings as text.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { API_VERSION, type Definition } from "../../controller/src/api/types.js";
import { DEFINITIONS, NODES } from "../../controller/src/kube/resources.js";
import { ignoreNotFound } from "../../controller/src/kube/errors.js";
import { testNamespace, waitFor } from "../harness/index.js";
import { client } from "./controller-fixtures.js";
import { runRegistry, serviceAccountToken } from "./registry-api-fixtures.js";
import {
  describeViolations,
  launchBrowser,
  openPage,
  screenshot,
  seriousAxeViolations,
} from "../e2e/web-fixtures.js";

function definition(namespace: string, name: string): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace },
    spec: { image: { name: "berth-test/echo:1", port: 8080 } },
  };
}

test("without anonymous reads the page asks for a token and keeps it in session storage only", async (t) => {
  const namespace = await testNamespace(t, "berth-web-token");
  const elsewhere = await testNamespace(t, "berth-web-other");
  await client().create(DEFINITIONS, definition(namespace, "alpha"));
  await client().create(DEFINITIONS, definition(elsewhere, "hidden"));
  const token = await serviceAccountToken(namespace, "reader", [
    { verbs: ["get", "list"], resources: ["definitions"] },
  ]);
  const registry = await runRegistry(t, { allowAnonymousLoopback: false });
  const browser = await launchBrowser(t);
  const problems: string[] = [];
  const page = await openPage(browser, problems);
  const requested: string[] = [];
  page.on("request", (request) => requested.push(request.url()));

  await page.goto(`${registry.url}/#/services/${namespace}`);
  await page.locator("#token").waitFor();
  const violations = await seriousAxeViolations(page);
  assert.equal(violations.length, 0, describeViolations(violations));
  await screenshot(page, "sign-in");

  await page.fill("#token", "not-a-token");
  await page.press("#token", "Enter");
  await page.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();

  await page.fill("#token", token);
  const namespacesRead = page.waitForResponse((res) => res.url().endsWith("/v1/ui/namespaces"));
  await page.getByRole("button", { name: "Use token" }).click();
  await page.getByRole("link", { name: "alpha", exact: true }).waitFor();
  const namespaces = (await (await namespacesRead).json()) as { namespaces: string[] };
  assert.deepEqual(namespaces.namespaces, [namespace], "only namespaces the token may list");
  assert.deepEqual(
    await page.locator("#namespace option").allTextContents(),
    [namespace],
    "the picker offers only namespaces the token may list",
  );
  assert.equal(await page.evaluate("sessionStorage.getItem('berth-registry-token')"), token);
  assert.equal(await page.evaluate("document.cookie"), "", "no cookie");
  assert.equal(await page.evaluate("localStorage.length"), 0, "nothing in local storage");
  assert.ok(
    requested.every((url) => !url.includes(token) && !url.includes("not-a-token")),
    "the token is never in a URL",
  );

  // The reader may not list Nodes: the page says so and names what is missing.
  await page.getByRole("link", { name: "Nodes" }).click();
  await page.getByRole("alert").filter({ hasText: "cannot list nodes.berth.dev" }).waitFor();
  assert.match((await page.textContent("#connection")) ?? "", /Refused/);

  await page.getByRole("button", { name: "Forget token" }).click();
  await page.locator("#token").waitFor();
  assert.equal(await page.evaluate("sessionStorage.getItem('berth-registry-token')"), null);
  assert.deepEqual(problems, []);
});

test("a lost connection shows Reconnecting, and the page catches up when the registry is back", async (t) => {
  const namespace = await testNamespace(t, "berth-web-reconnect");
  const first = await runRegistry(t, { allowAnonymousLoopback: true });
  const port = Number(new URL(first.url).port);
  const browser = await launchBrowser(t);
  const problems: string[] = [];
  const page = await openPage(browser, problems);
  await page.goto(`${first.url}/#/services/${namespace}`);
  await waitFor("live", async () => (await page.textContent("#connection")) === "Live");
  await page.evaluate("window.__marker = 1");

  await first.stop();
  await waitFor(
    "reconnecting shown",
    async () => (await page.textContent("#connection")) === "Reconnecting…",
  );
  await screenshot(page, "reconnecting");
  await client().create(DEFINITIONS, definition(namespace, "beta"));

  const second = await runRegistry(t, { allowAnonymousLoopback: true, port });
  assert.equal(second.url, first.url);
  await page.getByRole("link", { name: "beta", exact: true }).waitFor({ timeout: 30_000 });
  assert.equal(await page.textContent("#connection"), "Live");
  assert.equal(await page.evaluate("window.__marker"), 1, "never reloaded");
  assert.deepEqual(problems, []);
});

test("Nodes: the heartbeat age counts up; a Misconfigured warning is shown as text", async (t) => {
  const kube = client();
  const name = `web-node-${randomBytes(3).toString("hex")}`;
  t.after(() => ignoreNotFound(kube.delete(NODES, { name })));
  await kube.create(NODES, {
    apiVersion: API_VERSION,
    kind: "Node",
    metadata: { name },
    spec: { url: "tcp://127.0.0.1:2375", address: "127.0.0.1", capacity: { instances: 4, memory: "2Gi" } },
  });
  const message = "spec.url <b>tcp://127.0.0.1:2375</b> is loopback while other Nodes exist";
  const now = new Date().toISOString();
  await kube.patchStatus(
    NODES,
    { name },
    {
      status: {
        lastHeartbeat: now,
        conditions: [
          { type: "Misconfigured", status: "True", reason: "LoopbackURL", message, lastTransitionTime: now },
        ],
      },
    },
  );
  const registry = await runRegistry(t, { allowAnonymousLoopback: true });
  const browser = await launchBrowser(t);
  const problems: string[] = [];
  const page = await openPage(browser, problems);
  await page.goto(`${registry.url}/#/nodes`);
  const row = page.locator("#nodes tr", { has: page.locator(`[id="node-${name}"]`) });
  await row.waitFor();
  assert.match(
    (await row.textContent()) ?? "",
    /LoopbackURL: spec\.url <b>tcp:\/\/127\.0\.0\.1:2375<\/b> is loopback/,
  );
  assert.match((await row.textContent()) ?? "", /instances 4 · memory 2Gi/);
  assert.equal(await page.$("#nodes b"), null, "the message made no element");
  const age = async () => parseInt((await row.locator("time").textContent()) ?? "", 10);
  const before = await age();
  await waitFor("the heartbeat age to grow", async () => (await age()) >= before + 2);
  await screenshot(page, "nodes-misconfigured");
  const violations = await seriousAxeViolations(page);
  assert.equal(violations.length, 0, describeViolations(violations));
  assert.deepEqual(problems, []);
});

test("measured: the time from a Definition's creation to its row on the page", async (t) => {
  const namespace = await testNamespace(t, "berth-web-latency");
  const registry = await runRegistry(t, { allowAnonymousLoopback: true });
  const browser = await launchBrowser(t);
  const page = await openPage(browser, []);
  await page.goto(`${registry.url}/#/services/${namespace}`);
  await waitFor("live", async () => (await page.textContent("#connection")) === "Live");
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    await client().create(DEFINITIONS, definition(namespace, `svc-${i}`));
    const created = performance.now();
    await page.getByRole("link", { name: `svc-${i}`, exact: true }).waitFor({ timeout: 30_000 });
    samples.push(performance.now() - created);
  }
  samples.sort((a, b) => a - b);
  t.diagnostic(
    `creation to display over ${samples.length} Definitions: median ${samples[5]?.toFixed(0)} ms, max ${samples.at(-1)?.toFixed(0)} ms`,
  );
  assert.equal(await page.locator("#services tbody tr").count(), 10);
});
