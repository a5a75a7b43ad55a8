/**
 * npm run bench:soak: does memory stay flat while Instances come and go?
 *
 * The controller and an agent run in this process (as `berth all` does) against the local
 * control plane; the agent's engine is simulated in memory (simulated-engine.ts), so the
 * churn is not limited by how many containers the machine can run. Rounds of Definitions
 * with fresh names are created, run until every Instance is ready, and deleted until every
 * Instance is gone: BENCH_INSTANCES (default 5000) Instances in all, BENCH_ROUND_INSTANCES
 * (default 250) at a time. The heap is measured after a forced GC once a warm-up round has
 * filled the caches, and again after every round; the growth from the first to the last
 * figure is what a week of churn would add.
 *
 * A measurement, not a test: it prints numbers and fails only when something breaks. It
 * needs node's --expose-gc (the npm script passes it). Everything it creates is removed.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startAgent } from "../../controller/src/agent/agent-role.js";
import { nodeLeaseName } from "../../controller/src/api/vocabulary.js";
import { startController } from "../../controller/src/controllers/controller-role.js";
import { DEFINITIONS, INSTANCES, LEASES, NAMESPACES, NODES } from "../../controller/src/kube/resources.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { newKubeClient, type KubeClient } from "../../controller/src/kube/client.js";
import { KubeEventRecorder } from "../../controller/src/runtime/events.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { SimulatedEngine } from "../../controller/src/simulated/engine.js";
import { IMAGE, inParallel, simulatedDefinition, waitUntil } from "./workload.js";

const REPLICAS = 5;
const TOTAL = whole(process.env.BENCH_INSTANCES, 5000);
const PER_ROUND = whole(process.env.BENCH_ROUND_INSTANCES, 250);
const LEASE_NAMESPACE = "berth-system";

/** How long a round may take to converge, and how often it is looked at. */
const WAIT = { timeoutMs: 600_000, intervalMs: 500 };

