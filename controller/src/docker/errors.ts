/**
 * Errors from the Docker engine, sorted into kinds a person (or a reconciler) can act on.
 * Each carries `reason`, a CamelCase word fit for an Instance condition, and `operation`,
 * the engine operation that failed. The engine's own message is kept in `engineMessage`.
 */

export type DockerOperation =
  | "ping"
  | "version"
  | "info"
  | "inspect_image"
  | "list_images"
  | "remove_image"
  | "inspect_distribution"
  | "pull_image"
  | "build_image"
  | "create_container"
  | "start_container"
  | "inspect_container"
  | "stop_container"
  | "remove_container"
  | "list_containers"
  | "container_logs"
  | "exec"
  | "events";

export const DOCKER_ERROR_REASONS = [
  "ImageNotFound",
  "RegistryUnauthorized",
  "RegistryUnreachable",
  "ImagePullFailed",
  "BuildFailed",
  "HostPortInUse",
  "ContainerNotFound",
  "ContainerNameInUse",
  "InvalidContainerSpec",
  "InvalidImageName",
  "CommandNotFound",
  "CommandNotExecutable",
  "EngineUnreachable",
  "DockerTimeout",
  "DockerError",
] as const;
export type DockerErrorReason = (typeof DOCKER_ERROR_REASONS)[number];

export class DockerError extends Error {
  constructor(
    readonly reason: DockerErrorReason,
    readonly operation: DockerOperation,
    message: string,
    /** What the engine (or the connection) said, unedited. */
    readonly engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The image is not in the engine (create) or not in the registry (pull). */
export class ImageNotFoundError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly image: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      "ImageNotFound",
      operation,
      `image ${image} not found: ${engineMessage}. Check the image name and tag, and that the registry has it.`,
      engineMessage,
      options,
    );
  }
}

/** The registry refused the credentials, or wanted some and got none. */
export class RegistryAuthError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly image: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      "RegistryUnauthorized",
      operation,
      `registry refused access to ${image}: ${engineMessage}. Check the pull secret's credentials.`,
      engineMessage,
      options,
    );
  }
}

/** The engine could not reach the registry at all. */
export class RegistryUnreachableError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly image: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      "RegistryUnreachable",
      operation,
      `registry for ${image} is unreachable from the Docker engine: ${engineMessage}`,
      engineMessage,
      options,
    );
  }
}

/** A pull failed for a reason not covered by the kinds above. */
export class ImagePullError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly image: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super("ImagePullFailed", operation, `pulling ${image} failed: ${engineMessage}`, engineMessage, options);
  }
}

/** A build step failed. `step` is the failing step ("Step 3/5 : RUN make") when known. */
export class BuildFailedError extends DockerError {
  constructor(
    engineMessage: string,
    readonly step: string | undefined,
    /** The last lines of build output, for the Instance message and logs. */
    readonly lastLines: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      "BuildFailed",
      "build_image",
      step ? `image build failed at "${step}": ${engineMessage}` : `image build failed: ${engineMessage}`,
      engineMessage,
      options,
    );
  }
}

/** The fixed host port is taken, by another container or by a process on the host. */
export class PortInUseError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly hostPort: number | undefined,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      "HostPortInUse",
      operation,
      `host port ${hostPort ?? "(unknown)"} is already in use on this node: ${engineMessage}`,
      engineMessage,
      options,
    );
  }
}

export class ContainerNotFoundError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly container: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super("ContainerNotFound", operation, `container ${container} not found`, engineMessage, options);
  }
}

/** A container with the requested name exists already. */
export class ContainerNameInUseError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly containerName: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      "ContainerNameInUse",
      operation,
      `container name ${containerName} is already in use`,
      engineMessage,
      options,
    );
  }
}

/** The engine rejected the container's settings (for example a memory limit below its minimum). */
export class InvalidContainerSpecError extends DockerError {
  constructor(operation: DockerOperation, engineMessage: string, options?: { cause?: unknown }) {
    super(
      "InvalidContainerSpec",
      operation,
      `the Docker engine rejected the container settings: ${engineMessage}`,
      engineMessage,
      options,
    );
  }
}

/**
 * An image reference outside the distribution grammar: refused before any call, because
 * the reference becomes part of an engine API path.
 */
export class InvalidImageNameError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly image: string,
    problem: string,
  ) {
    super("InvalidImageName", operation, `image ${JSON.stringify(image)} is refused: ${problem}`, problem);
  }
}

/**
 * The engine could not run the container's command (a container without an init: with one,
 * the init reports this itself and exits 127 or 126, which the agent reads from the exit).
 */
export class CommandNotRunnableError extends DockerError {
  constructor(
    reason: "CommandNotFound" | "CommandNotExecutable",
    operation: DockerOperation,
    readonly command: string | undefined,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    const what = command ? `command ${command}` : "the container's command";
    super(
      reason,
      operation,
      reason === "CommandNotFound"
        ? `${what} does not exist in the image: ${engineMessage}`
        : `${what} is not executable: ${engineMessage}`,
      engineMessage,
      options,
    );
  }
}

export class EngineUnreachableError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly engineUrl: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      "EngineUnreachable",
      operation,
      `Docker engine at ${engineUrl} is unreachable: ${engineMessage}`,
      engineMessage,
      options,
    );
  }
}

/**
 * TLS with a network engine failed: the engine refused the agent's client certificate
 * (none, or one its CA did not sign), or the engine's certificate did not verify against
 * the agent's CA. The engine is as unusable as an unreachable one, so the reason is the same.
 */
export class EngineTlsError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly engineUrl: string,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      "EngineUnreachable",
      operation,
      `TLS with the Docker engine at ${engineUrl} failed: ${engineMessage}. Check the agent's ` +
        `--docker-tls-ca (the CA of the engine's certificate) and --docker-tls-cert/--docker-tls-key ` +
        `(a client certificate signed by the engine's --tlscacert)`,
      engineMessage,
      options,
    );
  }
}

export class DockerTimeoutError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly engineUrl: string,
    readonly timeoutMs: number,
  ) {
    const message = `no answer within ${timeoutMs} ms`;
    super("DockerTimeout", operation, `Docker engine at ${engineUrl}: ${operation} gave ${message}`, message);
  }
}

/** Anything else the engine refused. */
export class DockerApiError extends DockerError {
  constructor(
    operation: DockerOperation,
    readonly statusCode: number | undefined,
    engineMessage: string,
    options?: { cause?: unknown },
  ) {
    super("DockerError", operation, `Docker ${operation} failed: ${engineMessage}`, engineMessage, options);
  }
}

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
