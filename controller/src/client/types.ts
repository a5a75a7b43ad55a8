/** The registry API's answers, as the client library returns them. */

export interface RegistryInstance {
  name: string;
  url: string | null;
  host: string | null;
  port: number | null;
  node: string | null;
  deploymentId: string | null;
  ready: boolean;
  external: boolean;
  reason?: string;
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
