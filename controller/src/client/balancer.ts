/**
 * Client-side load balancing over a service's ready instances: round-robin, skipping an
 * address that failed recently (passive outlier ejection) until its cool-down passed.
 */
import type { RegistryInstance } from "./types.js";

export interface BalancerOptions {
  /** How long an address that failed is skipped. Default 10 s. */
  coolDownMs?: number;
  /** Consecutive failed answers (5xx) that eject an address; a failed connection ejects at once. Default 3. */
  failuresToEject?: number;
  now?: () => number;
}

export class RoundRobin {
  private next = 0;
  private instances: RegistryInstance[] = [];
  private readonly ejectedUntil = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly coolDownMs: number;
  private readonly failuresToEject: number;
  private readonly now: () => number;

  constructor(options: BalancerOptions = {}) {
    this.coolDownMs = options.coolDownMs ?? 10_000;
    this.failuresToEject = options.failuresToEject ?? 3;
    this.now = options.now ?? Date.now;
  }

  /** The ready instances with an address, from the latest lookup or watch answer. */
  update(instances: readonly RegistryInstance[]): void {
    this.instances = instances.filter((i) => i.ready && i.url);
  }

  /**
   * The next instance in turn, skipping ejected ones and `exclude`; when every one is
   * ejected, the next in turn anyway (a stale guess beats no answer). Undefined when none is ready.
   */
  pick(exclude: ReadonlySet<string> = new Set()): RegistryInstance | undefined {
    const candidates = this.instances.filter((i) => !exclude.has(i.url!));
    if (candidates.length === 0) return undefined;
    const now = this.now();
    for (let tried = 0; tried < candidates.length; tried++) {
      const instance = candidates[this.next++ % candidates.length]!;
      if ((this.ejectedUntil.get(instance.url!) ?? 0) <= now) return instance;
    }
    return candidates[this.next++ % candidates.length];
  }

  /** The connection to the address failed: skip it for the cool-down. */
  connectionFailed(url: string): void {
    this.failures.delete(url);
    this.ejectedUntil.set(url, this.now() + this.coolDownMs);
  }

  /** The address answered with a server error; enough in a row eject it. */
  answerFailed(url: string): void {
    const count = (this.failures.get(url) ?? 0) + 1;
    if (count >= this.failuresToEject) this.connectionFailed(url);
    else this.failures.set(url, count);
  }

  succeeded(url: string): void {
    this.failures.delete(url);
    this.ejectedUntil.delete(url);
  }
}
