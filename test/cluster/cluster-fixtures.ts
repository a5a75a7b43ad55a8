/**
 * Fixtures for the cluster tests: Berth installed on a real node (hack/node.sh, started by
 * hack/test-cluster.sh) the way docs/deploy.md tells users to, and read back through
 * kubectl, the kubelet's API and the Pods' own endpoints.
 */
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { kubectl, kubectlOk, run } from "../harness/index.js";
import { MANIFESTS, NAMESPACE, ROOT } from "../integration/manifests-fixtures.js";

export { MANIFESTS, NAMESPACE, ROOT };

/** The node hack/node.sh runs; its name is BERTH_NODE_NAME there too. */
export const KUBE_NODE = process.env.BERTH_NODE_NAME ?? "berth-local-node";
/** The image hack/test-cluster.sh built and imported into the node. */
export const IMAGE = process.env.BERTH_IMAGE ?? "berth:dev";
export const CONTROLLER_SELECTOR = "app.kubernetes.io/name=berth,app.kubernetes.io/component=controller";
export const REGISTRY_SELECTOR = "app.kubernetes.io/name=berth,app.kubernetes.io/component=registry";

export interface PodView {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: {
    containers: { name: string; securityContext?: Record<string, unknown> }[];
    securityContext?: Record<string, unknown>;
    nodeName?: string;
  };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number }[];
  };
}

export async function kubectlJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk([...args, "-o", "json"])) as T;
}

export async function pods(selector: string): Promise<PodView[]> {
  const list = await kubectlJson<{ items: PodView[] }>(["-n", NAMESPACE, "get", "pods", "-l", selector]);
  return list.items.filter((pod) => !pod.metadata.deletionTimestamp);
}

