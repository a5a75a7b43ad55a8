/**
 * The engine calls Berth's agent makes, counted by operation through the Docker module's
 * observer hook (every call passes it when it ends): how many there were in a window, how
 * long they took, and how many overlapped a container start. For measurements only.
 */
import type { DockerObserver } from "../../controller/src/docker/metrics.js";
import { prometheusDockerObserver } from "../../controller/src/docker/metrics.js";
import type { DockerOperation } from "../../controller/src/docker/errors.js";

interface Call {
  operation: DockerOperation;
  start: number;
  end: number;
  failed: boolean;
}

export class EngineCallLog implements DockerObserver {
  private readonly calls: Call[] = [];

  operationFinished(...args: Parameters<DockerObserver["operationFinished"]>): void {
    prometheusDockerObserver.operationFinished(...args);
    const [operation, seconds, errorReason] = args;
    const end = performance.now();
    this.calls.push({ operation, start: end - seconds * 1000, end, failed: errorReason !== undefined });
  }

  /** Calls that started at or after `since` (a performance.now() reading). */
  private since(since: number): Call[] {
    return this.calls.filter((call) => call.start >= since);
  }

  /** One line per operation: count, failures, mean and max duration, and overlap with starts. */
  report(since: number): string[] {
    const calls = this.since(since);
    const starts = calls.filter((call) => call.operation === "start_container");
    const overlapsStart = (call: Call): boolean =>
      call.operation !== "start_container" && starts.some((s) => call.start < s.end && call.end > s.start);
    const byOperation = new Map<DockerOperation, Call[]>();
    for (const call of calls)
      byOperation.set(call.operation, [...(byOperation.get(call.operation) ?? []), call]);
    const lines: string[] = [];
    for (const [operation, list] of [...byOperation.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      // An event stream's call ends when the stream opens; its duration says nothing.
      const durations = list.map((call) => call.end - call.start);
      const mean = durations.reduce((sum, value) => sum + value, 0) / durations.length;
      const failed = list.filter((call) => call.failed).length;
      lines.push(
        `${operation.padEnd(20)} ${String(list.length).padStart(4)} calls` +
          `${failed > 0 ? ` (${failed} failed)` : ""}, mean ${mean.toFixed(0)} ms, max ${Math.max(...durations).toFixed(0)} ms, ` +
          `${list.filter(overlapsStart).length} during a container start`,
      );
    }
    return lines;
  }
}
