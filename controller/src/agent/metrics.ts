/** The agent role's berth_* metrics, on the process's one registry (served on /metrics). */
import { Histogram } from "prom-client";
import { registry } from "../runtime/metrics.js";

export const startStageSeconds = new Histogram({
  name: "berth_agent_start_stage_seconds",
  help: "The agent's stages of a new Instance, each from the one before: picked_up (from the Instance seen bound here), image_ready, start_slot (a slot of --max-parallel-starts free), container_created, container_started, first_probe_passed, status_written (its Ready status written)",
  labelNames: ["stage"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
