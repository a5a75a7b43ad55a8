/**
 * Turns an Instance (its resolved run template) into the Docker create request the agent
 * sends, and resolves the environment it runs with. Pure: Secrets, ConfigMaps and
 * Definitions come in through a lookup so this file does no I/O.
 *
 * Secret values only ever land in the container's environment: never in labels, log
 * fields, status, events or error messages (errors name the object and key, not the value).
 */
import type {
  Definition,
  EnvVar,
  ImageSource,
  Instance,
  RepositorySource,
  RunTemplate,
} from "../api/types.js";
import { LABELS } from "../api/types.js";
import type { ContainerSpec, PortSpec } from "../docker/spec.js";
import { MANAGED_BY_VALUE } from "../docker/spec.js";

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

/** Where published ports are bound and what the Instance's address says. */
export interface NodeAddressing {
  nodeName: string;
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

/** The container port the health check talks to: its own port, else the service port. */
export function healthPortOf(template: RunTemplate, servicePort: number): number {
  return template.healthCheck?.port ?? servicePort;
}

/** The labels that identify the container as this Instance's; selecting on them finds it. */
export function instanceLabels(instance: Instance, nodeName: string): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY_VALUE,
    [LABELS.node]: nodeName,
    [LABELS.namespace]: instance.metadata.namespace ?? "",
    [LABELS.instance]: instance.metadata.name ?? "",
    [LABELS.definition]: instance.spec.definition,
    [LABELS.deploymentId]: instance.spec.deploymentId ?? "",
  };
}

/** The labels that find this Instance's containers on this node. */
export function instanceSelector(namespace: string, name: string, nodeName: string): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY_VALUE,
    [LABELS.node]: nodeName,
    [LABELS.namespace]: namespace,
    [LABELS.instance]: name,
  };
}

/** The labels that find every Berth container of this node. */
export function nodeSelector(nodeName: string): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY_VALUE, [LABELS.node]: nodeName };
}

/**
 * The container name: readable in `docker ps`, and unique per Instance so two creates for
 * the same Instance can't both succeed. It is never used to find a container.
 */
export function containerName(instance: Instance, nodeName: string): string {
  const raw = `berth_${nodeName}_${instance.metadata.namespace ?? ""}_${instance.metadata.name ?? ""}`;
  return raw.replace(/[^a-zA-Z0-9_.-]/g, "-");
}

const MEMORY_UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A memory quantity ("64Mi", "1G", "1048576") in bytes. */
export function parseMemoryQuantity(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text);
  if (!match)
    throw new ContainerConfigError("InvalidResources", `resources.memory "${text}" is not a quantity`);
  return Math.round(Number(match[1]) * MEMORY_UNITS[match[2] ?? ""]!);
}

/** A CPU quantity ("500m", "1.5") in Docker's NanoCpus (1e9 per core). */
export function parseCpuQuantity(text: string): number {
  const milli = /^([0-9]+)m$/.exec(text);
  if (milli) return Number(milli[1]) * 1e6;
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return Math.round(Number(text) * 1e9);
  throw new ContainerConfigError("InvalidResources", `resources.cpus "${text}" is not a quantity`);
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
  stopTimeoutSeconds?: number;
}

/**
 * The container for an Instance: Berth's labels, the service port published on
 * <bind address>:<hostPort> (no hostPort lets Docker choose a free one, read back after
 * start), a separately published health port when the check uses another port, limits,
 * and no Docker restart policy: the agent recreates exited containers itself so it can
 * count restarts, back off crash loops and report them.
 */
