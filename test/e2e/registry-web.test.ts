/**
 * The registry's web index in a real browser (Debian's chromium through playwright-core)
 * against the real stack: API server, controller and agent in-process, containers on an
 * extra engine, the registry role serving the page. Live updates arrive through the
 * registry's event streams (the page is never reloaded: a marker set in the page survives),
 * failures show their reason, an OpenAPI document's operations are listed, dynamic text
 * with HTML stays text, every link is reachable by keyboard and axe finds nothing serious.
 * (registry-web.test.ts in test/integration covers the token, reconnecting and Nodes.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Page } from "playwright-core";
import { API_VERSION, type DefinitionSpec } from "../../controller/src/api/types.js";
import { DEFINITIONS, EVENTS } from "../../controller/src/kube/resources.js";
import { images, testNamespace, waitFor } from "../harness/index.js";
import { client, getDefinition } from "../integration/controller-fixtures.js";
import { runRegistry } from "../integration/registry-api-fixtures.js";
import { runAgentInProcess, runControllerInProcess, startEngines } from "./rollout-fixtures.js";
import {
  describeViolations,
  launchBrowser,
  linksOf,
  openPage,
  screenshot,
  seriousAxeViolations,
  tabThrough,
} from "./web-fixtures.js";

/** An engine number no other test file uses. */
const ENGINE = 71;
/** What the issue asks of a new Definition: on the page within this long, no reload. */
const LISTED_WITHIN_MS = 2000;
const INJECTED = `<img src=x data-injected=event onerror="window.__pwned=1"><script>window.__pwned=1</script>`;

/** A service's row on the Services page. */
function row(page: Page, slug: string) {
  return page.locator("#services tr", { has: page.getByRole("link", { name: slug, exact: true }) });
}

/** The row's text, "" while it is not listed. */
async function rowText(page: Page, slug: string): Promise<string> {
  const found = row(page, slug);
  return (await found.count()) === 1 ? ((await found.textContent()) ?? "") : "";
}

async function readyCell(page: Page, slug: string): Promise<string> {
  const cell = row(page, slug).locator('[data-test="ready"]');
  return (await cell.count()) === 1 ? ((await cell.textContent()) ?? "") : "";
}

async function waitForPage(page: Page, what: string, check: () => Promise<boolean>, timeoutMs = 120_000) {
  await waitFor(what, check, { timeoutMs });
}

