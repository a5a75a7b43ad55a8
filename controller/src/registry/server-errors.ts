/** What the registry's server answers when a request fails: the error as an HTTP answer. */
import { isInvalid, KubeApiError } from "../kube/errors.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { ReviewUnavailableError } from "./auth.js";
import { HttpError } from "./http.js";

export function unauthorized(message: string): HttpError {
  return new HttpError(401, `unauthorized: ${message}`, undefined, {
    "WWW-Authenticate": 'Bearer realm="berth"',
  });
}

/** The answer for an error: its own status, 503 when access cannot be checked, 400 when the API server refused a write, else 500 (logged). */
export function httpErrorOf(err: unknown, log: Logger): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ReviewUnavailableError) {
    log.warn("an access review failed", errorFields(err));
    return new HttpError(503, `cannot check access right now: ${err.message}`, undefined, {
      "Retry-After": "2",
    });
  }
  if (err instanceof KubeApiError && isInvalid(err)) {
    const field = err.status?.details?.causes?.[0]?.field;
    return new HttpError(
      400,
      `the API server refused the instance: ${err.status?.message ?? err.message}`,
      field,
    );
  }
  log.error("registry request failed", errorFields(err));
  return new HttpError(500, "internal error; see the registry's log");
}
