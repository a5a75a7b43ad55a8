/**
 * Fixtures for tests of the shipped manifests against the real API server: the kustomize
 * base rendered and its access control applied, agent identities made from the identity
 * template, `kubectl auth can-i` as a user, and clients that authenticate with a real
 * ServiceAccount token (so RBAC and the admission policy judge them as they would an agent).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { type KubeClient, newKubeClient } from "../../controller/src/kube/client.js";
import { env, kubectl, kubectlOk, run } from "../harness/index.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const MANIFESTS = `${ROOT}manifests`;
export const NAMESPACE = "berth-system";
export const CONTROLLER = `system:serviceaccount:${NAMESPACE}:berth-controller`;

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

export async function renderBase(): Promise<{ text: string; objects: Manifest[] }> {
  const text = await kubectlOk(["kustomize", MANIFESTS]);
  return { text, objects: parseManifests(text) };
}

export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `the base has no ${kind} ${name}`);
  return found;
}

/** Access-control kinds of the base, applied for real so `auth can-i` has something to check. */
const ACCESS_KINDS = new Set([
  "ServiceAccount",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
]);

let accessApplied: Promise<void> | undefined;
export function applyAccessControl(): Promise<void> {
  accessApplied ??= (async () => {
    const { objects } = await renderBase();
    const access = objects.filter((o) => ACCESS_KINDS.has(o.kind));
    const input = access.map((o) => JSON.stringify(o)).join("\n");
    await kubectlOk(
      ["apply", "--server-side", "--force-conflicts", "--field-manager=berth-manifests-test", "-f", "-"],
      {
        input,
      },
    );
  })();
  return accessApplied;
}

/** Creates berth-agent-<node> from the identity template; removed when the test ends. */
export async function agentIdentity(
  t: { after(fn: () => Promise<void>): void },
  node: string,
): Promise<string> {
  const template = await readFile(`${MANIFESTS}/agent/identity-template.yaml`, "utf8");
  const rendered = template.replaceAll("NODE_NAME", node);
  await kubectlOk(["apply", "-f", "-"], { input: rendered });
  t.after(async () => {
    await kubectl(["delete", "-f", "-", "--ignore-not-found", "--wait=false"], { input: rendered });
  });
  return `system:serviceaccount:${NAMESPACE}:berth-agent-${node}`;
}

/** `kubectl auth can-i` as a user: true for yes, false for no; anything else fails the test. */
export async function canI(user: string, args: string[]): Promise<boolean> {
  const res = await kubectl(["auth", "can-i", "--as", user, ...args]);
  const answer = res.stdout.trim();
  if (answer === "yes") return true;
  if (answer === "no") return false;
  throw new Error(`kubectl auth can-i ${args.join(" ")} answered "${answer}" (${res.code}): ${res.stderr}`);
}

export async function assertAccess(user: string, allowed: string[][], denied: string[][]): Promise<void> {
  const wrong: string[] = [];
  for (const args of allowed)
    if (!(await canI(user, args))) wrong.push(`should be allowed: ${args.join(" ")}`);
  for (const args of denied) if (await canI(user, args)) wrong.push(`should be denied: ${args.join(" ")}`);
  assert.deepEqual(wrong, [], `${user}:\n${wrong.join("\n")}`);
}

/** A short-lived token of a ServiceAccount in berth-system, from the TokenRequest API. */
export async function serviceAccountToken(name: string): Promise<string> {
  return (await kubectlOk(["-n", NAMESPACE, "create", "token", name, "--duration=30m"])).trim();
}

/** A kubeconfig of the test's API server whose only credential is `token`. */
function tokenConfig(token: string): k8s.KubeConfig {
  const cluster = env().kc.getCurrentCluster();
  assert.ok(cluster, "the harness kubeconfig has a cluster");
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "token", token }],
    contexts: [{ name: "token", cluster: cluster.name, user: "token" }],
    currentContext: "token",
  });
  return kc;
}

/** A Berth client that authenticates with `token` and nothing else. */
export function tokenClient(token: string): KubeClient {
  return newKubeClient(tokenConfig(token));
}

/**
 * kubectl that authenticates with `token` and nothing else (a kubeconfig file of its own:
 * `--token` next to the harness's kubeconfig would still present its admin certificate).
 */
export async function kubectlWithToken(
  t: { after(fn: () => Promise<void>): void },
  token: string,
): Promise<(args: string[], input?: string) => ReturnType<typeof kubectl>> {
  const dir = await mkdtemp(join(tmpdir(), "berth-token-kubeconfig-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "kubeconfig");
  await writeFile(file, tokenConfig(token).exportConfig(), { mode: 0o600 });
  return (args, input) =>
    run("kubectl", [`--kubeconfig=${file}`, ...args], input === undefined ? {} : { input });
}