export function buildContainerSpec(input: BuildSpecInput): ContainerSpec {
  const { instance, node } = input;
  const template = templateOf(instance);
  const { image } = input;
  const service: PortSpec = { containerPort: image.port, protocol: "tcp", hostIp: node.bindAddress };
  if (instance.spec.hostPort) service.hostPort = instance.spec.hostPort;
  const ports = [service];
  const healthPort = healthPortOf(template, image.port);
  if (healthPort !== image.port && template.healthCheck?.type !== "exec") {
    ports.push({ containerPort: healthPort, protocol: "tcp", hostIp: node.bindAddress });
  }
  const spec: ContainerSpec = {
    name: containerName(instance, node.nodeName),
    image: image.name,
    labels: {
      ...instanceLabels(instance, node.nodeName),
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
  if (template.resources?.memory) spec.memoryBytes = parseMemoryQuantity(template.resources.memory);
  if (template.resources?.cpus) spec.nanoCpus = parseCpuQuantity(template.resources.cpus);
  return spec;
}

// ---------------------------------------------------------------- environment

/** Reads the objects an environment refers to, all in the Instance's namespace. */
export interface EnvSources {
  /** A Secret's data, base64-decoded; undefined when the Secret does not exist. */
  secret(name: string): Promise<Record<string, string> | undefined>;
  /** A ConfigMap's data; undefined when the ConfigMap does not exist. */
  configMap(name: string): Promise<Record<string, string> | undefined>;
  /** A Definition; undefined when it does not exist. */
  definition(name: string): Promise<Definition | undefined>;
}

/** The environment variable names a dependency's addresses are offered under. */
export function dependencyEnvNames(slug: string): { url: string; urls: string } {
  const base = `BERTH_DEP_${slug.toUpperCase().replace(/-/g, "_")}`;
  return { url: `${base}_URL`, urls: `${base}_URLS` };
}

/**
 * The container's environment in precedence order (later wins): dependency addresses,
 * then envFrom, then env — as in Kubernetes, an explicit env entry beats envFrom.
 */
export async function resolveEnv(instance: Instance, sources: EnvSources): Promise<Array<[string, string]>> {
  const result: Array<[string, string]> = [];
  result.push(...(await dependencyEnv(instance, sources)));
  const template = templateOf(instance);
  for (const from of template.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const kind = from.secretRef ? "Secret" : "ConfigMap";
    const data = from.secretRef ? await sources.secret(ref.name) : await sources.configMap(ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(
        "CreateContainerConfigError",
        `envFrom: ${kind} "${ref.name}" not found; create it or mark the reference optional`,
      );
    }
    for (const key of Object.keys(data).sort()) {
      const name = `${from.prefix ?? ""}${key}`;
      // Kubernetes skips keys that are not valid variable names; so does Berth.
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) result.push([name, data[key]!]);
    }
  }
  for (const variable of template.env ?? []) {
    const value = await envValue(variable, sources);
    if (value !== undefined) result.push([variable.name, value]);
  }
  return result;
}

async function envValue(variable: EnvVar, sources: EnvSources): Promise<string | undefined> {
  if (!variable.valueFrom) return variable.value ?? "";
  const selector = variable.valueFrom.secretKeyRef ?? variable.valueFrom.configMapKeyRef;
  if (!selector) return variable.value ?? "";
  const kind = variable.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
  const data = variable.valueFrom.secretKeyRef
    ? await sources.secret(selector.name)
    : await sources.configMap(selector.name);
  const value = data?.[selector.key];
  if (value !== undefined) return value;
  if (selector.optional) return undefined;
  const what = data ? `has no key "${selector.key}"` : "not found";
  throw new ContainerConfigError(
    "CreateContainerConfigError",
    `env ${variable.name}: ${kind} "${selector.name}" ${what}; create it or mark the reference optional`,
  );
}

async function dependencyEnv(instance: Instance, sources: EnvSources): Promise<Array<[string, string]>> {
  // Without its Definition (being deleted, say) an Instance has no dependencies to offer;
  // the controller gates start-up on them, so nothing is lost by running without.
  const own = await sources.definition(instance.spec.definition);
  const result: Array<[string, string]> = [];
  for (const slug of own?.spec.dependsOn ?? []) {
    const dependency = await sources.definition(slug);
    const addresses = dependency?.status?.addresses ?? [];
    if (addresses.length === 0) {
      throw new ContainerConfigError(
        "DependencyNotReady",
        `dependency "${slug}" has no ready Instance yet; waiting for it before starting`,
      );
    }
    const names = dependencyEnvNames(slug);
    result.push([names.url, addresses[0]!], [names.urls, addresses.join(",")]);
  }
  return result;
}

/** Decodes a Secret's base64 data (and merges stringData, which a server never returns but a fake may). */
export function decodeSecretData(
  data: Record<string, string> | undefined,
  stringData?: Record<string, string>,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(data ?? {}))
    result[key] = Buffer.from(value, "base64").toString("utf8");
  return { ...result, ...(stringData ?? {}) };
}