test("the web index follows the real stack live in a browser", { timeout: 420_000 }, async (t) => {
  const namespace = await testNamespace(t, "berth-web");
  const world = await startEngines(t, namespace, [ENGINE]);
  await runControllerInProcess(world);
  await runAgentInProcess(world, world.nodes[0]!);
  const registry = await runRegistry(t, { allowAnonymousLoopback: true });
  const kube = client();
  const browser = await launchBrowser(t);
  const problems: string[] = [];
  const page = await openPage(browser, problems);
  const placement = { nodeSelector: world.labels };
  const echo: DefinitionSpec = { image: { name: images.echo, port: 8080 }, placement, replicas: 1 };

  await t.test("security headers, no inline script, and the page weight", async () => {
    const res = await fetch(`${registry.url}/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get("content-security-policy") ?? "";
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ]) {
      assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    }
    assert.ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), csp);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, "every script is a file");
    assert.doesNotMatch(html, /<style|style=|https?:\/\//, "no inline style, nothing from elsewhere");
    let bytes = Buffer.byteLength(html);
    const assets = ["app.js", "dom.js", "registry.js", "service.js", "app.css", "icon.svg"];
    for (const asset of assets.map((file) => `/ui/${file}`)) {
      bytes += (await (await fetch(`${registry.url}${asset}`)).arrayBuffer()).byteLength;
    }
    t.diagnostic(`page weight: ${(bytes / 1024).toFixed(1)} KiB uncompressed (html, 4 scripts, css, icon)`);
    assert.ok(bytes < 64 * 1024, `the page stays small: ${bytes} bytes`);
  });

  await t.test("a Definition applied while the page is open is listed live, within 2 s", async () => {
    await page.goto(`${registry.url}/#/services/${namespace}`);
    await waitForPage(page, "the empty list", async () =>
      /0 of 0 services/.test((await page.textContent("#service-count")) ?? ""),
    );
    await page.evaluate("window.__marker = 1");
    await kube.create(DEFINITIONS, {
      apiVersion: API_VERSION,
      kind: "Definition",
      metadata: { name: "web", namespace },
      spec: echo,
    });
    const applied = Date.now();
    await page.getByRole("link", { name: "web", exact: true }).waitFor({ timeout: LISTED_WITHIN_MS });
    t.diagnostic(
      `a new Definition was on the page ${Date.now() - applied} ms after the API server accepted it`,
    );
    await waitForPage(page, "web ready 1/1", async () => (await readyCell(page, "web")) === "1/1");
    assert.match(await rowText(page, "web"), /http:\/\/127\.0\.0\.71:\d+/, "the ready address is shown");
    assert.ok(await page.$(`#services a[href^="http://127.0.0.${ENGINE}:"]`), "the address is a link");
    await screenshot(page, "services");
  });

  await t.test("scaling to 0 and back updates the counts live", async () => {
    await kube.mergePatch(DEFINITIONS, { namespace, name: "web" }, { spec: { replicas: 0 } });
    await waitForPage(page, "web 0/0", async () => (await readyCell(page, "web")) === "0/0");
    await kube.mergePatch(DEFINITIONS, { namespace, name: "web" }, { spec: { replicas: 1 } });
    await waitForPage(page, "web 1/1 again", async () => (await readyCell(page, "web")) === "1/1");
    assert.equal(await page.evaluate("window.__marker"), 1, "never reloaded");
  });

  await t.test("a Definition with a missing image shows why it is not ready", async () => {
    await kube.create(DEFINITIONS, {
      apiVersion: API_VERSION,
      kind: "Definition",
      metadata: { name: "ghost", namespace },
      spec: { image: { name: "berth-test/missing:1", port: 8080, pullPolicy: "Never" }, placement },
    });
    const problem = await waitFor(
      "ghost's status to name a problem",
      async () => {
        const conditions = (await getDefinition(namespace, "ghost"))?.status?.conditions ?? [];
        return conditions.find((c) => c.type === "Degraded" && c.status === "True");
      },
      { timeoutMs: 120_000 },
    );
    await waitForPage(page, "ghost's reason on the page", async () =>
      (await rowText(page, "ghost")).includes(problem.reason),
    );
    assert.ok((await rowText(page, "ghost")).includes(problem.message), "and its message");
    await page.getByRole("link", { name: "ghost", exact: true }).click();
    await waitForPage(page, "the failed instance's reason", async () =>
      /berth-test\/missing:1/.test((await page.textContent("#service")) ?? ""),
    );
    await screenshot(page, "service-failing");
  });

  await t.test(
    "an openapi endpoint's operations are listed; HTML in them and in Events is text",
    async () => {
      await kube.create(DEFINITIONS, {
        apiVersion: API_VERSION,
        kind: "Definition",
        metadata: { name: "orders", namespace, labels: { team: "checkout" } },
        spec: {
          image: { name: images.openapi, port: 8080 },
          placement,
          dependsOn: ["web"],
          endpoints: [{ type: "openapi", url: "/openapi.json" }],
          clients: [
            { language: "typescript", url: "https://clients.example.invalid/orders.tgz" },
            { language: "<b>bold</b>", url: "javascript:window.__pwned=1" },
          ],
        },
      });
      await kube.create(EVENTS, {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: `orders.${randomBytes(4).toString("hex")}`, namespace },
        // MicroTime: RFC 3339 with microseconds.
        eventTime: new Date().toISOString().replace(/Z$/, "000Z"),
        reportingController: "berth.dev/test",
        reportingInstance: "test",
        action: "Testing",
        reason: "Injected",
        type: "Warning",
        regarding: { apiVersion: API_VERSION, kind: "Definition", name: "orders", namespace },
        note: INJECTED,
      });
      await page.goto(`${registry.url}/#/services/${namespace}/orders`);
      await waitForPage(
        page,
        "four operations listed",
        async () => (await page.$$("#operations-0 tbody tr")).length === 4,
      );
      const operations = (await page.locator("#operations-0 tbody tr").allInnerTexts()).map((text) =>
        text
          .split(/\s*\n\s*|\t/)
          .join(" ")
          .trim(),
      );
      assert.deepEqual(operations, [
        "GET /orders List the orders",
        "POST /orders Create an order",
        "GET /orders/{id} <img src=x data-injected=summary>Read one order",
        "DELETE /orders/{id} Cancel an order",
      ]);
      await waitForPage(page, "the injected Event", async () =>
        ((await page.textContent("#service")) ?? "").includes(INJECTED),
      );
      assert.equal(await page.$("[data-injected]"), null, "no element was made from the text");
      assert.equal(await page.evaluate("window.__pwned"), undefined);
      assert.ok(
        ((await page.textContent("#service")) ?? "").includes("<b>bold</b>: javascript:window.__pwned=1"),
      );
      assert.equal(await page.$('a[href^="javascript:"]'), null, "a javascript: URL is never a link");
      assert.ok(
        await page.$('a[href="https://clients.example.invalid/orders.tgz"]'),
        "the client library is a link",
      );
      assert.ok(await page.$(`a[href="#/services/${namespace}/web"]`), "dependsOn links to web");
      await screenshot(page, "service");
      await page.click(`a[href="#/services/${namespace}/web"]`);
      await waitForPage(
        page,
        "web is used by orders",
        async () => !!(await page.$(`#service a[href="#/services/${namespace}/orders"]`)),
      );
    },
  );

  await t.test(
    "keyboard reaches every link; axe finds nothing serious, light or dark, on every page",
    async () => {
      for (const [name, hash, shown] of [
        ["services", `#/services/${namespace}`, "#services tbody tr"],
        ["service", `#/services/${namespace}/orders`, "#operations-0 tbody tr"],
        ["nodes", "#/nodes", "#nodes tbody tr"],
      ] as const) {
        await page.goto(`${registry.url}/${hash}`);
        await page.locator(shown).first().waitFor();
        await waitForPage(
          page,
          `${name} to be live`,
          async () => (await page.textContent("#connection")) === "Live",
        );
        await screenshot(page, name);
        const links = await linksOf(page);
        const reached = await tabThrough(page);
        for (const link of links) assert.ok(reached.includes(link), `${name}: Tab reaches ${link}`);
        for (const scheme of ["light", "dark"] as const) {
          await page.emulateMedia({ colorScheme: scheme });
          const violations = await seriousAxeViolations(page);
          assert.equal(violations.length, 0, `${name} (${scheme}):\n${describeViolations(violations)}`);
        }
        await page.emulateMedia({ colorScheme: "light" });
      }
    },
  );

  await t.test("phone width: nothing scrolls sideways", async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    for (const [name, hash, shown] of [
      ["services", `#/services/${namespace}`, "#services tbody tr"],
      ["service", `#/services/${namespace}/orders`, "#operations-0 tbody tr"],
      ["nodes", "#/nodes", "#nodes tbody tr"],
    ] as const) {
      await page.goto(`${registry.url}/${hash}`);
      await page.locator(shown).first().waitFor();
      await waitForPage(page, "live", async () => (await page.textContent("#connection")) === "Live");
      const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
      assert.ok(width <= 375, `${hash} is ${width}px wide at 375px`);
      await screenshot(page, `${name}-phone`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  assert.deepEqual(problems, [], "no page errors and no CSP violations");
});
