/** The registry API's answers, as the client library returns them. */

/** One address of a service, as lookup returns it (the wire format the registry serves). */
export interface RegistryInstance {
  name: string;
  /** null while a Berth-run Instance has no address yet. */
  url: string | null;
  host: string | null;
  port: number | null;
  /** The Node running it; null for an external Instance. */
  node: string | null;
  /** The run-template hash; null for an external Instance. */
  deploymentId: string | null;
  ready: boolean;
  external: boolean;
  /** Why it is not ready (only listed with ?include=all). */
  reason?: string;
  /** What a self-registered instance attached (external only). */
  metadata?: Record<string, string>;
}

export interface ServiceInstances {
  slug: string;
  namespace: string;
  /** The change index: it only grows. */
  index: number;
  instances: RegistryInstance[];
  /** False when the registry knows no Definition and no instance of the slug (a 404). */
  found: boolean;
}

/** An answer other than 2xx from the registry, with its message and the field at fault. */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}