function whole(text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < REPLICAS || value > 1_000_000) {
    throw new Error(`expected a whole number from ${REPLICAS} to 1000000, got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * State that is kept for a while by design (Event series for 10 minutes, rate-limit buckets
 * until they refill, a resync of each Instance a minute later) would read as growth in a
 * run of minutes that a week of churn never sees. The run compresses those windows to a
 * few seconds and measures after they passed: what is left is what would pile up.
 */
const COMPRESSED_WINDOW_MS = 4_000;

function compressedRecorder(client: KubeClient, component: string): KubeEventRecorder {
  return new KubeEventRecorder({
    client,
    component,
    seriesWindowMs: COMPRESSED_WINDOW_MS,
    seriesUpdateIntervalMs: 1_000,
    refillMs: COMPRESSED_WINDOW_MS / 25,
    sweepIntervalMs: 1_000,
  });
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap in use after full collections, in MiB. */
async function settledHeapMiB(): Promise<number> {
  if (!gc) throw new Error("run with node --expose-gc (npm run bench:soak does)");
  // Let timers and queued writes finish, then collect until the figure stops moving.
  await sleep(2 * COMPRESSED_WINDOW_MS);
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(100);
  }
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

async function ignoreNotFound(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (!isNotFound(err)) console.error("cleanup:", err);
  }
}

/** One round: Definitions with names never used before, run to ready, then deleted to nothing. */
async function round(client: KubeClient, namespace: string, nodeName: string, index: number): Promise<void> {
  const count = Math.ceil(PER_ROUND / REPLICAS);
  const names = Array.from({ length: count }, (_, i) => `soak-${index}-${i}`);
  await inParallel(names, 8, async (name) => {
    const definition = simulatedDefinition(namespace, name, {
      replicas: REPLICAS,
      selector: { "berth.dev/soak": nodeName },
      intervalSeconds: 30,
    });
    await client.create(DEFINITIONS, definition);
  });
  await waitUntil(`round ${index}: every Instance ready`, WAIT, async () => {
    const { items } = await client.list(INSTANCES, { namespace });
    return items.length === count * REPLICAS && items.every((i) => i.status?.ready === true);
  });
  await inParallel(names, 8, (name) => ignoreNotFound(client.delete(DEFINITIONS, { namespace, name })));
  await waitUntil(`round ${index}: every Instance gone`, WAIT, async () => {
    const [instances, definitions] = await Promise.all([
      client.list(INSTANCES, { namespace }),
      client.list(DEFINITIONS, { namespace }),
    ]);
    return instances.items.length === 0 && definitions.items.length === 0;
  });
}

async function main(): Promise<void> {
  const client = newKubeClient(loadKubeConfig());
  const logger = createLogger({ level: "error" });
  const suffix = randomBytes(3).toString("hex");
  const namespace = `berth-soak-${suffix}`;
  const nodeName = `soak-${suffix}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-soak-"));
  const rounds = Math.max(2, Math.ceil(TOTAL / PER_ROUND));
  console.log(
    `soak: ${rounds} rounds of ${PER_ROUND} Instances (${REPLICAS} per Definition), ` +
      `${rounds * PER_ROUND} in all; controller + agent in this process, engine simulated`,
  );

  await client.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  const engine = new SimulatedEngine({
    url: `unix://${path.join(dir, "simulated.sock")}`,
    images: [IMAGE],
    bindAddress: "127.0.0.1",
  });
  const controller = startController(
    { watchNamespace: namespace },
    { client, logger, events: compressedRecorder(client, "berth.dev/controller") },
  );
  const agent = await startAgent(
    {
      nodeName,
      url: engine.url,
      address: "127.0.0.1",
      labels: { "berth.dev/soak": nodeName },
      stateDir: dir,
      watchNamespace: namespace,
      resyncIntervalMs: COMPRESSED_WINDOW_MS,
    },
    { client, logger, docker: engine, events: compressedRecorder(client, "berth.dev/agent") },
  );
  const figures: Array<{ round: number; instances: number; heapMiB: number; seconds: number }> = [];
  const startedAt = Date.now();
  try {
    await controller.synced();
    // The warm-up round fills caches, compiles code and creates metric series once.
    await round(client, namespace, nodeName, 0);
    figures.push({ round: 0, instances: PER_ROUND, heapMiB: await settledHeapMiB(), seconds: 0 });
    console.log(`after warm-up: heap ${figures[0]!.heapMiB.toFixed(1)} MiB`);
    for (let index = 1; index < rounds; index++) {
      await round(client, namespace, nodeName, index);
      const figure = {
        round: index,
        instances: (index + 1) * PER_ROUND,
        heapMiB: await settledHeapMiB(),
        seconds: Math.round((Date.now() - startedAt) / 1000),
      };
      figures.push(figure);
      console.log(
        `round ${String(index).padStart(3)}: ${String(figure.instances).padStart(6)} Instances churned, ` +
          `heap ${figure.heapMiB.toFixed(1)} MiB, ${figure.seconds} s, engine holds ${engine.containers.size}`,
      );
    }
    const first = figures[0]!;
    const last = figures[figures.length - 1]!;
    const churned = last.instances - first.instances;
    const growth = last.heapMiB - first.heapMiB;
    console.log(
      `\nheap after GC: start ${first.heapMiB.toFixed(1)} MiB (after ${first.instances} Instances), ` +
        `end ${last.heapMiB.toFixed(1)} MiB (after ${last.instances}); growth ${growth.toFixed(2)} MiB ` +
        `over ${churned} Instances (${((growth * 1024 * 1024) / Math.max(1, churned)).toFixed(0)} bytes each)`,
    );
  } finally {
    await agent.stop();
    await controller.stop();
    await ignoreNotFound(client.delete(NAMESPACES, { name: namespace }));
    await ignoreNotFound(client.delete(NODES, { name: nodeName }));
    await ignoreNotFound(
      client.delete(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(nodeName) }),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
