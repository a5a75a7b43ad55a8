/**
 * The dockerode client of one engine, and the shapes dockerode takes that its type
 * definitions do not describe. engine.ts is the only user; nothing else imports dockerode.
 */
import { readdir } from "node:fs/promises";
import Docker from "dockerode";
import type {
  BuildOptions,
  DockerEngineOptions,
  EngineInfo,
  EngineVersion,
  RegistryAuth,
} from "./options.js";
import { hasEngineTls } from "./tls.js";
import { parseEngineUrl } from "./url.js";

/** A client for the engine at `url` and nowhere else. */
export function dockerodeFor(url: string, tls: DockerEngineOptions["tls"]): Docker {
  const address = parseEngineUrl(url, { tls: hasEngineTls(tls) });
  // Every connection field is set, even to undefined: dockerode would otherwise fill
  // the gaps from DOCKER_HOST and friends, and talk to a different engine.
  return new Docker({
    socketPath: address.kind === "socket" ? address.socketPath : undefined,
    host: address.kind === "network" ? address.host : undefined,
    port: address.kind === "network" ? address.port : undefined,
    protocol: address.kind === "network" ? address.protocol : undefined,
    ca: tls?.ca,
    cert: tls?.cert,
    key: tls?.key,
    timeout: undefined,
  });
}

/** The fields of the engine's GET /info that Berth reads. */
export interface SystemInfo {
  Name?: string;
  NCPU?: number;
  MemTotal?: number;
  ContainersRunning?: number;
  DockerRootDir?: string;
}

/** dockerode takes {abortSignal} on these calls; its type definitions lag behind. */
export interface SystemCalls {
  ping(options: { abortSignal: AbortSignal }): Promise<unknown>;
  version(options: { abortSignal: AbortSignal }): Promise<Docker.DockerVersion>;
  info(options: { abortSignal: AbortSignal }): Promise<SystemInfo>;
}

export function toEngineVersion(version: Docker.DockerVersion): EngineVersion {
  return {
    version: version.Version,
    apiVersion: version.ApiVersion,
    os: version.Os,
    arch: version.Arch,
    kernelVersion: version.KernelVersion,
  };
}

export function toEngineInfo(info: SystemInfo): EngineInfo {
  return {
    name: info.Name ?? "",
    cpus: info.NCPU ?? 0,
    memoryBytes: info.MemTotal ?? 0,
    containersRunning: info.ContainersRunning ?? 0,
    rootDir: info.DockerRootDir ?? "",
  };
}

/** The engine's X-Registry-Auth for registry credentials (none: anonymous). */
export function toAuthConfig(auth: RegistryAuth | undefined): Docker.AuthConfig | undefined {
  if (!auth) return undefined;
  const config: Docker.AuthConfig & { identitytoken?: string } = {
    username: auth.username ?? "",
    password: auth.password ?? "",
    serveraddress: auth.serverAddress ?? "",
  };
  if (auth.identityToken) config.identitytoken = auth.identityToken;
  return config;
}

type BuildQuery = Omit<Docker.ImageBuildOptions, "t"> & { t: string[] };

/** The build context (a directory's files, or a stream) and the query of an image build. */
export async function buildRequest(
  options: BuildOptions,
  abortSignal: AbortSignal,
): Promise<{
  context: string | NodeJS.ReadableStream | Docker.ImageBuildContext;
  query: Docker.ImageBuildOptions;
}> {
  const context =
    typeof options.context === "string"
      ? { context: options.context, src: await readdir(options.context) }
      : options.context;
  const query: BuildQuery = {
    t: options.tags,
    dockerfile: options.containerFile ?? "Dockerfile",
    buildargs: options.buildArgs,
    labels: options.labels,
    rm: true,
    forcerm: true,
    abortSignal,
  };
  // The engine takes one `t` per tag; dockerode passes the array through, its types allow one.
  return { context, query: query as unknown as Docker.ImageBuildOptions };
}
