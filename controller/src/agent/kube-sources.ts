/**
 * The objects a container's environment and image pull refer to, read from the API
 * server: Secrets, ConfigMaps and Definitions in the Instance's namespace.
 */
import type { Instance } from "../api/types.js";
import type { KubeClient } from "../kube/client.js";
import { isNotFound } from "../kube/errors.js";
import { CONFIGMAPS, DEFINITIONS, SECRETS } from "../kube/resources.js";
import type { EnvSources } from "./containerspec.js";
import { ContainerConfigError, decodeSecretData } from "./containerspec.js";
import type { RegistryAuth } from "./docker-port.js";
import { authForImage } from "./docker-port.js";

async function getOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function kubeEnvSources(client: KubeClient, namespace: string): EnvSources {
  return {
    secret: async (name) => {
      const secret = await getOrUndefined(() => client.get(SECRETS, { namespace, name }));
      return secret ? decodeSecretData(secret.data, secret.stringData) : undefined;
    },
    configMap: async (name) =>
      (await getOrUndefined(() => client.get(CONFIGMAPS, { namespace, name })))?.data ?? undefined,
    definition: (name) => getOrUndefined(() => client.get(DEFINITIONS, { namespace, name })),
  };
}

/** Registry credentials from the template's pullSecret; undefined when it names none. */
export async function pullAuthFor(
  client: KubeClient,
  instance: Instance,
  image: string,
): Promise<RegistryAuth | undefined> {
  const secretName = instance.spec.template.image?.pullSecret;
  if (!secretName) return undefined;
  const data = await kubeEnvSources(client, instance.metadata.namespace ?? "").secret(secretName);
  const config = data?.[".dockerconfigjson"];
  if (!config) {
    throw new ContainerConfigError(
      "PullSecretNotFound",
      `pull secret "${secretName}" not found or has no .dockerconfigjson key`,
    );
  }
  return authForImage(config, image);
}
