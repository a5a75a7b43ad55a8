/** The pure mapping between Berth's container and image shapes (types.ts) and the engine API's. */
import type Docker from "dockerode";
import { LABELS } from "../api/vocabulary.js";
import {
  MANAGED_BY_VALUE,
  type ContainerInfo,
  type ContainerSpec,
  type ContainerSummary,
  type ImageInfo,
  type ImageSummary,
  type PortProtocol,
  type PublishedPort,
  type RestartPolicy,
} from "./types.js";

const RESTART_POLICY_NAMES = new Set<RestartPolicy["name"]>(["no", "always", "unless-stopped", "on-failure"]);

function portKey(containerPort: number, protocol: PortProtocol = "tcp"): string {
  return `${containerPort}/${protocol}`;
}

/** The engine's create options for a spec. Throws on values the engine would reject less clearly. */
export function toCreateOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  if (!spec.image) throw new Error("container spec: image is required");
  const exposedPorts: Record<string, Record<string, never>> = {};
  const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const port of spec.ports ?? []) {
    checkPort("containerPort", port.containerPort);
    if (port.hostPort) checkPort("hostPort", port.hostPort);
    const key = portKey(port.containerPort, port.protocol);
    exposedPorts[key] = {};
    const bindings = portBindings[key] ?? [];
    // An empty HostPort is how the API asks the engine to choose one.
    bindings.push({ HostIp: port.hostIp ?? "", HostPort: port.hostPort ? String(port.hostPort) : "" });
    portBindings[key] = bindings;
  }
  const hostConfig: Docker.HostConfig = {
    PortBindings: portBindings,
    Init: spec.init ?? true,
    RestartPolicy: toRestartPolicy(spec.restartPolicy),
  };
  if (spec.memoryBytes !== undefined) {
    checkPositiveInteger("memoryBytes", spec.memoryBytes);
    hostConfig.Memory = spec.memoryBytes;
    // The same value for memory+swap means no swap on top of the limit, as Kubernetes does.
    hostConfig.MemorySwap = spec.memoryBytes;
  }
  if (spec.nanoCpus !== undefined) {
    checkPositiveInteger("nanoCpus", spec.nanoCpus);
    hostConfig.NanoCpus = spec.nanoCpus;
  }
  const options: Docker.ContainerCreateOptions = {
    Image: spec.image,
    Labels: { ...spec.labels, [LABELS.managedBy]: MANAGED_BY_VALUE },
    Env: Object.entries(spec.env ?? {}).map(([name, value]) => `${name}=${value}`),
    ExposedPorts: exposedPorts,
    HostConfig: hostConfig,
  };
  if (spec.name) options.name = spec.name;
  if (spec.command) options.Entrypoint = spec.command;
  if (spec.args) options.Cmd = spec.args;
  if (spec.stopTimeoutSeconds !== undefined) options.StopTimeout = spec.stopTimeoutSeconds;
  return options;
}

function toRestartPolicy(policy: RestartPolicy | undefined): Docker.HostRestartPolicy {
  if (!policy) return { Name: "no" };
  if (policy.name === "on-failure" && policy.maximumRetryCount !== undefined) {
    return { Name: policy.name, MaximumRetryCount: policy.maximumRetryCount };
  }
  return { Name: policy.name };
}

function checkPort(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Error(`container spec: ${field} must be an integer 1..65535, got ${value}`);
  }
}

function checkPositiveInteger(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`container spec: ${field} must be a positive integer, got ${value}`);
  }
}

type PortMapFromEngine = Record<string, Array<{ HostIp?: string; HostPort?: string }> | null | undefined>;

/**
 * Published ports from inspect's NetworkSettings.Ports, such as
 * {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, {"HostIp": "::", ...}]}.
 * A port exposed but not published maps to null; bindings without a number are skipped.
 */
export function parsePublishedPorts(ports: PortMapFromEngine | null | undefined): PublishedPort[] {
  const result: PublishedPort[] = [];
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const [portText, protocol = "tcp"] = key.split("/");
    const containerPort = Number(portText);
    if (!Number.isInteger(containerPort) || !bindings) continue;
    for (const binding of bindings) {
      const hostPort = Number(binding.HostPort);
      if (!binding.HostPort || !Number.isInteger(hostPort) || hostPort <= 0) continue;
      result.push({ containerPort, protocol, hostIp: binding.HostIp ?? "", hostPort });
    }
  }
  return result;
}

