/**
 * Fixtures for the web index's browser tests: Debian's chromium driven by playwright-core
 * (hack/install-deps.sh installs it; nothing is downloaded), a fresh profile per test file,
 * axe-core run inside the page, and screenshots kept as artefacts under reports/web/.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const ARTEFACTS = path.join(ROOT, "reports", "web");
const CHROMIUM = process.env.BERTH_CHROMIUM ?? "/usr/bin/chromium";

/** A headless chromium with a fresh profile, closed (and its profile removed) when the test ends. */
export async function launchBrowser(t: TestContext): Promise<BrowserContext> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run hack/install-deps.sh (Debian's chromium)`);
  const profile = await mkdtemp(path.join(os.tmpdir(), "berth-web-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  await mkdir(ARTEFACTS, { recursive: true });
  return context;
}

/** A new page that fails the test on a page error or a Content-Security-Policy report. */
export async function openPage(context: BrowserContext, problems: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content[- ]Security[- ]Policy/i.test(msg.text())) {
      problems.push(`CSP: ${msg.text()}`);
    }
  });
  return page;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(ARTEFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const require = createRequire(import.meta.url);
let axeSource: string | undefined;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/**
 * axe-core's violations of serious or critical impact on the page as it is. The script is
 * evaluated through the DevTools protocol (not as an inline script, which the page's CSP
 * refuses, as it should).
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= await readFile(require.resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(`${axeSource}\n;undefined`);
  const violations = (await page.evaluate("axe.run().then((result) => result.violations)")) as AxeViolation[];
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

export function describeViolations(violations: AxeViolation[]): string {
  return violations
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)
    .join("\n");
}

/** Runs in the page: the focused element as "tag|href or id|text", "" for none. */
const DESCRIBE_FOCUSED = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "";
  return el.tagName.toLowerCase() + "|" + (el.getAttribute("href") ?? el.id ?? "") + "|" + (el.textContent ?? "").trim();
})()`;

/**
 * Presses Tab until focus has gone all the way round (an element comes up a second time, or
 * 400 presses) and returns a description of every element focused on the way.
 */
export async function tabThrough(page: Page): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 400; i++) {
    await page.keyboard.press("Tab");
    const here = String(await page.evaluate(DESCRIBE_FOCUSED));
    if (here === "") continue;
    if (seen.includes(here)) break;
    seen.push(here);
  }
  return seen;
}

/** Every visible link on the page, described as tabThrough describes it. */
export async function linksOf(page: Page): Promise<string[]> {
  return (await page.evaluate(`[...document.querySelectorAll("a[href]")]
    .filter((a) => a.offsetParent !== null)
    .map((a) => "a|" + a.getAttribute("href") + "|" + (a.textContent ?? "").trim())`)) as string[];
}
