/**
 * The objects a container's environment refers to, read from the API server: Secrets,
 * ConfigMaps and Definitions in the Instance's namespace. (Pull secrets are read by the
 * source module's readPullAuth.)
 */
import type { KubeClient } from "../kube/client.js";
import { getOrUndefined } from "../kube/errors.js";
import { CONFIGMAPS, DEFINITIONS, SECRETS } from "../kube/resources.js";
import type { EnvSources } from "./containerspec.js";
import { decodeSecretData } from "./containerspec.js";

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
