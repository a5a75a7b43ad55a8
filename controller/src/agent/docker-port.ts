/**
 * The part of the Docker module the agent uses, as a type: the agent takes a DockerEngine
 * in production and an in-memory stand-in in unit tests.
 */
import type { DockerEngine, RegistryAuth } from "../docker/engine.js";

export type AgentDocker = Pick<
  DockerEngine,
  | "url"
  | "ping"
  | "version"
  | "imageExists"
  | "pullImage"
  | "createContainer"
  | "startContainer"
  | "inspectContainer"
  | "stopContainer"
  | "removeContainer"
  | "listContainers"
  | "exec"
>;

export type { RegistryAuth };

/** The registry host of an image reference, as Docker resolves it (docker.io when none is named). */
export function registryOf(image: string): string {
  const slash = image.indexOf("/");
  if (slash === -1) return "docker.io";
  const first = image.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost" ? first : "docker.io";
}

const DOCKER_HUB_ALIASES = [
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "https://index.docker.io/v1/",
];

/**
 * Credentials for an image from a kubernetes.io/dockerconfigjson Secret's decoded
 * `.dockerconfigjson`; undefined when the Secret has none for the image's registry.
 */
export function authForImage(dockerConfigJson: string, image: string): RegistryAuth | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(dockerConfigJson);
  } catch {
    throw new Error("the pull secret's .dockerconfigjson is not JSON");
  }
  const auths = (
    parsed as { auths?: Record<string, { username?: string; password?: string; auth?: string }> }
  ).auths;
  if (!auths) return undefined;
  const registry = registryOf(image);
  const candidates = registry === "docker.io" ? DOCKER_HUB_ALIASES : [registry];
  for (const [server, entry] of Object.entries(auths)) {
    const host = server.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
    if (!candidates.includes(server) && !candidates.includes(host)) continue;
    let { username, password } = entry;
    if ((!username || !password) && entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon !== -1) {
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
    return { username: username ?? "", password: password ?? "", serverAddress: server };
  }
  return undefined;
}
