/**
 * Registry credentials from an image's pullSecret: a Secret of type
 * kubernetes.io/dockerconfigjson (the legacy kubernetes.io/dockercfg is read too), turned
 * into the credentials the Docker module passes to a pull for the image's registry.
 *
 * Nothing from the Secret's data ever goes into an error message, a log line or an error's
 * cause: errors name the Secret, the key and the registry hosts, no more.
 */
import type { RegistryAuth } from "../docker/options.js";
import type { KubeClient } from "../kube/client.js";
import type { Secret } from "../kube/resources.js";
import { SECRETS } from "../kube/resources.js";
import { isNotFound } from "../kube/errors.js";
import { SourceError } from "./errors.js";

export const DOCKER_CONFIG_JSON_TYPE = "kubernetes.io/dockerconfigjson";
export const DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson";
export const DOCKERCFG_TYPE = "kubernetes.io/dockercfg";
export const DOCKERCFG_KEY = ".dockercfg";

/** The host Docker Hub images live on, however an image or a config spells it. */
export const DOCKER_HUB_HOST = "docker.io";
const DOCKER_HUB_ALIASES = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);
/** The server address the Docker engine files Docker Hub credentials under. */
const DOCKER_HUB_SERVER_ADDRESS = "https://index.docker.io/v1/";

/**
 * The registry host of an image reference, as the Docker engine reads it: the first path
 * component when it looks like a host (has a dot or a port, or is localhost), else Docker Hub.
 */
export function registryHostOf(image: string): string {
  const slash = image.indexOf("/");
  if (slash < 0) return DOCKER_HUB_HOST;
  const first = image.slice(0, slash);
  const looksLikeHost = first.includes(".") || first.includes(":") || first === "localhost";
  if (!looksLikeHost) return DOCKER_HUB_HOST;
  return normaliseRegistryHost(first);
}

/**
 * A registry key of a docker config ("https://host:5000/v2/", "host:5000", "docker.io")
 * reduced to the host[:port] it names, lower-case, with Docker Hub's aliases folded together.
 */
export function normaliseRegistryHost(key: string): string {
  const withoutScheme = key.trim().replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, "");
  const host = (withoutScheme.split("/")[0] ?? "").toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB_HOST : host;
}

interface DockerConfigEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

/** Where the Secret came from, to name it in errors. */
export interface SecretName {
  namespace: string;
  name: string;
}

/**
 * The credentials a Secret holds for the registry of `image`. Throws PullSecretInvalid when
 * the Secret is of another type, its data is not a docker config, or it has no usable
 * credentials for that registry.
 */
export function registryAuthFromSecret(secret: Secret, image: string): RegistryAuth {
  const name: SecretName = {
    namespace: secret.metadata?.namespace ?? "(unknown)",
    name: secret.metadata?.name ?? "(unknown)",
  };
  const invalid = (why: string): never => {
    throw new SourceError("PullSecretInvalid", `pull secret ${name.namespace}/${name.name} ${why}`);
  };
  const type = secret.type ?? "Opaque";
  let entries: Record<string, unknown>;
  if (type === DOCKER_CONFIG_JSON_TYPE) {
    const config = decodeJsonKey(secret, DOCKER_CONFIG_JSON_KEY, invalid);
    const auths = (config as { auths?: unknown }).auths;
    if (!isRecord(auths)) return invalid(`has no "auths" object in its ${DOCKER_CONFIG_JSON_KEY} key`);
    entries = auths;
  } else if (type === DOCKERCFG_TYPE) {
    entries = decodeJsonKey(secret, DOCKERCFG_KEY, invalid);
  } else {
    return invalid(`has type ${type}; an image pull secret must be of type ${DOCKER_CONFIG_JSON_TYPE}`);
  }

  const host = registryHostOf(image);
  const match = Object.entries(entries).find(([key]) => normaliseRegistryHost(key) === host);
  if (!match) {
    const known = Object.keys(entries).map(normaliseRegistryHost).sort();
    return invalid(
      `has no credentials for registry ${host} (it has ${known.length ? known.join(", ") : "none"}); ` +
        `add an entry for ${host} under "auths"`,
    );
  }
  const [key, rawEntry] = match;
  if (!isRecord(rawEntry)) return invalid(`has an entry for ${key} that is not an object`);
  return authFromEntry(rawEntry as DockerConfigEntry, host, key, invalid);
}

function authFromEntry(
  entry: DockerConfigEntry,
  host: string,
  key: string,
  invalid: (why: string) => never,
): RegistryAuth {
  const serverAddress = host === DOCKER_HUB_HOST ? DOCKER_HUB_SERVER_ADDRESS : host;
  if (typeof entry.identitytoken === "string" && entry.identitytoken) {
    return { identityToken: entry.identitytoken, serverAddress };
  }
  if (typeof entry.username === "string" && entry.username && typeof entry.password === "string") {
    return { username: entry.username, password: entry.password, serverAddress };
  }
  if (typeof entry.auth === "string" && entry.auth) {
    const decoded = decodeBase64(entry.auth);
    const colon = decoded?.indexOf(":") ?? -1;
    if (decoded === undefined || colon <= 0) {
      return invalid(`has an "auth" for ${key} that is not base64 of user:password`);
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serverAddress };
  }
  return invalid(`has an entry for ${key} without "auth", "username"/"password" or "identitytoken"`);
}

function decodeJsonKey(
  secret: Secret,
  key: string,
  invalid: (why: string) => never,
): Record<string, unknown> {
  const encoded = secret.data?.[key];
  // stringData is write-only on the API server, but a Secret built in memory may carry it.
  const text = encoded !== undefined ? decodeBase64(encoded) : secret.stringData?.[key];
  if (text === undefined) return invalid(`has no ${key} key`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input, which is the secret: leave it out.
    return invalid(`has a ${key} key that is not JSON`);
  }
  if (!isRecord(parsed)) return invalid(`has a ${key} key that is not a JSON object`);
  return parsed;
}

function decodeBase64(text: string): string | undefined {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, "base64").toString("utf8");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads the pull secret from the API server and returns the credentials for the image's
 * registry. Throws PullSecretNotFound when the Secret does not exist, PullSecretInvalid
 * when it cannot be used; other API errors pass through unchanged.
 */
export async function readPullAuth(
  kube: KubeClient,
  secret: SecretName,
  image: string,
): Promise<RegistryAuth> {
  let object: Secret;
  try {
    object = await kube.get(SECRETS, { namespace: secret.namespace, name: secret.name });
  } catch (err) {
    if (isNotFound(err)) throw pullSecretNotFound(secret);
    throw err;
  }
  return registryAuthFromSecret(object, image);
}

/** The error for a pullSecret that names no Secret. */
export function pullSecretNotFound(secret: SecretName): SourceError {
  return new SourceError(
    "PullSecretNotFound",
    `pull secret ${secret.namespace}/${secret.name} not found: create a Secret of type ` +
      `${DOCKER_CONFIG_JSON_TYPE} with that name, or fix image.pullSecret`,
  );
}
