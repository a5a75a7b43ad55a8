/** The controller role's berth_* metrics, on the process's one registry (served on /metrics). */
import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../runtime/metrics.js";

export const instancesByPhase = new Gauge({
  name: "berth_instances",
  help: "Instances by namespace and phase",
  labelNames: ["namespace", "phase"] as const,
  registers: [registry],
});
export const definitionReadyReplicas = new Gauge({
  name: "berth_definition_ready_replicas",
  help: "Ready Instances per Definition",
  labelNames: ["namespace", "definition"] as const,
  registers: [registry],
});
export const nodeReady = new Gauge({
  name: "berth_node_ready",
  help: "1 when the Node is Ready, 0 otherwise",
  labelNames: ["node"] as const,
  registers: [registry],
});
export const applyToReadySeconds = new Histogram({
  name: "berth_apply_to_ready_seconds",
  help: "Seconds from a Definition generation being observed to all its replicas being ready",
  buckets: [0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300],
  registers: [registry],
});

export const discoveryWrites = new Counter({
  name: "berth_discovery_writes_total",
  help: "Writes of the discovery mirror: EndpointSlices and Services (create, update, patch, delete) and Definition status",
  labelNames: ["resource", "verb"] as const,
  registers: [registry],
});
export const discoveryEndpoints = new Gauge({
  name: "berth_discovery_endpoints",
  help: "Endpoints the discovery mirror publishes in EndpointSlices, by whether they are ready",
  labelNames: ["ready"] as const,
  registers: [registry],
});
export const discoverySyncDuration = new Histogram({
  name: "berth_discovery_sync_duration_seconds",
  help: "Time to bring one service's Service and EndpointSlices in line with its Instances",
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});
export const applyStageSeconds = new Histogram({
  name: "berth_controller_apply_stage_seconds",
  help: "The controller's stages of a new Instance: instance_created (from the new Definition seen in the cache), bound (from the Instance created), address_written (from the Instance seen ready to its address written into the Definition's status)",
  labelNames: ["stage"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
