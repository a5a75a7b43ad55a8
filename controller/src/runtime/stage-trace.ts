/**
 * Tracepoints on an Instance's way from apply to ready. Each stage's owner (the Definition
 * controller, the scheduler, the agent) marks the moment it completes a stage and observes
 * its own `berth_*` histogram; a listener in the same process (the benchmark, which runs the
 * controller and an agent side by side) gets every mark on one monotonic clock, so a
 * breakdown across owners adds up to the whole.
 */

/** The stages in the order they happen; each mark says the stage has just completed. */
export const APPLY_STAGES = [
  "definition_seen",
  "instance_created",
  "bound",
  "picked_up",
  "image_ready",
  "start_slot",
  "container_created",
  "container_started",
  "first_probe_passed",
  "status_written",
  "address_written",
] as const;

export type ApplyStage = (typeof APPLY_STAGES)[number];

export interface StageMark {
  stage: ApplyStage;
  namespace: string;
  /** The Definition the Instance belongs to (the Definition itself for definition_seen). */
  definition: string;
  /** The Instance's name; absent for definition_seen. */
  instance?: string;
  /** performance.now() when the stage completed. */
  at: number;
}

export type StageListener = (mark: StageMark) => void;

const listeners = new Set<StageListener>();

/** Hears every mark made in this process from now on; returns the function that stops it. */
export function onStageMark(listener: StageListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tells the listeners (if any) that a stage completed now; returns the moment. */
export function markStage(mark: Omit<StageMark, "at">): number {
  const at = performance.now();
  if (listeners.size === 0) return at;
  const full: StageMark = { ...mark, at };
  for (const listener of listeners) listener(full);
  return at;
}

/**
 * Start moments of stages by key, pruned by age so a stage that never completes (an
 * Instance deleted before it was bound, say) costs nothing for long.
 */
export class StageStarts {
  private readonly starts = new Map<string, number>();
  private lastPrune = 0;

  constructor(private readonly maxAgeMs = 15 * 60_000) {}

  set(key: string, at: number): void {
    this.prune(at);
    this.starts.set(key, at);
  }

  /** Sets the start only when none is recorded. */
  setIfAbsent(key: string, at: number): void {
    if (!this.starts.has(key)) this.set(key, at);
  }

  get(key: string): number | undefined {
    return this.starts.get(key);
  }

  has(key: string): boolean {
    return this.starts.has(key);
  }

  /** The start, removed; undefined when none was recorded. */
  take(key: string): number | undefined {
    const at = this.starts.get(key);
    this.starts.delete(key);
    return at;
  }

  delete(key: string): void {
    this.starts.delete(key);
  }

  get size(): number {
    return this.starts.size;
  }

  private prune(now: number): void {
    if (now - this.lastPrune < this.maxAgeMs / 4) return;
    this.lastPrune = now;
    for (const [key, at] of this.starts) if (now - at > this.maxAgeMs) this.starts.delete(key);
  }
}
