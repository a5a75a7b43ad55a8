/**
 * Sorting what a Docker call threw (a dockerode error, a system error of the connection, a
 * pull stream's message) into the error kinds of errors.ts, by the engine's status code and
 * words. Pure: it reads the error and the call it came from.
 */
import type { DockerOperation } from "./errors.js";
import {
  BuildFailedError,
  CommandNotRunnableError,
  ContainerNameInUseError,
  ContainerNotFoundError,
  DockerApiError,
  DockerError,
  EngineTlsError,
  EngineUnreachableError,
  ImageNotFoundError,
  ImagePullError,
  InvalidContainerSpecError,
  PortInUseError,
  RegistryAuthError,
  RegistryUnreachableError,
} from "./errors.js";

/** What the failing call was about, to name it in the error. */
export interface ErrorContext {
  operation: DockerOperation;
  engineUrl: string;
  image?: string;
  container?: string;
  hostPort?: number;
}

/** OpenSSL's certificate verification failures, as Node reports them in `code`. */
const CERTIFICATE_ERROR_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
]);

/** A failed TLS handshake: a certificate that did not verify, or an alert from the other side. */
function isTlsFailure(code: string): boolean {
  return CERTIFICATE_ERROR_CODES.has(code) || /^ERR_(SSL|TLS)_/.test(code) || code === "EPROTO";
}

const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "EACCES",
  "ECONNRESET",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNABORTED",
  "ERR_SOCKET_CLOSED",
]);

/**
 * The engine's own words: the JSON message of an API error, or the text after
 * dockerode's "(HTTP code 500) server error - " prefix.
 */
export function engineMessageOf(err: unknown): string {
  if (typeof err === "string") return err.trim();
  if (!(err instanceof Error)) return String(err);
  const json = (err as { json?: unknown }).json;
  if (json && typeof json === "object" && "message" in json && typeof json.message === "string") {
    return json.message.trim();
  }
  return err.message.replace(/^\(HTTP code \d+\)[^-]*- /, "").trim();
}

function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

function systemCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

const IMAGE_MISSING = [
  /manifest unknown/i,
  /manifest for .* not found/i,
  /repository .* not found/i,
  /name unknown/i,
  /pull access denied/i,
  /no such image/i,
  /not found: does not exist/i,
];
const REGISTRY_AUTH = [/unauthorized/i, /authentication required/i, /no basic auth credentials/i, /denied/i];
const REGISTRY_UNREACHABLE = [
  /connection refused/i,
  /no such host/i,
  /i\/o timeout/i,
  /network is unreachable/i,
  /TLS handshake/i,
  /server gave HTTP response to HTTPS client/i,
  /x509:/i,
  /context deadline exceeded/i,
  /dial tcp/i,
];
const PORT_IN_USE = [/port is already allocated/i, /address already in use/i];
/** runc's words for a command it could not exec: `exec: "/app": stat /app: no such file or directory`. */
const EXEC_FAILED =
  /exec: "([^"]*)": (.*(?:no such file or directory|executable file not found|permission denied))/i;

/**
 * Sorts any error from a Docker call into one of the kinds above. Errors from pull
 * streams arrive as plain strings; give them with `operation: "pull_image"`.
 */
export function classifyDockerError(err: unknown, context: ErrorContext): DockerError {
  if (err instanceof DockerError) return err;
  const { operation, engineUrl } = context;
  const message = engineMessageOf(err);
  const cause = { cause: err };
  const systemCode = systemCodeOf(err);
  if (systemCode && isTlsFailure(systemCode)) return new EngineTlsError(operation, engineUrl, message, cause);
  if (systemCode && CONNECTION_ERROR_CODES.has(systemCode)) {
    return new EngineUnreachableError(operation, engineUrl, message, cause);
  }
  const status = statusCodeOf(err);
  const image = context.image ?? "(unknown image)";

  // Asking the registry about an image fails the ways a pull does.
  if (operation === "pull_image" || operation === "inspect_distribution") {
    if (IMAGE_MISSING.some((re) => re.test(message)))
      return new ImageNotFoundError(operation, image, message, cause);
    if (REGISTRY_AUTH.some((re) => re.test(message)))
      return new RegistryAuthError(operation, image, message, cause);
    if (REGISTRY_UNREACHABLE.some((re) => re.test(message))) {
      return new RegistryUnreachableError(operation, image, message, cause);
    }
    return new ImagePullError(operation, image, message, cause);
  }
  if (PORT_IN_USE.some((re) => re.test(message))) {
    return new PortInUseError(operation, context.hostPort ?? hostPortIn(message), message, cause);
  }
  if (status === 404 && /no such image/i.test(message))
    return new ImageNotFoundError(operation, image, message, cause);
  if (status === 404 && /no such container/i.test(message)) {
    return new ContainerNotFoundError(operation, context.container ?? "(unknown container)", message, cause);
  }
  if (status === 409 && /removal of container .* is already in progress/i.test(message)) {
    // Someone else is removing it: for whoever wanted it gone, or asked about it, it is gone.
    return new ContainerNotFoundError(operation, context.container ?? "(unknown container)", message, cause);
  }
  if (status === 409 && /already in use/i.test(message)) {
    return new ContainerNameInUseError(operation, context.container ?? "(unknown name)", message, cause);
  }
  if (operation === "build_image" && status !== undefined)
    return new BuildFailedError(message, undefined, [], cause);
  if (operation === "start_container" && status !== undefined) {
    const exec = EXEC_FAILED.exec(message);
    if (exec) {
      const reason = /permission denied/i.test(exec[2] ?? "") ? "CommandNotExecutable" : "CommandNotFound";
      return new CommandNotRunnableError(reason, operation, exec[1], message, cause);
    }
  }
  if (status === 400 && (operation === "create_container" || operation === "start_container")) {
    return new InvalidContainerSpecError(operation, message, cause);
  }
  return new DockerApiError(operation, status, message, cause);
}

/** The port in "Bind for 127.0.0.1:8080 failed" or "listen tcp4 0.0.0.0:8080: bind". */
export function hostPortIn(message: string): number | undefined {
  const match = /(?:Bind for|listen tcp[46]?) \S*:(\d+)/.exec(message);
  return match?.[1] ? Number(match[1]) : undefined;
}
