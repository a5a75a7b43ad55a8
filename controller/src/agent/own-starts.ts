/**
 * The containers this agent starts itself. The pass that starts one inspects it once the
 * start has answered and goes on from what it sees (a container that exits at once has its
 * own die event), so the engine's start event of that container is no news: it starts no
 * second pass, with its container list and inspect, while the engine is busiest.
 */

/** Starts whose event has not come yet; the stream may miss some (its resync looks at everything). */
const KEPT = 1000;

export class OwnStarts {
  /** Container id -> the Instance key that started it. */
  private readonly starts = new Map<string, string>();

  /** Called before the start request: its event may come before the answer. */
  starting(key: string, containerId: string): void {
    this.starts.set(containerId, key);
    if (this.starts.size > KEPT) {
      const oldest = this.starts.keys().next().value;
      if (oldest !== undefined) this.starts.delete(oldest);
    }
  }

  /** Whether a start event is that of a start this agent made (each is passed over once). */
  isOwnStart(containerId: string): boolean {
    return this.starts.delete(containerId);
  }

  forget(key: string): void {
    for (const [id, owner] of this.starts) if (owner === key) this.starts.delete(id);
  }
}