export function isReady(pod: PodView): boolean {
  return pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

export async function leaseHolder(): Promise<string> {
  return (
    await kubectlOk([
      "-n",
      NAMESPACE,
      "get",
      "lease",
      "berth-controller",
      "-o",
      "jsonpath={.spec.holderIdentity}",
    ])
  ).trim();
}

/** The Pod a controller's leader identity (`<hostname>-<random>`) belongs to. */
export function podOfIdentity(podsNow: PodView[], identity: string): PodView | undefined {
  return podsNow.find((pod) => identity.startsWith(`${pod.metadata.name}-`));
}

/** The lines of a controller's log about leader election (the Lease, leadership). */
export function leaseLines(log: string): string {
  return log
    .split("\n")
    .filter((line) => /lease|leader/i.test(line))
    .join("\n");
}

/**
 * What a failed failover needs to be explained: the Lease as it is now and, for every
 * controller Pod still listed (a deleted one while it stops, its replacement, the standby),
 * what its log says about the Lease.
 */
export async function leaseReport(): Promise<string> {
  const lease = await kubectl(["-n", NAMESPACE, "get", "lease", "berth-controller", "-o", "yaml"]);
  const listed = await kubectlJson<{ items: PodView[] }>([
    "-n",
    NAMESPACE,
    "get",
    "pods",
    "-l",
    CONTROLLER_SELECTOR,
  ]);
  const logs = await Promise.all(
    listed.items.map(async (pod) => {
      const log = await kubectl(["-n", NAMESPACE, "logs", pod.metadata.name]);
      return `${pod.metadata.name}:\n${leaseLines(log.stdout + log.stderr)}`;
    }),
  );
  return `Lease:\n${lease.stdout}${lease.stderr}\n${logs.join("\n")}`;
}

/** A Prometheus text sample's value, or undefined when the series is absent. */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

/** The kubelet's probe counters, through the API server's node proxy. */
export async function kubeletProbeMetrics(): Promise<string> {
  return await kubectlOk(["get", "--raw", `/api/v1/nodes/${KUBE_NODE}/proxy/metrics/probes`]);
}

/** The first ```sh block after `heading` in a docs page, without its list indentation. */
export async function docsBlock(page: string, heading: string): Promise<string> {
  const text = await readFile(join(ROOT, "docs", page), "utf8");
  const at = text.indexOf(heading);
  assert.ok(at >= 0, `${page} has "${heading}"`);
  const block = /^( *)```sh\n([\s\S]*?)^ *```/m.exec(text.slice(at));
  assert.ok(block?.[2], `${page} has a sh block after "${heading}"`);
  const indent = block[1]?.length ?? 0;
  return block[2]
    .split("\n")
    .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
    .join("\n");
}

/** Runs a docs block with bash in `dir` (with `manifests` linked there); fails on any error. */
export async function runDocsBlock(dir: string, script: string, timeoutMs = 60_000): Promise<string> {
  const res = await run("bash", ["-euo", "pipefail", "-c", `cd ${dir}\n${script}`], { timeoutMs });
  assert.equal(res.code, 0, `the docs' commands failed:\n${script}\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

/** A scratch directory with `manifests` linked in, as a user's checkout has it. */
export async function scratchWithManifests(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-cluster-"));
  await symlink(MANIFESTS, join(dir, "manifests"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface DocsAgent {
  node: string;
  dir: string;
  kubeconfig: string;
}

/**
 * The agent's identity and kubeconfig made by running docs/deploy.md's commands as written
 * (only the Node name changed), in a directory of their own; the identity is deleted after.
 */
export async function identityFromDocs(
  t: { after(fn: () => Promise<void>): void },
  node: string,
): Promise<DocsAgent> {
  const dir = await scratchWithManifests(t);
  const script = (await docsBlock("deploy.md", "### 1. Identity and kubeconfig")).replace(
    /^NODE=worker-1$/m,
    `NODE=${node}`,
  );
  assert.match(script, new RegExp(`^NODE=${node}$`, "m"), "the docs set NODE=worker-1");
  t.after(async () => {
    const template = await readFile(join(MANIFESTS, "agent", "identity-template.yaml"), "utf8");
    await kubectl(["delete", "-f", "-", "--ignore-not-found", "--wait=false"], {
      input: template.replaceAll("NODE_NAME", node),
    });
  });
  const stdout = await runDocsBlock(dir, script);
  assert.match(stdout, new RegExp(`system:serviceaccount:berth-system:berth-agent-${node}`));
  // "Copy kubeconfig to the machine as /etc/berth/kubeconfig", as the docs say, here.
  const kubeconfig = join(dir, "etc-berth", "kubeconfig");
  const copy = await docsBlock("deploy.md", "Copy `kubeconfig` to the machine");
  assert.match(copy, /\/etc\/berth\/kubeconfig/);
  await runDocsBlock(dir, copy.replaceAll("/etc/berth/kubeconfig", kubeconfig));
  return { node, dir, kubeconfig };
}

/** Docker's own CLI (hack/image.sh uses the same). */
export const DOCKER = process.env.BERTH_DOCKER_CLI ?? "/usr/bin/docker";

/**
 * The agent as docs/deploy.md runs it "as a container" (its `docker run` line, with this
 * test's names and files in place of /etc/berth and the example registry), removed after.
 */
export async function runAgentFromDocs(
  t: { after(fn: () => Promise<void>): void },
  agent: DocsAgent,
  settings: Record<string, string>,
): Promise<string> {
  const envFile = join(agent.dir, "agent.env");
  await writeFile(
    envFile,
    Object.entries(settings)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
  );
  const container = `berth-cluster-agent-${agent.node}`;
  const volume = `berth-cluster-agent-state-${agent.node}`;
  const line = (await docsBlock("deploy.md", "The same with `docker run`:"))
    .replaceAll("\\\n", " ")
    .replace("--name berth-agent ", `--name ${container} `)
    .replace("berth-agent-state:", `${volume}:`)
    .replaceAll("/etc/berth/agent.env", envFile)
    .replace("-v /etc/berth/kubeconfig:", `-v ${agent.kubeconfig}:`)
    .replace("registry.example.com/berth:0.1.0", IMAGE)
    .replace(/^docker /, `${DOCKER} `)
    .trim();
  t.after(async () => {
    await run(DOCKER, ["rm", "-f", container]);
    await run(DOCKER, ["volume", "rm", "-f", volume]);
  });
  const res = await run("bash", ["-euo", "pipefail", "-c", line]);
  assert.equal(res.code, 0, `the docs' docker run failed:\n${line}\n${res.stderr}`);
  return container;
}

/**
 * CRDs standing in for the prometheus-operator's ServiceMonitor and PrometheusRule: the
 * kinds and scope only, without the operator's schemas (its CRDs cannot be fetched here),
 * so this proves the objects are accepted by kind and namespace, not field by field.
 */
export const MONITORING_CRDS = ["servicemonitors:ServiceMonitor", "prometheusrules:PrometheusRule"]
  .map((pair) => {
    const [plural, kind] = pair.split(":") as [string, string];
    return JSON.stringify({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `${plural}.monitoring.coreos.com` },
      spec: {
        group: "monitoring.coreos.com",
        scope: "Namespaced",
        names: { plural, kind, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    });
  })
  .join("\n---\n");
