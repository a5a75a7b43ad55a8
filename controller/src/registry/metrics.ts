/** The registry's metrics, on the process's one registry (served on /metrics). */
import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../runtime/metrics.js";

export const registryRequests = new Counter({
  name: "berth_registry_requests_total",
  help: "Registry API requests by route (its OpenAPI operationId) and HTTP status code",
  labelNames: ["route", "code"] as const,
  registers: [registry],
});

export const registryRequestDuration = new Histogram({
  name: "berth_registry_request_duration_seconds",
  help: "Time to answer a registry API request (blocking queries and streams excluded), by route",
  labelNames: ["route"] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const registryOpenWaits = new Gauge({
  name: "berth_registry_open_waits",
  help: "Blocking queries parked and event streams open, by kind (blocking|stream)",
  labelNames: ["kind"] as const,
  registers: [registry],
});

export const registryExternalInstances = new Gauge({
  name: "berth_registry_external_instances",
  help: "External Instances in the registry's cache, by whether they are ready",
  labelNames: ["ready"] as const,
  registers: [registry],
});

export const registryExpirations = new Counter({
  name: "berth_registry_expirations_total",
  help: "External Instances this replica marked not ready (expired) or deleted (gone after the grace period)",
  labelNames: ["action"] as const,
  registers: [registry],
});

export const registryHeartbeats = new Counter({
  name: "berth_registry_heartbeats_total",
  help: "Heartbeats of external Instances this replica received",
  registers: [registry],
});

export const registryHeartbeatWrites = new Counter({
  name: "berth_registry_heartbeat_writes_total",
  help: "Status writes to the API server this replica made to record heartbeats (most beats are not written)",
  registers: [registry],
});

export const registryStreamRechecks = new Counter({
  name: "berth_registry_stream_rechecks_total",
  help: "Checks of an open event stream's caller, by result (allowed|refused|unavailable)",
  labelNames: ["result"] as const,
  registers: [registry],
});

export function presetRegistryMetrics(): void {
  for (const kind of ["blocking", "stream"]) registryOpenWaits.set({ kind }, 0);
  for (const action of ["not-ready", "deleted"]) registryExpirations.inc({ action }, 0);
  registryHeartbeats.inc(0);
  registryHeartbeatWrites.inc(0);
  for (const result of ["allowed", "refused", "unavailable"]) registryStreamRechecks.inc({ result }, 0);
}
