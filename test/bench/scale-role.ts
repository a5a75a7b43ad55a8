/**
 * One role of the scale benchmark in a process of its own, so its memory is its own: the
 * controller, or the agent on the simulated runtime (BENCH_NODES Nodes). Started by scale.ts
 * over IPC; answers "measure" (a forced GC, then RSS, heap, the requests it made by purpose
 * and the reconcile latency p99 per controller) and "stop".
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import path from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { resolveAgentOptions } from "../../controller/src/agent/options.js";
import { startController } from "../../controller/src/controllers/controller-role.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import {
  eventBacklog,
  eventsTotal,
  reconcileTime,
  reconcileTotal,
  workqueueQueueDuration,
} from "../../controller/src/runtime/metrics.js";
import { startSimulatedNodes } from "../../controller/src/simulated/nodes.js";
import { CountingKubeClient } from "./counting-client.js";

export interface Measurement {
  rssMiB: number;
  heapMiB: number;
  requests: Record<string, number>;
  reconcileP99Ms: Record<string, number>;
  /** How long keys waited in each controller's queue before a worker took them: p99. */
  queueWaitP99Ms: Record<string, number>;
  /** Reconciles per controller and result (success, error, requeue, requeue_after). */
  reconciles: Record<string, number>;
  containers: number;
  /** CPU time this process used so far (user + system). */
  cpuSeconds: number;
  /** Event-loop delay p99 since the last measurement: how long ready work waited for the CPU. */
  eventLoopDelayP99Ms: number;
  /** Events by outcome (berth_events_total: created, aggregated, dropped, ...), all reporters. */
  events: Record<string, number>;
  /** Event writes waiting for a slot now. */
  eventBacklog: number;
}

const role = process.argv[2];
const gc = (globalThis as { gc?: () => void }).gc;
const client = new CountingKubeClient(newKubeClient(loadKubeConfig()), role ?? "", true);
const logger = createLogger({ level: "error" });
const namespace = process.env.BENCH_NAMESPACE ?? "";
let snapshots = 0;
const eventLoopDelay = monitorEventLoopDelay({ resolution: 20 });
eventLoopDelay.enable();

/** p99 of a histogram per label value, from its cumulative buckets (the bucket's upper bound). */
async function p99ByLabel(
  histogram: typeof reconcileTime | typeof workqueueQueueDuration,
  label: string,
): Promise<Record<string, number>> {
  const { values } = await histogram.get();
  const byLabel = new Map<string, Array<{ le: number; count: number }>>();
  for (const value of values) {
    if (!value.metricName?.endsWith("_bucket")) continue;
    const labels = value.labels as Record<string, string | number | undefined>;
    const key = String(labels[label]);
    const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
    byLabel.set(key, [...(byLabel.get(key) ?? []), { le, count: value.value }]);
  }
  const result: Record<string, number> = {};
  for (const [key, buckets] of byLabel) {
    buckets.sort((a, b) => a.le - b.le);
    const total = buckets.at(-1)?.count ?? 0;
    if (total === 0) continue;
    const bucket = buckets.find((b) => b.count >= 0.99 * total);
    result[key] = (bucket?.le ?? Infinity) * 1000;
  }
  return result;
}

async function reconcileCounts(): Promise<Record<string, number>> {
  const { values } = await reconcileTotal.get();
  return Object.fromEntries(
    values.filter((v) => v.value > 0).map((v) => [`${v.labels.controller} ${v.labels.result}`, v.value]),
  );
}

async function eventCounts(): Promise<{ events: Record<string, number>; eventBacklog: number }> {
  const events: Record<string, number> = {};
  for (const v of (await eventsTotal.get()).values) {
    const outcome = String(v.labels.outcome);
    events[outcome] = (events[outcome] ?? 0) + v.value;
  }
  const eventBacklogNow = (await eventBacklog.get()).values.reduce((sum, v) => sum + v.value, 0);
  return { events, eventBacklog: eventBacklogNow };
}

async function main(): Promise<void> {
  let stop: () => Promise<void>;
  let containers = (): number => 0;
  if (role === "controller") {
    const handle = startController(
      { leaseNamespace: "berth-system", watchNamespace: namespace },
      { client, logger },
    );
    await handle.synced();
    stop = () => handle.stop();
  } else if (role === "agent") {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), "berth-scale-"));
    const nodes = await startSimulatedNodes(
      resolveAgentOptions({
        nodeName: process.env.BENCH_NODE_BASE ?? "scale",
        url: "unix:///var/run/docker.sock",
        address: "127.0.0.1",
        labels: { "berth.dev/bench": process.env.BENCH_NODE_BASE ?? "scale" },
        stateDir,
        watchNamespace: namespace,
      }),
      {
        nodes: Number(process.env.BENCH_NODES),
        behaviour: {
          startLatencyMs: Number(process.env.BENCH_START_LATENCY_MS ?? 0),
          readinessDelayMs: Number(process.env.BENCH_READINESS_DELAY_MS ?? 0),
          failureRate: 0,
        },
      },
      { client, logger },
    );
    containers = () => nodes.engines.reduce((sum, engine) => sum + engine.containers.size, 0);
    stop = async () => {
      await nodes.stop();
      rmSync(stateDir, { recursive: true, force: true });
    };
  } else {
    throw new Error(`unknown role ${role}`);
  }
  process.on("message", (message: { type: string }) => {
    void (async () => {
      if (message.type === "measure") {
        for (let i = 0; i < 3; i++) gc?.();
        const memory = process.memoryUsage();
        const measurement: Measurement = {
          rssMiB: memory.rss / 1024 / 1024,
          heapMiB: memory.heapUsed / 1024 / 1024,
          requests: Object.fromEntries(client.snapshot()),
          reconcileP99Ms: await p99ByLabel(reconcileTime, "controller"),
          queueWaitP99Ms: await p99ByLabel(workqueueQueueDuration, "name"),
          reconciles: await reconcileCounts(),
          containers: containers(),
          cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
          eventLoopDelayP99Ms: eventLoopDelay.percentile(99) / 1e6,
          ...(await eventCounts()),
        };
        eventLoopDelay.reset();
        // BENCH_HEAP_SNAPSHOT=DIR: a heap snapshot per measurement, to see what the heap holds
        // (after the figures, so its own work counts in none of them).
        if (process.env.BENCH_HEAP_SNAPSHOT) {
          writeHeapSnapshot(
            path.join(process.env.BENCH_HEAP_SNAPSHOT, `${role}-${++snapshots}.heapsnapshot`),
          );
        }
        process.send?.({ type: "measurement", measurement });
      } else if (message.type === "stop") {
        await stop();
        process.send?.({ type: "stopped" });
        process.exit(0);
      }
    })();
  });
  process.send?.({ type: "ready" });
}

await main();
