import type { Logger } from "../runtime/log.js";
import type { DockerObserver } from "./metrics.js";

export interface DockerTimeouts {
  /** Short calls: ping, version, inspect, list, create, start, remove, connecting to events. */
  requestMs: number;
  /** A whole image pull. */
  pullMs: number;
  /** A whole image build. */
  buildMs: number;
  /** Added to a stop's grace period: the engine itself waits the grace period before it kills. */
  stopMarginMs: number;
  /** An exec whose caller gave no timeout. */
  execMs: number;
}

export const DEFAULT_DOCKER_TIMEOUTS: DockerTimeouts = {
  requestMs: 15_000,
  pullMs: 10 * 60_000,
  buildMs: 30 * 60_000,
  stopMarginMs: 15_000,
  execMs: 10_000,
};

export interface DockerEngineOptions {
  /** unix:///var/run/docker.sock, tcp://host:2375, http(s)://host:port. */
  url: string;
  timeouts?: Partial<DockerTimeouts>;
  /** Told the duration and outcome of every call; Prometheus metrics by default. */
  observer?: DockerObserver;
  logger?: Logger;
  /**
   * PEM contents for TLS engines: the CA that signed the engine's certificate (the system's
   * CAs when absent) and a client certificate and key. Given, a tcp:// URL is always TLS.
   */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
}

/** Per call: a caller's cancellation and a timeout other than the default. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface EngineVersion {
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
  kernelVersion: string;
}

export interface EngineInfo {
  name: string;
  cpus: number;
  memoryBytes: number;
  containersRunning: number;
  /** The engine's root directory (DockerRootDir) on its own machine; "" when it does not say. */
  rootDir: string;
}

/** Registry credentials, as in a dockerconfigjson Secret. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** An OAuth identity token instead of username and password. */
  identityToken?: string;
  serverAddress?: string;
}

export interface PullOptions extends CallOptions {
  auth?: RegistryAuth;
  /** Called with each progress line, such as "Pulling fs layer". */
  onProgress?: (line: string) => void;
}

export interface BuildOptions extends CallOptions {
  /** A directory (packed as the build context, honouring .dockerignore) or a tar stream. */
  context: string | NodeJS.ReadableStream;
  /** The Containerfile's path inside the context. "Dockerfile" when absent. */
  containerFile?: string;
  tags: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Called with each line of build output. */
  onOutput?: (line: string) => void;
}

export interface ExecResult {
  exitCode: number;
  /** stdout and stderr interleaved, cut at EXEC_OUTPUT_LIMIT (64 KiB). */
  output: string;
}
