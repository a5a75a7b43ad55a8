/**
 * Berth's metrics reach a real Prometheus. Debian's prometheus scrapes `berth all` (the
 * CLI, controller and agent in one process, against the real API server and Docker
 * engine) every second with the shipped rule file loaded; the test applies a Definition
 * and reads the series back through Prometheus' HTTP API: controller-runtime's reconcile
 * counters, berth_instances, the ready-replica gauge and a recording rule built on it.
 * Every query of the shipped Grafana dashboard must also be valid PromQL.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import {
  env,
  images,
  kubectl,
  kubectlOk,
  run,
  startBerthProcess,
  testNamespace,
  waitFor,
} from "../harness/index.js";
import { prometheusDir, runPrometheus } from "./prometheus-fixtures.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PROMETHEUS = process.env.BERTH_PROMETHEUS ?? "/usr/bin/prometheus";
const RULES = join(ROOT, "manifests/monitoring/berth-rules.yaml");
const DASHBOARD = join(ROOT, "manifests/monitoring/grafana-dashboard.json");
const JOB = "berth";

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface QueryAnswer {
  status: "success" | "error";
  error?: string;
  data?: { resultType: string; result: Sample[] };
}

async function query(prometheus: string, promql: string): Promise<QueryAnswer> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`, {
    signal: AbortSignal.timeout(5000),
  });
  return (await res.json()) as QueryAnswer;
}

/** The value of a query that yields one sample, or undefined when it yields none yet. */
async function scalarOf(prometheus: string, promql: string): Promise<number | undefined> {
  const answer = await query(prometheus, promql);
  if (answer.status !== "success") throw new Error(`query ${promql} failed: ${answer.error ?? "?"}`);
  const [sample, ...more] = answer.data?.result ?? [];
  if (!sample) return undefined;
  assert.equal(more.length, 0, `${promql} gave ${more.length + 1} series`);
  return Number(sample.value[1]);
}

/**
 * The engine URL for this test's Node. A Node's URL must be unique among live agents, and
 * other tests' agents may hold the engine's usual URL: a symlink to a local socket is the
 * same engine under a URL of this test's own.
 */
async function engineUrlOfOwn(t: TestContext): Promise<string> {
  const dockerHost = env().dockerHost;
  if (!dockerHost.startsWith("unix://")) return dockerHost;
  const dir = await mkdtemp(join(tmpdir(), "berth-prom-engine-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socket = join(dir, "docker.sock");
  await symlink(dockerHost.slice("unix://".length), socket);
  return `unix://${socket}`;
}

/** Starts `berth all` through the CLI and returns the address its /metrics answers on. */
async function startBerth(
  t: TestContext,
  nodeName: string,
  nodeLabel: string,
): Promise<{ target: string; stop(): Promise<void> }> {
  const berth = startBerthProcess(
    t,
    "all",
    [
      // The line that says where /metrics answers is logged at info.
      "--log-level=info",
      "--metrics-bind-address",
      "127.0.0.1:0",
      "--registry-bind-address",
      "127.0.0.1:0",
      "--log-format",
      "json",
      "--node-name",
      nodeName,
      "--url",
      await engineUrlOfOwn(t),
      "--address",
      "127.0.0.1",
      "--node-labels",
      nodeLabel,
      "--node-lease-renew-interval",
      "1s",
      "--node-status-interval",
      "5s",
      "--stop-grace-period",
      "2s",
    ],
    { KUBECONFIG: env().kubeconfigPath },
  );
  const target = await waitFor(
    "berth all to serve /metrics",
    () => {
      if (berth.child.exitCode !== null)
        throw new Error(`berth exited (${berth.child.exitCode}):\n${berth.output()}`);
      const match = /"metrics":"http:\/\/([^/"]+)\/metrics"/.exec(berth.output());
      return match?.[1];
    },
    { timeoutMs: 60_000 },
  );
  return { target, stop: berth.stop };
}

async function startPrometheus(t: TestContext, target: string): Promise<string> {
  const dir = await prometheusDir(t, "berth-prometheus-");
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    "rule_files:",
    `  - ${JSON.stringify(RULES)}`,
    "scrape_configs:",
    `  - job_name: ${JOB}`,
    "    static_configs:",
    `      - targets: [${JSON.stringify(target)}]`,
    "",
  ].join("\n");
  return await runPrometheus(t, PROMETHEUS, dir, config);
}

