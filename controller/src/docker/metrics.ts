import { Counter, Histogram } from "prom-client";
import { registry } from "../runtime/metrics.js";
import type { DockerErrorReason, DockerOperation } from "./errors.js";

export const dockerOperationDuration = new Histogram({
  name: "berth_docker_operation_duration_seconds",
  help: "Duration of Docker engine operations",
  labelNames: ["operation"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});
export const dockerOperationErrors = new Counter({
  name: "berth_docker_operation_errors_total",
  help: "Failed Docker engine operations",
  labelNames: ["operation", "reason"] as const,
  registers: [registry],
});

/** Told about every engine call when it ends; DockerEngine's hook for metrics. */
export interface DockerObserver {
  operationFinished(operation: DockerOperation, seconds: number, errorReason?: DockerErrorReason): void;
}

/**
 * Records berth_docker_operation_duration_seconds{operation} and, on failure,
 * berth_docker_operation_errors_total{operation,reason} in the process registry.
 */
export const prometheusDockerObserver: DockerObserver = {
  operationFinished(operation, seconds, errorReason) {
    dockerOperationDuration.observe({ operation }, seconds);
    if (errorReason) dockerOperationErrors.inc({ operation, reason: errorReason });
  },
};

export const noopDockerObserver: DockerObserver = { operationFinished: () => undefined };
