/**
 * Turns an Instance (its resolved run template) into the Docker create request the agent
 * sends. Pure: the environment comes in resolved (see ../environment), so this file does
 * no I/O.
 *
 * Secret values only ever land in the container's environment: never in labels, log
 * fields, status, events or error messages (errors name the object and key, not the value).
 */
import type { HealthCheck, ImageSource, Instance, RepositorySource, RunTemplate } from "../api/types.js";
import { FIRST_UNPRIVILEGED_PORT, LABELS } from "../api/vocabulary.js";
import { cpuNanos, memoryBytes } from "../api/quantity.js";
import type { ContainerSpec, PortSpec } from "../docker/types.js";
import { MANAGED_BY_VALUE } from "../docker/types.js";

/** Label on a Berth container: the Instance's restart count when the container was created. */
export const RESTARTS_LABEL = "berth.dev/restarts";
/**
 * Label on a Berth container: the container port the service listens on. An image
 * template names it; an image built from a repository decides it (its EXPOSE), so the
 * running container is where the agent reads it back.
 */
export const SERVICE_PORT_LABEL = "berth.dev/service-port";

/** How long `docker stop` waits for the process to exit before it kills it. */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

/** This node as its containers see it: their labels, where ports are bound, what addresses say. */
export interface NodeAddressing {
  nodeName: string;
  /** The installation the agent belongs to: labelled on every container (see installation.ts). */
  installation: string;
  /** Host name or IP clients use: goes into Instance.status.address. */
  address: string;
  /** IP Docker binds published ports to ("0.0.0.0" for every interface). */
  bindAddress: string;
}

/** A container-level problem with the Instance's spec or the objects it names. */
export class ContainerConfigError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "ContainerConfigError";
  }
}

/** Where a template's image comes from: a registry (or the engine), or a build from source. */
export type RunSource =
  { kind: "image"; image: ImageSource } | { kind: "repository"; repository: RepositorySource };

/** The image to run and the container port the service listens on in it. */
export interface ResolvedImage {
  name: string;
  port: number;
}

/**
 * The Instance's run template. Only a Berth-run Instance has one, and the API refuses an
 * external Instance bound to a Node, so an agent never meets one; a config error if it did.
 */
export function templateOf(instance: Instance): RunTemplate {
  if (instance.spec.template) return instance.spec.template;
  throw new ContainerConfigError(
    "InvalidTemplate",
    "the Instance has no spec.template (an external Instance is not run by an agent)",
  );
}

/** The template's source, or a config error for a template that names none. */
export function runSourceOf(template: RunTemplate): RunSource {
  if (template.image) return { kind: "image", image: template.image };
  if (template.repository) return { kind: "repository", repository: template.repository };
  throw new ContainerConfigError("InvalidTemplate", "the run template has neither image nor repository");
}

/**
 * The service port of an Instance's container: the template's image port, else the port
 * the agent recorded on the container when it created it from a built image.
 */
export function servicePortOf(
  template: RunTemplate,
  containerLabels: Record<string, string>,
): number | undefined {
  if (template.image) return template.image.port;
  const recorded = Number(containerLabels[SERVICE_PORT_LABEL]);
  return Number.isInteger(recorded) && recorded > 0 && recorded <= 65535 ? recorded : undefined;
}

/**
 * The container port a check talks to (the health check unless another is given, such as
 * the liveness check): its own port, else the service port.
 */
export function healthPortOf(
  template: RunTemplate,
  servicePort: number,
  check: HealthCheck | undefined = template.healthCheck,
): number {
  return check?.port ?? servicePort;
}

/** The labels that identify the container as this Instance's; selecting on them finds it. */
export function instanceLabels(instance: Instance, node: NodeAddressing): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY_VALUE,
    [LABELS.installation]: node.installation,
    [LABELS.node]: node.nodeName,
    [LABELS.namespace]: instance.metadata.namespace ?? "",
    [LABELS.instance]: instance.metadata.name ?? "",
    [LABELS.definition]: instance.spec.definition,
    [LABELS.deploymentId]: instance.spec.deploymentId ?? "",
  };
}

/**
 * The labels that find this Instance's containers on this node, of any installation: the
 * caller keeps its own and the unclaimed ones (see installation.ts), which a label filter
 * cannot express.
 */
export function instanceSelector(namespace: string, name: string, nodeName: string): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY_VALUE,
    [LABELS.node]: nodeName,
    [LABELS.namespace]: namespace,
    [LABELS.instance]: name,
  };
}

/** The labels that find every Berth container of this node, of any installation (see instanceSelector). */
export function nodeSelector(nodeName: string): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY_VALUE, [LABELS.node]: nodeName };
}

/**
 * The container name: readable in `docker ps`, and unique per Instance so two creates for
 * the same Instance can't both succeed. It is never used to find a container. The
 * installation's first characters keep two installations' Instances of the same name on
 * one engine from taking each other's name.
 */
export function containerName(instance: Instance, node: NodeAddressing): string {
  const { nodeName, installation } = node;
  const raw = `berth_${installation.slice(0, 8)}_${nodeName}_${instance.metadata.namespace ?? ""}_${instance.metadata.name ?? ""}`;
  return raw.replace(/[^a-zA-Z0-9_.-]/g, "-");
}

/** The Docker engine refuses a memory limit below 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 ** 2;
/**
 * 10m: the engine turns NanoCpus into a CFS quota per 100 ms period, and the kernel's
 * smallest quota is 1 ms; less would fail at start (or, rounded to 0, mean no limit).
 */
export const MIN_NANO_CPUS = 10_000_000;

/**
 * A memory quantity ("64Mi", "1G", "1048576") in bytes, an exact integer: a number beyond
 * 2^53 would reach the engine as another number.
 */