test("Prometheus scrapes Berth's reconcile and instance metrics and evaluates the shipped rules", async (t) => {
  const namespace = await testNamespace(t, "berth-prom");
  const suffix = randomBytes(4).toString("hex");
  const nodeName = `e2e-prom-${suffix}`;
  // Only this test's Node may run the Definition, whatever other Nodes the cluster has.
  const nodeLabel = `berth.dev/e2e=${suffix}`;
  t.after(async () => {
    // After a failure midway: let the namespace go and remove what the agent left.
    for (const kind of ["instances.berth.dev", "definitions.berth.dev"]) {
      const listed = await kubectl(["-n", namespace, "get", kind, "-o", "name"]);
      for (const name of listed.stdout.split("\n").filter(Boolean)) {
        await kubectl([
          "-n",
          namespace,
          "patch",
          name,
          "--type=merge",
          "-p",
          '{"metadata":{"finalizers":null}}',
        ]);
      }
    }
    const docker = ["-H", env().dockerHost];
    const left = await run("docker", [
      ...docker,
      "ps",
      "-aq",
      "--filter",
      `label=berth.dev/node=${nodeName}`,
    ]);
    const ids = left.stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await run("docker", [...docker, "rm", "-f", ...ids]);
    await kubectl(["delete", "bnode", nodeName, "--ignore-not-found", "--wait=false"]);
    await kubectl(["-n", "berth-system", "delete", "lease", `berth-node-${nodeName}`, "--ignore-not-found"]);
  });

  const berth = await startBerth(t, nodeName, nodeLabel);
  const prometheus = await startPrometheus(t, berth.target);

  const definition = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Definition",
    metadata: { name: "greeter", namespace },
    spec: {
      image: { name: images.echo, port: 8080, pullPolicy: "Never" },
      replicas: 1,
      healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
      placement: { nodeSelector: { "berth.dev/e2e": suffix } },
    },
  };
  await kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(definition) });

  const ns = `namespace="${namespace}"`;
  const reconciles = await waitFor(
    "controller_runtime_reconcile_total of the definition controller in Prometheus",
    async () => {
      const value = await scalarOf(
        prometheus,
        `controller_runtime_reconcile_total{job="${JOB}",controller="definition",result="success"}`,
      );
      return value !== undefined && value > 0 ? value : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  assert.ok(reconciles > 0);

  await waitFor(
    "berth_instances to show the Instance Running in Prometheus",
    async () => (await scalarOf(prometheus, `berth_instances{job="${JOB}",${ns},phase="Running"}`)) === 1,
    { timeoutMs: 90_000, intervalMs: 1000 },
  );
  await waitFor(
    "berth_definition_ready_replicas to reach 1 in Prometheus",
    async () =>
      (await scalarOf(
        prometheus,
        `berth_definition_ready_replicas{job="${JOB}",${ns},definition="greeter"}`,
      )) === 1,
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  // The shipped recording rule, evaluated by Prometheus from the shipped rule file.
  await waitFor(
    "the recording rule berth:definition_ready_replicas:leader",
    async () =>
      (await scalarOf(prometheus, `berth:definition_ready_replicas:leader{${ns},definition="greeter"}`)) ===
      1,
    { timeoutMs: 30_000, intervalMs: 1000 },
  );

  const rules = (await (await fetch(`${prometheus}/api/v1/rules`)).json()) as {
    data: {
      groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }>;
    };
  };
  const loaded = rules.data.groups.flatMap((group) => group.rules);
  assert.ok(
    loaded.some((rule) => rule.name === "BerthDefinitionNotReady"),
    "the alert rules are loaded",
  );
  const broken = loaded
    .filter((rule) => rule.health === "err")
    .map((rule) => `${rule.name}: ${rule.lastError ?? ""}`);
  assert.deepEqual(broken, []);

  // Every dashboard query is valid PromQL against these series.
  const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
  };
  const invalid: string[] = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      const promql = target.expr.replaceAll("$job", `${JOB}.*`).replaceAll("$__rate_interval", "1m");
      const answer = await query(prometheus, promql);
      if (answer.status !== "success") invalid.push(`${panel.title}: ${answer.error ?? "?"}`);
    }
  }
  assert.deepEqual(invalid, []);

  // Leave nothing running: the Definition's finalizers make its deletion wait for the
  // container's removal, which needs Berth still up.
  await kubectlOk(["-n", namespace, "delete", "definition", "greeter", "--timeout=60s"], {
    timeoutMs: 90_000,
  });
  await berth.stop();
});
