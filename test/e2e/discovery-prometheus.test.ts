/**
 * Prometheus finds Berth services through Kubernetes' own discovery. The controller and an
 * agent run in-process against the real API server and an extra Docker engine; a real
 * Prometheus (built by hack/build-prometheus.sh: Debian's lacks the Kubernetes discovery),
 * configured with kubernetes_sd_configs (role endpointslice) and the
 * relabelling docs/discovery.md gives, talks to the API server with a ServiceAccount token
 * bound to the least docs/discovery.md says it needs. It scrapes every ready Instance of a
 * Definition whose image serves /metrics, and drops targets after a scale-down. The
 * mirror's API writes per Instance start and per readiness change are measured and printed.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { registry } from "../../controller/src/runtime/metrics.js";
import { env, httpGet, images, kubectlOk, run, testNamespace, waitFor } from "../harness/index.js";
import { applyDefinition, listInstances } from "../integration/controller-fixtures.js";
import { waitForMirror } from "../integration/discovery-fixtures.js";
import { kubectlWithToken } from "../integration/manifests-fixtures.js";
import { prometheusDir, runPrometheus } from "./prometheus-fixtures.js";
import { runAgentInProcess, runControllerInProcess, startEngines } from "./rollout-fixtures.js";

/**
 * Debian's prometheus is built without the Kubernetes service discovery, so this one is
 * built from the Go module proxy (cached after the first time), unless given.
 */
async function prometheusWithKubernetesSd(): Promise<string> {
  if (process.env.BERTH_PROMETHEUS_SD) return process.env.BERTH_PROMETHEUS_SD;
  const built = await run("bash", ["hack/build-prometheus.sh"], { timeoutMs: 1_800_000 });
  assert.equal(built.code, 0, `hack/build-prometheus.sh failed:\n${built.stderr}`);
  return built.stdout.trim().split("\n").pop() ?? "";
}
const JOB = "berth-services";
/** The extra engine this test's Node stands for (127.0.0.<n>). */
const ENGINE = 6;