export function parseMemoryQuantity(text: string): number {
  const bytes = memoryBytes(text);
  if (bytes === undefined)
    throw new ContainerConfigError("InvalidResources", `resources.memory "${text}" is not a quantity`);
  if (!Number.isSafeInteger(bytes))
    throw new ContainerConfigError(
      "InvalidResources",
      `resources.memory "${text}" is too large: the limit must be less than 8Pi`,
    );
  return bytes;
}

/** A container's memory limit in bytes: a quantity the engine accepts. */
export function memoryLimitBytes(text: string): number {
  const bytes = parseMemoryQuantity(text);
  if (bytes < MIN_MEMORY_BYTES)
    throw new ContainerConfigError(
      "InvalidResources",
      `resources.memory "${text}" is less than 6Mi, the Docker engine's minimum`,
    );
  return bytes;
}

/** A CPU quantity ("500m", "1.5") in Docker's NanoCpus (1e9 per core), an exact integer. */
export function parseCpuQuantity(text: string): number {
  const nanoCpus = cpuNanos(text);
  if (nanoCpus === undefined)
    throw new ContainerConfigError("InvalidResources", `resources.cpus "${text}" is not a quantity`);
  if (!Number.isSafeInteger(nanoCpus))
    throw new ContainerConfigError(
      "InvalidResources",
      `resources.cpus "${text}" is too large: the limit must be less than 1M CPUs`,
    );
  return nanoCpus;
}

/** A container's CPU limit in NanoCpus: a quantity the engine can apply (not rounded to none). */
export function cpuLimitNanos(text: string): number {
  const nanoCpus = parseCpuQuantity(text);
  if (nanoCpus < MIN_NANO_CPUS)
    throw new ContainerConfigError(
      "InvalidResources",
      `resources.cpus "${text}" is less than 10m (0.01 CPU), the finest limit the Docker engine sets`,
    );
  return nanoCpus;
}

/**
 * Refuses a template's resources before any work is done for it (a pull or build can take
 * minutes): an Instance the engine could never run fails at once, for good, saying why.
 */
export function checkResources(template: RunTemplate): void {
  if (template.resources?.memory !== undefined) memoryLimitBytes(template.resources.memory);
  if (template.resources?.cpus !== undefined) cpuLimitNanos(template.resources.cpus);
}

export interface BuildSpecInput {
  instance: Instance;
  /** The image to run: the template's, or the one built from its repository. */
  image: ResolvedImage;
  node: NodeAddressing;
  /** The resolved environment (see resolveEnv), in order; a later entry for a name wins. */
  env: Array<[string, string]>;
  /** The Instance's restart count this container starts with. */
  restarts: number;
  /** Whether this node's spec.allowPrivilegedPorts lets a hostPort below 1024 be published. */
  privilegedPortsAllowed?: boolean;
  stopTimeoutSeconds?: number;
}

/** Whether a check's own port (the health check's unless another is given) is published on the node (only when asked). */
export function healthPortPublished(
  template: RunTemplate,
  servicePort: number,
  check: HealthCheck | undefined = template.healthCheck,
): boolean {
  return (
    check?.type !== "exec" &&
    check?.publishPort === true &&
    healthPortOf(template, servicePort, check) !== servicePort
  );
}

/**
 * The container for an Instance: Berth's labels, the service port published on
 * <bind address>:<hostPort> (no hostPort lets Docker choose a free one, read back after
 * start), the health check's own port only when it asks to be published (else the agent
 * checks it at the container's address), limits, and no Docker restart policy: the agent
 * recreates exited containers itself so it can count restarts, back off crash loops and
 * report them. A hostPort below 1024 needs the node's permission.
 */
export function buildContainerSpec(input: BuildSpecInput): ContainerSpec {
  const { instance, node } = input;
  const template = templateOf(instance);
  const { image } = input;
  const { hostPort } = instance.spec;
  if (hostPort !== undefined && hostPort < FIRST_UNPRIVILEGED_PORT && input.privilegedPortsAllowed !== true) {
    throw new ContainerConfigError(
      "PrivilegedPortNotAllowed",
      `hostPort ${hostPort} is below ${FIRST_UNPRIVILEGED_PORT} and Node ${node.nodeName} does not allow privileged ports: ` +
        "an admin sets spec.allowPrivilegedPorts on the Node, or choose a hostPort of 1024 or more",
    );
  }
  const service: PortSpec = { containerPort: image.port, protocol: "tcp", hostIp: node.bindAddress };
  if (hostPort) service.hostPort = hostPort;
  const ports = [service];
  for (const check of [template.healthCheck, template.livenessCheck]) {
    const containerPort = healthPortOf(template, image.port, check);
    if (!healthPortPublished(template, image.port, check)) continue;
    if (ports.some((port) => port.containerPort === containerPort)) continue;
    ports.push({ containerPort, protocol: "tcp", hostIp: node.bindAddress });
  }
  const spec: ContainerSpec = {
    name: containerName(instance, node),
    image: image.name,
    labels: {
      ...instanceLabels(instance, node),
      [RESTARTS_LABEL]: String(input.restarts),
      [SERVICE_PORT_LABEL]: String(image.port),
    },
    env: Object.fromEntries(input.env),
    ports,
    restartPolicy: { name: "no" },
    stopTimeoutSeconds: input.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS,
  };
  if (template.command) spec.command = [...template.command];
  if (template.args) spec.args = [...template.args];
  if (template.resources?.memory) spec.memoryBytes = memoryLimitBytes(template.resources.memory);
  if (template.resources?.cpus) spec.nanoCpus = cpuLimitNanos(template.resources.cpus);
  return spec;
}
