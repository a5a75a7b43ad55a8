/** What a delivered environment is made of: its references, the digest of its inputs, pull credentials. */
import { createHash } from "node:crypto";
import type { Definition, Instance } from "../../api/types.js";
import type { DeliveredEnvironment, EnvironmentProblem } from "../../environment/delivery.js";
import type { Secret } from "../../kube/resources.js";
import type { SecretName } from "../../source/registry-auth.js";
import { SourceError } from "../../source/errors.js";
import { pullSecretNotFound, registryAuthFromSecret } from "../../source/registry-auth.js";
import type { ControllerCaches } from "../context.js";
import {
  referenceKey,
  referencedObjects,
  runTemplateOf,
  type ObjectReference,
} from "../definition/deployment-id.js";

/** The credentials for the image's registry, or the problem a person must fix (never a value). */
export function pullCredentials(
  secret: Secret | undefined,
  name: SecretName,
  image: string,
): DeliveredEnvironment["pull"] {
  try {
    if (!secret) throw pullSecretNotFound(name);
    return { auth: registryAuthFromSecret(secret, image) };
  } catch (err) {
    if (!(err instanceof SourceError)) throw err;
    const problem: EnvironmentProblem = { reason: err.reason, message: err.message };
    return { problem };
  }
}

/** The Secrets and ConfigMaps an Instance's environment is made from, its pull Secret included. */
export function referencesOf(definition: Definition, instance: Instance): ObjectReference[] {
  const references = referencedObjects(runTemplateOf(definition.spec));
  const pullSecret = instance.spec.template?.image?.pullSecret;
  if (pullSecret && !references.some((r) => r.kind === "Secret" && r.name === pullSecret)) {
    references.push({ kind: "Secret", name: pullSecret });
  }
  return references;
}

/**
 * A digest of everything a delivered environment is made of, from the caches alone: the
 * Instance, the parts of its Definition that say the environment, its dependencies'
 * addresses, and each referenced Secret and ConfigMap by uid and resourceVersion (their
 * data is not in the caches). Equal digests mean an equal environment, so the delivered
 * Secret carries it and a pass that finds it unchanged reads nothing.
 */
export function environmentInputs(
  namespace: string,
  definition: Definition,
  instance: Instance,
  caches: Pick<ControllerCaches, "definitions" | "secrets" | "configMaps">,
): string {
  const { env, envFrom, dependsOn } = definition.spec;
  const image = instance.spec.template?.image;
  const parts = {
    format: 1,
    instance: instance.metadata.uid ?? "",
    image: [image?.name ?? "", image?.pullSecret ?? ""],
    environment: { env, envFrom, dependsOn },
    addresses: (dependsOn ?? []).map(
      (name) => caches.definitions.get(namespace, name)?.status?.addresses ?? [],
    ),
    references: referencesOf(definition, instance).map((ref) => {
      const cache = ref.kind === "Secret" ? caches.secrets : caches.configMaps;
      const cached = cache.get(namespace, ref.name)?.metadata;
      return [referenceKey(ref), cached ? `${cached.uid ?? ""}/${cached.resourceVersion ?? ""}` : null];
    }),
  };
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}
