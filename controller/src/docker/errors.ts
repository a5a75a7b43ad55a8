/**
 * Errors from the Docker engine, sorted into kinds a person (or a reconciler) can act on.
 * Each carries `reason`, a CamelCase word fit for an Instance condition, and `operation`,
 * the engine operation that failed. The engine's own message is kept in `engineMessage`.
 * error-classification.ts sorts what a Docker call threw into these kinds.
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

type ErrorOptions = { cause?: unknown };

export class DockerError extends Error {
  constructor(
    readonly reason: DockerErrorReason,
    readonly operation: DockerOperation,
    message: string,
    /** What the engine (or the connection) said, unedited. */
    readonly engineMessage: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The kinds about one image, each told apart by its reason and how it says what happened
 * (`describe`, from the image and the engine's own words).
 */
function imageErrorKind(
  reason: DockerErrorReason,
  describe: (image: string, engineMessage: string) => string,
) {
  return class extends DockerError {
    constructor(
      operation: DockerOperation,
      readonly image: string,
      engineMessage: string,
      options?: ErrorOptions,
    ) {
      super(reason, operation, describe(image, engineMessage), engineMessage, options);
    }
  };
}

/** The image is not in the engine (create) or not in the registry (pull). */
export class ImageNotFoundError extends imageErrorKind(
  "ImageNotFound",
  (image, said) =>
    `image ${image} not found: ${said}. Check the image name and tag, and that the registry has it.`,
) {}

/** The registry refused the credentials, or wanted some and got none. */
export class RegistryAuthError extends imageErrorKind(
  "RegistryUnauthorized",
  (image, said) => `registry refused access to ${image}: ${said}. Check the pull secret's credentials.`,
) {}

/** The engine could not reach the registry at all. */
export class RegistryUnreachableError extends imageErrorKind(
  "RegistryUnreachable",
  (image, said) => `registry for ${image} is unreachable from the Docker engine: ${said}`,
) {}

/** A pull failed for a reason not covered by the kinds above. */
export class ImagePullError extends imageErrorKind(
  "ImagePullFailed",
  (image, said) => `pulling ${image} failed: ${said}`,
) {}

/** A build step failed. `step` is the failing step ("Step 3/5 : RUN make") when known. */
export class BuildFailedError extends DockerError {
  constructor(
    engineMessage: string,
    readonly step: string | undefined,
    /** The last lines of build output, for the Instance message and logs. */
    readonly lastLines: readonly string[],
    options?: ErrorOptions,
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
    options?: ErrorOptions,
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
    options?: ErrorOptions,
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
    options?: ErrorOptions,
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
  constructor(operation: DockerOperation, engineMessage: string, options?: ErrorOptions) {
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
    options?: ErrorOptions,
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

/** The kinds that make the engine at `engineUrl` unusable: the agent cannot talk to it. */
function engineErrorKind(describe: (engineUrl: string, engineMessage: string) => string) {
  return class extends DockerError {
    constructor(
      operation: DockerOperation,
      readonly engineUrl: string,
      engineMessage: string,
      options?: ErrorOptions,
    ) {
      super("EngineUnreachable", operation, describe(engineUrl, engineMessage), engineMessage, options);
    }
  };
}

export class EngineUnreachableError extends engineErrorKind(
  (engineUrl, said) => `Docker engine at ${engineUrl} is unreachable: ${said}`,
) {}

/**
 * TLS with a network engine failed: the engine refused the agent's client certificate
 * (none, or one its CA did not sign), or the engine's certificate did not verify against
 * the agent's CA. The engine is as unusable as an unreachable one, so the reason is the same.
 */
export class EngineTlsError extends engineErrorKind(
  (engineUrl, said) =>
    `TLS with the Docker engine at ${engineUrl} failed: ${said}. Check the agent's ` +
    `--docker-tls-ca (the CA of the engine's certificate) and --docker-tls-cert/--docker-tls-key ` +
    `(a client certificate signed by the engine's --tlscacert)`,
) {}

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
    options?: ErrorOptions,
  ) {
    super("DockerError", operation, `Docker ${operation} failed: ${engineMessage}`, engineMessage, options);
  }
}
