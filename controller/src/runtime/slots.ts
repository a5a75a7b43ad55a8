/**
 * A fixed number of slots for work that must not all run at once (pulls and builds on a
 * node, container starts on an engine). A caller takes a slot, does its work and gives the
 * slot back; while all are taken, callers wait their turn in the order they asked. A caller
 * whose signal aborts while it waits leaves the line with the signal's reason.
 */
export class Slots {
  private running = 0;
  private readonly waiting: Array<{ grant: () => void; signal: AbortSignal }> = [];

  constructor(
    readonly limit: number,
    /** What the slots are for, to name them in an error. */
    what: string,
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`the ${what} limit must be a positive integer, got ${limit}`);
  }

  /** Slots taken, and callers waiting for one. */
  get load(): { running: number; waiting: number; limit: number } {
    return { running: this.running, waiting: this.waiting.length, limit: this.limit };
  }

  /** Whether a caller asking now would wait. */
  get full(): boolean {
    return this.running >= this.limit;
  }

  /** Waits for a slot; the returned function gives it back (once, however often it is called). */
  acquire(signal: AbortSignal): Promise<() => void> {
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.running--;
      this.grantNext();
    };
    if (signal.aborted) return Promise.reject(reasonOf(signal));
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const entry = {
        signal,
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          this.running++;
          resolve(release);
        },
      };
      const onAbort = (): void => {
        const index = this.waiting.indexOf(entry);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(reasonOf(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Runs work in a slot, which is given back however the work ends. */
  async run<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await work();
    } finally {
      release();
    }
  }

  private grantNext(): void {
    while (this.running < this.limit) {
      const next = this.waiting.shift();
      if (!next) return;
      if (!next.signal.aborted) next.grant();
    }
  }
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("cancelled");
}
