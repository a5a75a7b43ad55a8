/**
 * Bounds on long-lived requests (blocking queries and event streams): per client and in
 * all. Past them a request is turned away with 503 and Retry-After instead of queued.
 */
import { HttpError } from "./http.js";

export interface WaitLimits {
  total: number;
  perClient: number;
  retryAfterSeconds: number;
}

export class WaitSlots {
  private total = 0;
  private readonly byClient = new Map<string, number>();

  constructor(private readonly limits: WaitLimits) {}

  /** Takes a slot for the client or throws a 503; the returned function gives it back (once). */
  acquire(client: string): () => void {
    const held = this.byClient.get(client) ?? 0;
    if (this.total >= this.limits.total) {
      throw this.busy(`the registry holds its limit of ${this.limits.total} blocking queries and streams`);
    }
    if (held >= this.limits.perClient) {
      throw this.busy(`this client holds its limit of ${this.limits.perClient} blocking queries and streams`);
    }
    this.total++;
    this.byClient.set(client, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left <= 0) this.byClient.delete(client);
      else this.byClient.set(client, left);
    };
  }

  get open(): number {
    return this.total;
  }

  private busy(message: string): HttpError {
    return new HttpError(503, `${message}; retry later`, undefined, {
      "Retry-After": String(this.limits.retryAfterSeconds),
    });
  }
}
