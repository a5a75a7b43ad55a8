/**
 * npm run bench:idle: how many requests Berth makes against the API server per minute when
 * nothing changes.
 *
 * The controller and an agent run in this process (as `berth all` does) against the local
 * control plane and Docker engine, with one Definition of two replicas running and ready.
 * Once it has settled, every request is counted over a window with no changes: the process
 * total from rest_client_requests_total (by HTTP method), and, through a counting wrapper
 * around each role's client, what each request is for. A second window runs the controller
 * as `berth controller` runs it, under leader election, and counts the controller's share.
 *
 * A measurement, not a test: it prints numbers and fails only when something breaks.
 * Everything it creates (namespace, Node, Leases, containers) is removed at the end.
 * BENCH_WINDOW_SECONDS (default 60) and BENCH_SETTLE_SECONDS (default 20) tune the run.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { API_VERSION, type Definition } from "../../controller/src/api/types.js";
import { nodeLeaseName } from "../../controller/src/api/vocabulary.js";
import { startAgent } from "../../controller/src/agent/agent-role.js";
import { startController, type ControllerHandle } from "../../controller/src/controllers/controller-role.js";
import { DEFINITIONS, LEASES, NAMESPACES, NODES } from "../../controller/src/kube/resources.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { restClientMetrics, restClientRequests } from "../../controller/src/runtime/metrics.js";
import { CountingKubeClient, perMinute } from "./counting-client.js";

const IMAGE = "berth-test/echo:1";
const WINDOW_MS = seconds(process.env.BENCH_WINDOW_SECONDS, 60) * 1000;
const SETTLE_MS = seconds(process.env.BENCH_SETTLE_SECONDS, 20) * 1000;
const LEASE_NAMESPACE = "berth-system";

function seconds(text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 600) {
    throw new Error(`expected whole seconds from 1 to 600, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** rest_client_requests_total summed by method. */
async function requestsByMethod(): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  for (const sample of (await restClientRequests.get()).values) {
    const method = String(sample.labels.method);
    totals.set(method, (totals.get(method) ?? 0) + sample.value);
  }
  return totals;
}

function difference(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const result = new Map<string, number>();
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) result.set(key, delta);
  }
  return result;
}

function printTable(title: string, counts: Map<string, number>, windowMs: number): void {
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  console.log(`\n${title}: ${perMinute(total, windowMs)} requests/min`);
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${perMinute(n, windowMs).padStart(7)}/min  ${key}`);
  }
}

/** Counts over one quiet window: the registry's totals by method and each wrapper's by purpose. */
async function quietWindow(clients: CountingKubeClient[]): Promise<{
  byMethod: Map<string, number>;
  byPurpose: Array<Map<string, number>>;
}> {
  const methodsBefore = await requestsByMethod();
  const purposesBefore = clients.map((client) => client.snapshot());
  await sleep(WINDOW_MS);
  return {
    byMethod: difference(await requestsByMethod(), methodsBefore),
    byPurpose: clients.map((client, i) => difference(client.snapshot(), purposesBefore[i]!)),
  };
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/**
 * The engine behind a path of its own, so this agent's Node has a URL no other agent on the
 * same control plane uses (two Nodes may not share an engine URL).
 */
function engineUrlOfOwn(dir: string): string {
  const url = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (!url.startsWith("unix://")) return url;
  const link = path.join(dir, "docker.sock");
  symlinkSync(url.slice("unix://".length), link);
  return `unix://${link}`;
}

async function ignoreNotFound(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (!isNotFound(err)) console.error("cleanup:", err);
  }
}

async function main(): Promise<void> {
  const base = newKubeClient(loadKubeConfig(), { observer: restClientMetrics });
  const logger = createLogger({ level: "warn" });
  const suffix = randomBytes(3).toString("hex");
  const namespace = `berth-idle-${suffix}`;
  const nodeName = `idle-${suffix}`;
  const leaderLease = `berth-idle-bench-${suffix}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-idle-"));
  const controllerClient = new CountingKubeClient(base, "controller");
  const agentClient = new CountingKubeClient(base, "agent");
  const window = `${WINDOW_MS / 1000} s`;
  console.log(
    `idle-requests: one Definition (${IMAGE}, 2 replicas) ready; counting over ${window} of no changes`,
  );

  await base.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  let controller: ControllerHandle | undefined = startController({}, { client: controllerClient, logger });
  const agent = await startAgent(
    { nodeName, url: engineUrlOfOwn(dir), address: "127.0.0.1", labels: {}, stateDir: dir },
    { client: agentClient, logger },
  );
  try {
    await controller.synced();
    const definition: Definition = {
      apiVersion: API_VERSION,
      kind: "Definition",
      metadata: { name: "idle", namespace },
      spec: { image: { name: IMAGE, port: 8080 }, replicas: 2 },
    };
    await base.create(DEFINITIONS, definition);
    await waitUntil("the Definition being ready", async () => {
      const current = await base.get(DEFINITIONS, { namespace, name: "idle" });
      return current.status?.readyReplicas === 2;
    });
    await sleep(SETTLE_MS);

    const all = await quietWindow([controllerClient, agentClient]);
    printTable(
      "berth all (controller + agent), rest_client_requests_total by method",
      all.byMethod,
      WINDOW_MS,
    );
    printTable("  controller, by purpose", all.byPurpose[0]!, WINDOW_MS);
    printTable("  agent, by purpose", all.byPurpose[1]!, WINDOW_MS);

    // The controller as `berth controller` runs it: under leader election (the agent stays up).
    await controller.stop();
    controller = startController(
      {
        leaderElection: {
          namespace: LEASE_NAMESPACE,
          name: leaderLease,
          identity: `idle-bench-${suffix}`,
          leaseDurationMs: 15_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2_000,
        },
      },
      { client: controllerClient, logger },
    );
    const elected = controller;
    await elected.synced();
    await waitUntil("leadership", () => Promise.resolve(elected.manager.isLeader()));
    await sleep(SETTLE_MS);
    const alone = await quietWindow([controllerClient]);
    printTable("berth controller (leader-elected), by purpose", alone.byPurpose[0]!, WINDOW_MS);
  } finally {
    await ignoreNotFound(base.delete(DEFINITIONS, { namespace, name: "idle" }));
    await waitUntil("the Definition's removal", async () => {
      try {
        await base.get(DEFINITIONS, { namespace, name: "idle" });
        return false;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    }).catch((err: unknown) => console.error("cleanup:", err));
    await agent.stop();
    await controller.stop();
    await ignoreNotFound(base.delete(NAMESPACES, { name: namespace }));
    await ignoreNotFound(base.delete(NODES, { name: nodeName }));
    await ignoreNotFound(base.delete(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(nodeName) }));
    await ignoreNotFound(base.delete(LEASES, { namespace: LEASE_NAMESPACE, name: leaderLease }));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
