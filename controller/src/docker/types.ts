/**
 * Plain shapes for containers and images, as the rest of Berth sees them (conversions.ts
 * maps them to and from the engine API's). Nothing here talks to an engine.
 */

export const MANAGED_BY_VALUE = "berth";

export type PortProtocol = "tcp" | "udp";

/** A container port published on the host. */
export interface PortSpec {
  containerPort: number;
  protocol?: PortProtocol;
  /** The host address to bind; absent means the engine's default (its --ip setting). */
  hostIp?: string;
  /** A fixed host port; absent or 0 lets the engine pick a free one (read it back from inspect). */
  hostPort?: number;
}

export interface RestartPolicy {
  name: "no" | "always" | "unless-stopped" | "on-failure";
  /** Only for on-failure. */
  maximumRetryCount?: number;
}

/** What to run, in Berth's terms. */
export interface ContainerSpec {
  /** Container name; the engine makes one up when absent. */
  name?: string;
  image: string;
  /** Labels; berth.dev/managed-by=berth is always added. */
  labels: Record<string, string>;
  env?: Record<string, string>;
  /** Replaces the image's entrypoint (as a Kubernetes container's command does). */
  command?: string[];
  /** Replaces the image's default arguments (its CMD). */
  args?: string[];
  ports?: PortSpec[];
  memoryBytes?: number;
  /** CPU limit in billionths of a CPU: 0.5 CPU is 500_000_000. */
  nanoCpus?: number;
  restartPolicy?: RestartPolicy;
  /**
   * Run a small init as PID 1 so that SIGTERM reaches and stops the program even when it
   * ignores signals as PID 1 (busybox httpd does). Default true.
   */
  init?: boolean;
  /** Seconds the engine waits after SIGTERM before SIGKILL when stopping without a grace period. */
  stopTimeoutSeconds?: number;
}

export interface PublishedPort {
  containerPort: number;
  protocol: string;
  hostIp: string;
  hostPort: number;
}

export interface ContainerState {
  /** created, running, paused, restarting, removing, exited or dead. */
  status: string;
  running: boolean;
  restarting: boolean;
  exitCode: number;
  oomKilled: boolean;
  /** The engine's error when the container could not start. */
  error: string;
  startedAt?: string;
  finishedAt?: string;
}

/** What inspect tells about a container. */
export interface ContainerInfo {
  id: string;
  /** Without the leading slash the engine puts on names. */
  name: string;
  /** The image reference the container was created from. */
  image: string;
  imageId: string;
  labels: Record<string, string>;
  state: ContainerState;
  restartCount: number;
  /** Ports published right now (empty while the container is not running). */
  ports: PublishedPort[];
  /** The container's own IP on its network, while it runs; absent without one. */
  ipAddress?: string;
  memoryBytes: number;
  nanoCpus: number;
  restartPolicy: RestartPolicy;
  init: boolean;
  createdAt: string;
}

/** One line of a container listing. */
export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  /** created, running, exited, ... */
  state: string;
  /** The engine's human text, such as "Up 5 seconds" or "Exited (3) 2 seconds ago". */
  status: string;
  ports: PublishedPort[];
}

export interface ImageInfo {
  id: string;
  repoTags: string[];
  labels: Record<string, string>;
  /** Ports the image EXPOSEs, such as [{port: 8080, protocol: "tcp"}]. */
  exposedPorts: Array<{ port: number; protocol: string }>;
  createdAt: string;
}

/** An image as the engine lists it. */
export interface ImageSummary {
  id: string;
  /** Its tags; none for an untagged image. */
  repoTags: string[];
  labels: Record<string, string>;
  sizeBytes: number;
  /** Creation time, in milliseconds since the epoch. */
  createdAt: number;
}

/**
 * The host port a container port is published on. An IPv4 binding wins over an IPv6 one
 * (the engine publishes both, usually on the same port).
 */
export function hostPortFor(
  ports: PublishedPort[],
  containerPort: number,
  protocol = "tcp",
): number | undefined {
  const matching = ports.filter((port) => port.containerPort === containerPort && port.protocol === protocol);
  const ipv4 = matching.find((port) => !port.hostIp.includes(":"));
  return (ipv4 ?? matching[0])?.hostPort;
}