export function toContainerInfo(inspect: Docker.ContainerInspectInfo): ContainerInfo {
  const state = inspect.State;
  const policyName = inspect.HostConfig.RestartPolicy?.Name ?? "no";
  const restartPolicy: RestartPolicy = {
    name: RESTART_POLICY_NAMES.has(policyName as RestartPolicy["name"])
      ? (policyName as RestartPolicy["name"])
      : "no",
  };
  const retries = inspect.HostConfig.RestartPolicy?.MaximumRetryCount;
  if (restartPolicy.name === "on-failure" && retries) restartPolicy.maximumRetryCount = retries;
  return {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ""),
    image: inspect.Config.Image,
    imageId: inspect.Image,
    labels: inspect.Config.Labels ?? {},
    state: {
      status: state.Status,
      running: state.Running,
      restarting: state.Restarting,
      exitCode: state.ExitCode,
      oomKilled: state.OOMKilled,
      error: state.Error,
      startedAt: zeroTimeToUndefined(state.StartedAt),
      finishedAt: zeroTimeToUndefined(state.FinishedAt),
    },
    restartCount: inspect.RestartCount,
    ports: parsePublishedPorts(inspect.NetworkSettings.Ports),
    ...ipAddressOf(inspect.NetworkSettings),
    memoryBytes: inspect.HostConfig.Memory ?? 0,
    nanoCpus: inspect.HostConfig.NanoCpus ?? 0,
    restartPolicy,
    init: inspect.HostConfig.Init === true,
    createdAt: inspect.Created,
  };
}

/** The container's IP: on the first network that gave it one (bridge by default), else the legacy field. */
function ipAddressOf(settings: Docker.ContainerInspectInfo["NetworkSettings"]): { ipAddress?: string } {
  const names = Object.keys(settings.Networks ?? {}).sort();
  const fromNetwork = names.map((name) => settings.Networks[name]?.IPAddress).find((ip) => ip);
  const ip = fromNetwork || settings.IPAddress;
  return ip ? { ipAddress: ip } : {};
}

/** The engine writes "0001-01-01T00:00:00Z" for "never". */
function zeroTimeToUndefined(time: string | undefined): string | undefined {
  return !time || time.startsWith("0001-01-01") ? undefined : time;
}

export function toContainerSummary(listed: Docker.ContainerInfo): ContainerSummary {
  const ports: PublishedPort[] = [];
  for (const port of listed.Ports ?? []) {
    if (!port.PublicPort) continue;
    ports.push({
      containerPort: port.PrivatePort,
      protocol: port.Type,
      hostIp: port.IP ?? "",
      hostPort: port.PublicPort,
    });
  }
  return {
    id: listed.Id,
    name: (listed.Names?.[0] ?? "").replace(/^\//, ""),
    image: listed.Image,
    labels: listed.Labels ?? {},
    state: listed.State,
    status: listed.Status,
    ports,
  };
}

export function toImageInfo(inspect: Docker.ImageInspectInfo): ImageInfo {
  const exposedPorts = Object.keys(inspect.Config?.ExposedPorts ?? {})
    .map((key) => {
      const [portText, protocol = "tcp"] = key.split("/");
      return { port: Number(portText), protocol };
    })
    .filter((port) => Number.isInteger(port.port) && port.port > 0)
    .sort((a, b) => a.port - b.port);
  return {
    id: inspect.Id,
    repoTags: inspect.RepoTags ?? [],
    labels: inspect.Config?.Labels ?? {},
    exposedPorts,
    createdAt: inspect.Created,
  };
}

/** One image of the engine's image list; untagged images list no tags. */
export function toImageSummary(image: Docker.ImageInfo): ImageSummary {
  return {
    id: image.Id,
    repoTags: (image.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>"),
    labels: image.Labels ?? {},
    sizeBytes: image.Size,
    createdAt: image.Created * 1000,
  };
}

/** Docker's label filter syntax for the engine's list and events endpoints. */
export function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

/** The labels every Berth container carries, plus any more to match. */
export function managedLabels(extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [LABELS.managedBy]: MANAGED_BY_VALUE };
}
