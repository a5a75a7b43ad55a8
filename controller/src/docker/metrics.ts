import { dockerOperationDuration, dockerOperationErrors } from "../runtime/metrics.js";
import type { DockerErrorReason, DockerOperation } from "./errors.js";

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
