/**
 * Where Berth's apply-to-answer time goes: the stage marks of runtime/stage-trace.ts (made by
 * the controller and the agent running in the benchmark's process), framed by the
 * benchmark's own two moments: just before the create request, and the first HTTP 200 on the
 * address the Definition's status lists. Consecutive marks make segments that add up to the
 * whole, per Definition.
 */
import { APPLY_STAGES, onStageMark, type ApplyStage } from "../../controller/src/runtime/stage-trace.js";

type Moment = "applied" | ApplyStage | "answers";
const MOMENTS: readonly Moment[] = ["applied", ...APPLY_STAGES, "answers"];

/** What happens in each segment, named by the moment that ends it. */
const SEGMENT_LABELS: Record<Exclude<Moment, "applied">, string> = {
  definition_seen: "create request + watch -> controller sees Definition",
  instance_created: "controller: Definition seen -> Instance created",
  bound: "scheduler: Instance created -> bound",
  picked_up: "watch + agent queue: bound -> agent picks it up",
  image_ready: "agent: picked up -> image ready",
  start_slot: "agent: image ready -> a start slot is free",
  container_created: "engine: create container",
  container_started: "engine: start container",
  first_probe_passed: "agent: started -> first health check passes",
  status_written: "agent: check passed -> Ready status written",
  address_written: "watch + controller: Ready -> address in Definition status",
  answers: "client: address written -> first HTTP 200",
};

export class StageRecorder {
  private readonly moments = new Map<string, Partial<Record<Moment, number>>>();
  private readonly stop: () => void;

  constructor(private readonly namespace: string) {
    this.stop = onStageMark((mark) => {
      if (mark.namespace === this.namespace) this.note(mark.definition, mark.stage, mark.at);
    });
  }

  note(definition: string, moment: Moment, at: number): void {
    const marks = this.moments.get(definition) ?? {};
    marks[moment] ??= at;
    this.moments.set(definition, marks);
  }

  close(): void {
    this.stop();
  }

  /** Segment durations (ms) per segment, over the Definitions that have both ends. */
  segments(): Map<Exclude<Moment, "applied">, number[]> {
    const out = new Map<Exclude<Moment, "applied">, number[]>();
    for (const marks of this.moments.values()) {
      for (let i = 1; i < MOMENTS.length; i++) {
        const end = MOMENTS[i] as Exclude<Moment, "applied">;
        const from = marks[MOMENTS[i - 1]!];
        const to = marks[end];
        if (from === undefined || to === undefined) continue;
        const list = out.get(end) ?? [];
        list.push(to - from);
        out.set(end, list);
      }
    }
    return out;
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

export interface Summary {
  median: number;
  p99: number;
  mean: number;
  count: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return { median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), mean, count: sorted.length };
}

const ms = (value: number): string => `${Number.isNaN(value) ? "-" : value.toFixed(0)}`.padStart(7);

/** The breakdown table: per segment median, p99 and mean; the means add up to the mean total. */
export function printBreakdown(recorder: StageRecorder, totalMean: number): void {
  const segments = recorder.segments();
  console.log(`  ${"stage (each from the end of the one before)".padEnd(60)} median     p99    mean   n`);
  let sumOfMeans = 0;
  for (const moment of MOMENTS.slice(1) as Array<Exclude<Moment, "applied">>) {
    const summary = summarize(segments.get(moment) ?? []);
    if (summary.count > 0) sumOfMeans += summary.mean;
    console.log(
      `  ${SEGMENT_LABELS[moment].padEnd(60)}${ms(summary.median)} ${ms(summary.p99)} ${ms(summary.mean)} ${String(summary.count).padStart(3)}`,
    );
  }
  console.log(`  ${"sum of the stage means".padEnd(60)}${" ".repeat(16)}${ms(sumOfMeans)}`);
  console.log(
    `  ${"mean apply -> first HTTP 200 (measured end to end)".padEnd(60)}${" ".repeat(16)}${ms(totalMean)}`,
  );
}