/** A ServiceAccount with the Role docs/discovery.md gives Prometheus, and a token of it. */
async function discoveryToken(namespace: string): Promise<string> {
  const objects = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "prometheus", namespace } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "prometheus-discovery", namespace },
      rules: [
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
        { apiGroups: [""], resources: ["services", "pods"], verbs: ["list", "watch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "prometheus-discovery", namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "prometheus-discovery" },
      subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace }],
    },
  ];
  await kubectlOk(["apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  });
  return (await kubectlOk(["-n", namespace, "create", "token", "prometheus", "--duration=1h"])).trim();
}

async function startPrometheus(t: TestContext, namespace: string, token: string): Promise<string> {
  const dir = await prometheusDir(t, "berth-prometheus-sd-");
  const cluster = env().kc.getCurrentCluster();
  assert.ok(cluster, "a current cluster in the kubeconfig");
  const caFile = join(dir, "ca.crt");
  const caData = cluster.caData ? Buffer.from(cluster.caData, "base64") : undefined;
  assert.ok(caData ?? cluster.caFile, "the kubeconfig names the API server's CA");
  if (caData) await writeFile(caFile, caData);
  await writeFile(join(dir, "token"), token);
  const sd = {
    role: "endpointslice",
    api_server: cluster.server,
    tls_config: { ca_file: caData ? caFile : cluster.caFile },
    authorization: { credentials_file: join(dir, "token") },
    namespaces: { names: [namespace] },
  };
  const relabel = [
    {
      source_labels: ["__meta_kubernetes_endpointslice_label_endpointslice_kubernetes_io_managed_by"],
      regex: "discovery\\.berth\\.dev",
      action: "keep",
    },
    {
      source_labels: ["__meta_kubernetes_endpointslice_endpoint_conditions_ready"],
      regex: "true",
      action: "keep",
    },
    { source_labels: ["__meta_kubernetes_endpointslice_port_name"], target_label: "__scheme__" },
    { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
    { source_labels: ["__meta_kubernetes_service_name"], target_label: "service" },
    { source_labels: ["__meta_kubernetes_endpointslice_address_target_name"], target_label: "instance_name" },
  ];
  // JSON is YAML: the config is written as JSON.
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s" },
    scrape_configs: [{ job_name: JOB, kubernetes_sd_configs: [sd], relabel_configs: relabel }],
  };
  return await runPrometheus(t, await prometheusWithKubernetesSd(), dir, JSON.stringify(config, null, 2));
}

interface Target {
  labels: Record<string, string>;
  health: string;
  scrapeUrl: string;
}

async function activeTargets(prometheus: string): Promise<Target[]> {
  const res = await fetch(`${prometheus}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { data: { activeTargets: Target[] } };
  return body.data.activeTargets.filter((target) => target.labels.job === JOB);
}

/** `up` per Instance name, from Prometheus' query API. */
async function upByInstance(prometheus: string): Promise<Map<string, string>> {
  const promql = encodeURIComponent(`up{job="${JOB}"}`);
  const res = await fetch(`${prometheus}/api/v1/query?query=${promql}`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as {
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  return new Map(body.data.result.map((s) => [s.metric.instance_name ?? "", s.value[1]]));
}

/** The mirror's EndpointSlice writes so far (this process' berth_discovery_writes_total). */
async function sliceWrites(): Promise<number> {
  const metric = await registry.getSingleMetric("berth_discovery_writes_total")?.get();
  return (metric?.values ?? [])
    .filter((v) => v.labels.resource === "endpointslices")
    .reduce((sum, v) => sum + v.value, 0);
}

async function readyInstanceNames(namespace: string): Promise<string[]> {
  return (await listInstances(namespace, "web"))
    .filter((i) => i.status?.ready === true && !i.metadata.deletionTimestamp)
    .map((i) => i.metadata.name ?? "")
    .sort();
}

test("Prometheus discovers a Definition's ready Instances through EndpointSlices, scrapes them and drops them", async (t) => {
  const namespace = await testNamespace(t, "berth-disc-prom");
  const world = await startEngines(t, namespace, [ENGINE]);
  const [node] = world.nodes;
  assert.ok(node);
  // Kubernetes refuses loopback addresses in EndpointSlices: the Node is addressed (and its
  // ports published) on the host's address on the engine's own bridge instead.
  node.address = `${process.env.BERTH_ENGINE_NET ?? "172.31"}.${ENGINE}.1`;
  await runAgentInProcess(world, node);
  await runControllerInProcess(world);
  const token = await discoveryToken(namespace);
  // The token is of least privilege: what discovery needs, in this namespace only.
  const asPrometheus = await kubectlWithToken(t, token);
  for (const [args, allowed] of [
    [["list", "endpointslices.discovery.k8s.io", "-n", namespace], "yes"],
    [["watch", "services", "-n", namespace], "yes"],
    [["list", "endpointslices.discovery.k8s.io", "-n", "default"], "no"],
    [["get", "secrets", "-n", namespace], "no"],
    [["list", "instances.berth.dev", "-n", namespace], "no"],
    [["create", "endpointslices.discovery.k8s.io", "-n", namespace], "no"],
  ] as const) {
    const answer = await asPrometheus(["auth", "can-i", ...args]);
    assert.equal(answer.stdout.trim(), allowed, `can-i ${args.join(" ")}: ${answer.stderr}`);
  }
  const prometheus = await startPrometheus(t, namespace, token);

  const spec = {
    image: { name: images.echo, port: 8080, pullPolicy: "Never" as const },
    replicas: 1,
    healthCheck: { type: "http" as const, path: "/healthz", intervalSeconds: 1, failureThreshold: 1 },
    placement: { nodeSelector: world.labels },
  };
  await applyDefinition(namespace, "web", spec);
  await waitForMirror(
    namespace,
    "web",
    (e) => e.size === 1 && [...e.values()].every((f) => f.startsWith("ready=true")),
    90_000,
  );

  const beforeScaleUp = await sliceWrites();
  await applyDefinition(namespace, "web", { ...spec, replicas: 3 });
  await waitForMirror(
    namespace,
    "web",
    (e) => e.size === 3 && [...e.values()].every((f) => f.startsWith("ready=true")),
    90_000,
  );
  const perStart = (await sliceWrites()) - beforeScaleUp;

  const ready = await readyInstanceNames(namespace);
  assert.equal(ready.length, 3);
  const up = await waitFor(
    "Prometheus to scrape every ready Instance with up == 1",
    async () => {
      const values = await upByInstance(prometheus);
      const names = [...values.keys()].sort();
      return names.join() === ready.join() && [...values.values()].every((v) => v === "1")
        ? values
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  assert.equal(up.size, 3);
  const targets = await activeTargets(prometheus);
  const instances = await listInstances(namespace, "web");
  for (const target of targets) {
    const instance = instances.find((i) => i.metadata.name === target.labels.instance_name);
    assert.ok(instance, `target ${target.scrapeUrl} is an Instance`);
    assert.equal(target.scrapeUrl, `${instance.status?.address?.url}/metrics`);
    assert.equal(target.labels.service, "web");
  }

  // One Instance fails its health check: one slice write, and Prometheus drops it.
  const failing = instances.find((i) => i.metadata.name === ready[0]);
  assert.ok(failing?.status?.address);
  const beforeFailure = await sliceWrites();
  assert.equal((await httpGet(`${failing.status.address.url}/cgi-bin/fail`))?.status, 200);
  await waitForMirror(
    namespace,
    "web",
    (e) => e.get(ready[0] ?? "")?.startsWith("ready=false") === true,
    60_000,
  );
  const perReadinessChange = (await sliceWrites()) - beforeFailure;
  await waitFor(
    "Prometheus to drop the not-ready Instance",
    async () => (await activeTargets(prometheus)).every((target) => target.labels.instance_name !== ready[0]),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  await httpGet(`${failing.status.address.url}/cgi-bin/recover`);

  // Scale down to one: the targets of the removed Instances go.
  await applyDefinition(namespace, "web", { ...spec, replicas: 1 });
  const [left] = await waitFor(
    "one ready Instance left",
    async () => {
      const all = await listInstances(namespace, "web");
      const ready = await readyInstanceNames(namespace);
      return all.length === 1 && ready.length === 1 ? ready : undefined;
    },
    { timeoutMs: 60_000 },
  );
  const droppedAt = Date.now();
  await waitFor(
    "Prometheus to keep only the remaining Instance",
    async () => {
      const names = (await activeTargets(prometheus)).map((target) => target.labels.instance_name);
      return names.length === 1 && names[0] === left;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  t.diagnostic(
    `EndpointSlice writes: ${perStart} for 2 Instance starts, ${perReadinessChange} for one readiness change; ` +
      `targets dropped ${Date.now() - droppedAt} ms after the last Instance was gone (scrape interval 1 s)`,
  );
  assert.equal(perReadinessChange, 1, "one readiness change is one slice write");

  await kubectlOk(["-n", namespace, "delete", "definition", "web", "--timeout=60s"], { timeoutMs: 90_000 });
});
