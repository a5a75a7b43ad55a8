import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { UnknownContextError, loadKubeConfig } from "./config.js";

function kubeconfigWithTwoContexts(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-kubeconfig-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "config");
  writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: one",
      "clusters:",
      "- name: c1",
      "  cluster: { server: 'https://127.0.0.1:6443' }",
      "- name: c2",
      "  cluster: { server: 'https://127.0.0.2:7443' }",
      "users:",
      "- name: u",
      "  user: { token: t }",
      "contexts:",
      "- name: one",
      "  context: { cluster: c1, user: u }",
      "- name: two",
      "  context: { cluster: c2, user: u }",
    ].join("\n"),
  );
  return file;
}

test("without a context the kubeconfig's current-context is used", (t) => {
  const kc = loadKubeConfig(kubeconfigWithTwoContexts(t));
  assert.equal(kc.getCurrentContext(), "one");
  assert.equal(kc.getCurrentCluster()?.server, "https://127.0.0.1:6443");
});

test("a named context picks its cluster", (t) => {
  const kc = loadKubeConfig(kubeconfigWithTwoContexts(t), { context: "two" });
  assert.equal(kc.getCurrentContext(), "two");
  assert.equal(kc.getCurrentCluster()?.server, "https://127.0.0.2:7443");
});

test("an unknown context is refused with the contexts there are", (t) => {
  const file = kubeconfigWithTwoContexts(t);
  assert.throws(
    () => loadKubeConfig(file, { context: "three" }),
    (err: unknown) =>
      err instanceof UnknownContextError &&
      /no context "three" \(it has one, two\)/.test(err.message) &&
      err.context === "three",
  );
});

test("a ':'-separated list of files is merged, the first file's current-context winning", (t) => {
  const first = kubeconfigWithTwoContexts(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-kubeconfig-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const second = path.join(dir, "extra");
  writeFileSync(
    second,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: three",
      "clusters:",
      "- name: c3",
      "  cluster: { server: 'https://127.0.0.3:8443' }",
      "users:",
      "- name: u3",
      "  user: { token: t3 }",
      "contexts:",
      "- name: three",
      "  context: { cluster: c3, user: u3 }",
    ].join("\n"),
  );
  const kc = loadKubeConfig([first, second].join(path.delimiter));
  assert.equal(kc.getCurrentContext(), "one");
  assert.deepEqual(
    kc.getContexts().map((c) => c.name),
    ["one", "two", "three"],
  );
  const switched = loadKubeConfig([first, second].join(path.delimiter), { context: "three" });
  assert.equal(switched.getCurrentCluster()?.server, "https://127.0.0.3:8443");
});
