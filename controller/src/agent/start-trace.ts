/**
 * The agent's part of the apply-to-ready trace (runtime/stage-trace.ts): a new Instance
 * seen bound to this node, picked up by a worker, its image ready, a start slot free
 * (container-launch.ts), its container created
 * and started, its first passing health check, and its Ready status written. Each stage is
 * timed from the one before it into berth_agent_start_stage_seconds. Only Instances this
 * agent has seen arrive are traced: an adopted or restarted one is not a start.
 */
import type { Instance } from "../api/types.js";
import type { Informer } from "../runtime/informer.js";
import { objectKey } from "../runtime/informer.js";
import { APPLY_STAGES, StageStarts, markStage, type ApplyStage } from "../runtime/stage-trace.js";
import { startStageSeconds } from "./metrics.js";

type AgentStage = Extract<
  ApplyStage,
  | "picked_up"
  | "image_ready"
  | "start_slot"
  | "container_created"
  | "container_started"
  | "first_probe_passed"
  | "status_written"
>;

export class StartTrace {
  /** Instances on their way: the moment of the last stage they reached, by key. */
  private readonly last = new StageStarts();
  /** The last stage each Instance reached (its index in APPLY_STAGES), once a worker picked it up. */
  private readonly reachedIndex = new Map<string, number>();
  private readonly definitions = new Map<string, string>();

  /** Notes Instances that arrive on this node with no status from an agent yet: new ones. */
  watch(instances: Informer<Instance>): void {
    instances.addHandler({
      onAdd: (instance) => {
        // Only an agent's status carries observedGeneration (the scheduler's does not).
        const touched = instance.status?.observedGeneration !== undefined || instance.status?.containerId;
        if (touched || instance.metadata.deletionTimestamp) return;
        const key = objectKey(instance);
        if (this.last.has(key)) return;
        this.last.set(key, performance.now());
        this.definitions.set(key, instance.spec.definition);
      },
      onDelete: (instance) => this.forget(objectKey(instance)),
    });
  }

  /** A worker begins a pass over the Instance. */
  pickedUp(key: string): void {
    if (!this.reachedIndex.has(key)) this.reach(key, "picked_up");
  }

  /** The Instance reached a stage; a stage it reached already is not timed again. */
  reached(key: string, stage: Exclude<AgentStage, "picked_up" | "status_written">): void {
    if (this.reachedIndex.has(key)) this.reach(key, stage);
  }

  /** Its Ready status (ready: true) was written: the agent's part is done. */
  readyWritten(key: string): void {
    if (!this.reachedIndex.has(key)) return;
    this.reach(key, "status_written");
    this.forget(key);
  }

  forget(key: string): void {
    this.last.delete(key);
    this.reachedIndex.delete(key);
    this.definitions.delete(key);
  }

  private reach(key: string, stage: AgentStage): void {
    const before = this.last.get(key);
    const index = APPLY_STAGES.indexOf(stage);
    if (before === undefined || index <= (this.reachedIndex.get(key) ?? -1)) return;
    this.reachedIndex.set(key, index);
    const [namespace = "", instance = ""] = key.split("/");
    const at = markStage({ stage, namespace, definition: this.definitions.get(key) ?? "", instance });
    startStageSeconds.observe({ stage }, (at - before) / 1000);
    this.last.set(key, at);
  }
}
