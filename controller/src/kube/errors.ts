/** The Status object the API server answers errors with. */
export interface ApiStatus {
  kind?: "Status";
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    kind?: string;
    causes?: Array<{ reason?: string; message?: string; field?: string }>;
  };
}

/** An error answer from the API server, or a transport failure (statusCode 0). */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  readonly status: ApiStatus | undefined;
  /** A JSON patch `test` operation (the patch's precondition) failed. */
  readonly preconditionFailed: boolean;

  constructor(statusCode: number, message: string, status?: ApiStatus, preconditionFailed = false) {
    super(message);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.status = status;
    this.reason = status?.reason;
    this.preconditionFailed = preconditionFailed;
  }
}

/** The HTTP status of an API error, also for errors thrown by client-node itself; 0 when unknown. */
export function statusCodeOf(err: unknown): number {
  if (err instanceof KubeApiError) return err.statusCode;
  if (typeof err === "object" && err !== null) {
    const candidate = err as { statusCode?: unknown; code?: unknown };
    if (typeof candidate.statusCode === "number") return candidate.statusCode;
    if (typeof candidate.code === "number") return candidate.code;
  }
  return 0;
}

export const isNotFound = (err: unknown): boolean => statusCodeOf(err) === 404;
export const isAlreadyExists = (err: unknown): boolean =>
  statusCodeOf(err) === 409 && reasonOf(err) === "AlreadyExists";
/** An optimistic-lock conflict: the object changed since it was read. Requeue, don't report. */
export const isConflict = (err: unknown): boolean =>
  statusCodeOf(err) === 409 && reasonOf(err) !== "AlreadyExists";
/** The resourceVersion asked for is too old (compacted): relist. */
export const isGone = (err: unknown): boolean => statusCodeOf(err) === 410;
export const isInvalid = (err: unknown): boolean => statusCodeOf(err) === 422;
export const isForbidden = (err: unknown): boolean => statusCodeOf(err) === 403;
/** A create refused because its namespace is being deleted (nothing new may appear there). */
export const isNamespaceTerminating = (err: unknown): boolean =>
  err instanceof KubeApiError &&
  err.statusCode === 403 &&
  (err.status?.details?.causes ?? []).some((cause) => cause.reason === "NamespaceTerminating");

/**
 * A JSON patch's `test` operation failed: the precondition it carried no longer holds, so
 * the object changed since it was read. Like a conflict: requeue with fresh data.
 */
export function isPatchTestFailed(err: unknown): boolean {
  return err instanceof KubeApiError && err.preconditionFailed;
}

function reasonOf(err: unknown): string | undefined {
  return err instanceof KubeApiError ? err.reason : undefined;
}

/** The object read, or undefined when it does not exist; other errors are thrown. */
export async function getOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Awaits a delete (or any call) for which "already gone" is success. */
export async function ignoreNotFound(call: Promise<unknown>): Promise<void> {
  await getOrUndefined(() => call);
}
