/**
 * The environment an Instance's container runs with, and the credentials its image is
 * pulled with, as the agent gets them: from the Secret the controller delivered to this
 * Node's namespace (spec.environmentFrom NodeSecret), or, for an Instance made by hand,
 * from the literal values of its template alone. The agent reads no tenant's Secrets or
 * ConfigMaps, and no Definitions.
 */
import type { Instance } from "../api/types.js";
import type { RegistryAuth } from "../docker/options.js";
import type { DeliveredEnvironment } from "../environment/delivery.js";
import { EnvironmentError, resolveEnv } from "../environment/resolve.js";
import { environmentSecretRef, readDeliveredEnvironment } from "../environment/delivery.js";
import type { Secret } from "../kube/resources.js";
import type { SourceErrorReason } from "../source/errors.js";
import { SOURCE_ERROR_REASONS, SourceError } from "../source/errors.js";
import { templateOf } from "./container-request.js";

/** The delivered environments of this Node: the informer of its berth-node-<node> namespace. */
export interface DeliveredEnvironments {
  get(namespace: string | undefined, name: string): Secret | undefined;
}

export interface InstanceEnvironment {
  /** The container's environment in order; a later entry for a name wins. */
  env: Array<[string, string]>;
  /** Credentials for the image's registry; throws the SourceError a person must act on. */
  pullAuth(): RegistryAuth | undefined;
}

/** Reason while the controller has not delivered the environment yet: the agent waits for it. */
export const ENVIRONMENT_NOT_DELIVERED = "EnvironmentNotDelivered";

/**
 * The Instance's environment. Throws EnvironmentError with the reason to show on the
 * Instance: EnvironmentNotDelivered (wait), DependencyNotReady (wait) or
 * CreateContainerConfigError (a missing Secret, ConfigMap or key).
 */
export function instanceEnvironment(
  instance: Instance,
  delivered: DeliveredEnvironments,
): InstanceEnvironment {
  if (instance.spec.environmentFrom !== "NodeSecret") return templateEnvironment(instance);
  const ref = environmentSecretRef(instance);
  const content = ref
    ? readDeliveredEnvironment(delivered.get(ref.namespace, ref.name), instance)
    : undefined;
  if (!ref || !content) {
    throw new EnvironmentError(
      ENVIRONMENT_NOT_DELIVERED,
      `waiting for the controller to deliver the environment (Secret ${ref?.namespace ?? "?"}/${ref?.name ?? "?"})`,
    );
  }
  if (content.problem) throw new EnvironmentError(content.problem.reason, content.problem.message);
  return { env: content.env, pullAuth: () => deliveredPullAuth(content) };
}

function deliveredPullAuth(content: DeliveredEnvironment): RegistryAuth | undefined {
  if (!content.pull) return undefined;
  if ("auth" in content.pull) return content.pull.auth;
  const { reason, message } = content.pull.problem;
  const known = (SOURCE_ERROR_REASONS as readonly string[]).includes(reason);
  throw new SourceError(known ? (reason as SourceErrorReason) : "PullSecretInvalid", message);
}

/** An Instance made by hand: literal values only, since the agent may read no Secret. */
function templateEnvironment(instance: Instance): InstanceEnvironment {
  const template = templateOf(instance);
  const refused = (kind: string) => (name: string) => {
    throw new EnvironmentError(
      "CreateContainerConfigError",
      `the template reads ${kind} "${name}", but only an Instance whose environment the controller delivers ` +
        `(spec.environmentFrom NodeSecret) may read Secrets and ConfigMaps`,
    );
  };
  const env = resolveEnv(
    {
      ...(template.env ? { env: template.env } : {}),
      ...(template.envFrom ? { envFrom: template.envFrom } : {}),
    },
    { secret: refused("Secret"), configMap: refused("ConfigMap"), definition: () => undefined },
  );
  return {
    env,
    pullAuth: () => {
      const pullSecret = template.image?.pullSecret;
      if (!pullSecret) return undefined;
      throw new SourceError(
        "PullSecretNotFound",
        `pull secret ${instance.metadata.namespace ?? ""}/${pullSecret} is not delivered: only an Instance whose ` +
          `environment the controller delivers (spec.environmentFrom NodeSecret) may use a pull secret`,
      );
    },
  };
}
