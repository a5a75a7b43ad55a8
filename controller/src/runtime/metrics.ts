import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RequestObserver } from "../kube/transport.js";

/**
 * The one metrics registry of the process, served on /metrics. Metric names follow
 * controller-runtime (so its dashboards work); each of Berth's own berth_* metrics lives with
 * the code that sets it (controllers/metrics.ts, docker/metrics.ts, registry/metrics.ts).
 */
export const registry = new Registry();

let defaultMetricsCollected = false;
/** Process metrics (CPU, memory, event loop lag); called once by the binary, not by tests. */
export function collectProcessMetrics(): void {
  if (defaultMetricsCollected) return;
  defaultMetricsCollected = true;
  collectDefaultMetrics({ register: registry });
}

const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
// Exponential 1e-8 .. 1e3 s, as client-go's workqueue metrics use.
const queueBuckets = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);

// ---------------------------------------------------------------- controller-runtime

export const reconcileTotal = new Counter({
  name: "controller_runtime_reconcile_total",
  help: "Total number of reconciliations per controller",
  labelNames: ["controller", "result"] as const,
  registers: [registry],
});
export const reconcileErrors = new Counter({
  name: "controller_runtime_reconcile_errors_total",
  help: "Total number of reconciliation errors per controller",
  labelNames: ["controller"] as const,
  registers: [registry],
});
export const terminalReconcileErrors = new Counter({
  name: "controller_runtime_terminal_reconcile_errors_total",
  help: "Total number of terminal reconciliation errors per controller",
  labelNames: ["controller"] as const,
  registers: [registry],
});
export const reconcilePanics = new Counter({
  name: "controller_runtime_reconcile_panics_total",
  help: "Total number of reconciliation panics (unexpected throws of non-Error values) per controller",
  labelNames: ["controller"] as const,
  registers: [registry],
});
export const reconcileTime = new Histogram({
  name: "controller_runtime_reconcile_time_seconds",
  help: "Length of time per reconciliation per controller",
  labelNames: ["controller"] as const,
  buckets: reconcileBuckets,
  registers: [registry],
});
export const maxConcurrentReconciles = new Gauge({
  name: "controller_runtime_max_concurrent_reconciles",
  help: "Maximum number of concurrent reconciles per controller",
  labelNames: ["controller"] as const,
  registers: [registry],
});
export const activeWorkers = new Gauge({
  name: "controller_runtime_active_workers",
  help: "Number of currently used workers per controller",
  labelNames: ["controller"] as const,
  registers: [registry],
});

export const workqueueDepth = new Gauge({
  name: "workqueue_depth",
  help: "Current depth of workqueue",
  labelNames: ["controller", "name"] as const,
  registers: [registry],
});
export const workqueueAdds = new Counter({
  name: "workqueue_adds_total",
  help: "Total number of adds handled by workqueue",
  labelNames: ["controller", "name"] as const,
  registers: [registry],
});
export const workqueueQueueDuration = new Histogram({
  name: "workqueue_queue_duration_seconds",
  help: "How long in seconds an item stays in workqueue before being requested",
  labelNames: ["controller", "name"] as const,
  buckets: queueBuckets,
  registers: [registry],
});
export const workqueueWorkDuration = new Histogram({
  name: "workqueue_work_duration_seconds",
  help: "How long in seconds processing an item from workqueue takes",
  labelNames: ["controller", "name"] as const,
  buckets: queueBuckets,
  registers: [registry],
});
export const workqueueRetries = new Counter({
  name: "workqueue_retries_total",
  help: "Total number of retries handled by workqueue",
  labelNames: ["controller", "name"] as const,
  registers: [registry],
});

export const leaderElectionMasterStatus = new Gauge({
  name: "leader_election_master_status",
  help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
  labelNames: ["name"] as const,
  registers: [registry],
});

// ---------------------------------------------------------------- client-go's REST client

// Named and labelled as client-go's rest client metrics, so API-server-load dashboards work.
export const restClientRequests = new Counter({
  name: "rest_client_requests_total",
  help: "Number of HTTP requests, partitioned by status code, method, and host.",
  labelNames: ["code", "method", "host"] as const,
  registers: [registry],
});
export const restClientRequestDuration = new Histogram({
  name: "rest_client_request_duration_seconds",
  help: "Request latency in seconds. Broken down by verb, and host.",
  labelNames: ["verb", "host"] as const,
  buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
  registers: [registry],
});

/** The kube client's observer that records client-go's two request metrics. */
export const restClientMetrics: RequestObserver = {
  requestDone({ method, host, code, durationSeconds }) {
    restClientRequests.inc({ code, method, host });
    restClientRequestDuration.observe({ verb: method, host }, durationSeconds);
  },
};

// ---------------------------------------------------------------- informers

export const informerRelists = new Counter({
  name: "berth_informer_relists_total",
  help: "Full lists an informer made: the initial one, after 410 Gone, and after watch failures it could not resume",
  labelNames: ["resource"] as const,
  registers: [registry],
});
export const informerWatchRestarts = new Counter({
  name: "berth_informer_watch_restarts_total",
  help: "Watches an informer restarted, by why: closed (server ended it), error, gone (410), silent (watchdog)",
  labelNames: ["resource", "reason"] as const,
  registers: [registry],
});

// ---------------------------------------------------------------- events

export const EVENT_OUTCOMES = [
  "created",
  "series_updated",
  "aggregated",
  "rate_limited",
  "dropped",
  "failed",
] as const;
export const eventsTotal = new Counter({
  name: "berth_events_total",
  help: "Events recorded, by reporter and outcome: created (an Event object written), series_updated (a series count written), aggregated (a repeat counted into a series), rate_limited (the object's spam filter held it back), dropped (the write backlog was full), failed (the write was refused)",
  labelNames: ["reporter", "outcome"] as const,
  registers: [registry],
});
export const eventBacklog = new Gauge({
  name: "berth_event_backlog",
  help: "Event writes waiting for a slot, by reporter",
  labelNames: ["reporter"] as const,
  registers: [registry],
});

export const RECONCILE_RESULTS = ["success", "error", "requeue", "requeue_after"] as const;
export type ReconcileResultLabel = (typeof RECONCILE_RESULTS)[number];

/** Pre-sets a controller's series to zero so they exist before the first reconcile. */
export function presetControllerMetrics(controller: string, workers: number): void {
  for (const result of RECONCILE_RESULTS) reconcileTotal.inc({ controller, result }, 0);
  reconcileErrors.inc({ controller }, 0);
  terminalReconcileErrors.inc({ controller }, 0);
  reconcilePanics.inc({ controller }, 0);
  activeWorkers.set({ controller }, 0);
  maxConcurrentReconciles.set({ controller }, workers);
  reconcileTime.zero({ controller });
  const queueLabels = { controller, name: controller };
  workqueueDepth.set(queueLabels, 0);
  workqueueAdds.inc(queueLabels, 0);
  workqueueRetries.inc(queueLabels, 0);
  workqueueQueueDuration.zero(queueLabels);
  workqueueWorkDuration.zero(queueLabels);
}

export function presetInformerMetrics(resource: string): void {
  informerRelists.inc({ resource }, 0);
  for (const reason of ["closed", "error", "gone", "silent"])
    informerWatchRestarts.inc({ resource, reason }, 0);
}
