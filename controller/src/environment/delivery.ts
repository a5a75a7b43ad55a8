/**
 * How an Instance's environment travels from the controller to the agent of its Node: one
 * Secret per bound Instance in the namespace `berth-node-<node>`, which only that Node's
 * agent may read (and only the controller may write; see manifests/agent/identity-template.yaml).
 * Kubernetes gives kubelets this narrowing with its Node authorizer; for Berth, plain RBAC
 * on a namespace per Node says the same thing.
 *
 * The Secret holds the environment already resolved (literal env, Secret and ConfigMap
 * values, envFrom, dependsOn addresses) and the registry credentials for the Instance's
 * image, or the problem that kept the controller from resolving them, so that the agent
 * reports it on the Instance as before.
 */
import { createHash } from "node:crypto";
import type { Instance } from "../api/types.js";
import { LABELS, NODE_NAMESPACE_PREFIX } from "../api/vocabulary.js";
import type { RegistryAuth } from "../docker/options.js";
import type { Secret } from "../kube/resources.js";

/** The Secret type of a delivered environment, so nobody mistakes it for a tenant's own. */
export const ENVIRONMENT_SECRET_TYPE = "berth.dev/instance-environment";
/** The one data key: the DeliveredEnvironment as JSON. */
export const ENVIRONMENT_KEY = "environment.json";

export const ENVIRONMENT_ANNOTATIONS = {
  instance: LABELS.instance,
  instanceUid: "berth.dev/instance-uid",
  definition: LABELS.definition,
  /** A digest of what the environment was resolved from (no values): unchanged, nothing is read again. */
  inputs: "berth.dev/environment-inputs",
} as const;

/** Why something could not be resolved; the agent shows it on the Instance. */
export interface EnvironmentProblem {
  reason: string;
  message: string;
}

export interface DeliveredEnvironment {
  /** The container's environment in order; a later entry for a name wins. */
  env: Array<[string, string]>;
  /** Registry credentials for the image (from its pullSecret), or why there are none. */
  pull?: { auth: RegistryAuth } | { problem: EnvironmentProblem };
  /** Why the environment could not be resolved; env is then empty. */
  problem?: EnvironmentProblem;
}

/** The namespace the environments of a Node's Instances are delivered to. */
export function nodeNamespace(nodeName: string): string {
  return `${NODE_NAMESPACE_PREFIX}${nodeName}`;
}

/** The Node a delivery namespace belongs to; undefined for any other namespace. */
export function nodeOfNamespace(namespace: string | undefined): string | undefined {
  if (!namespace?.startsWith(NODE_NAMESPACE_PREFIX)) return undefined;
  return namespace.slice(NODE_NAMESPACE_PREFIX.length) || undefined;
}

const MAX_NAME_LENGTH = 253;

/**
 * `<namespace>.<instance>`: unique, since a namespace has no dots. A name over the limit
 * (an Instance name near 253 characters) is cut and made unique again with a hash.
 */
export function environmentSecretName(namespace: string, instance: string): string {
  const name = `${namespace}.${instance}`;
  if (name.length <= MAX_NAME_LENGTH) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 16);
  return `${name.slice(0, MAX_NAME_LENGTH - hash.length - 1).replace(/[-.]+$/, "")}-${hash}`;
}

/** Where an Instance's environment is delivered; undefined while it is not bound. */
export function environmentSecretRef(instance: Instance): { namespace: string; name: string } | undefined {
  if (!instance.spec.nodeName) return undefined;
  return {
    namespace: nodeNamespace(instance.spec.nodeName),
    name: environmentSecretName(instance.metadata.namespace ?? "", instance.metadata.name ?? ""),
  };
}

/** The Secret that delivers `content` for an Instance bound to a Node. */
export function environmentSecret(
  instance: Instance,
  content: DeliveredEnvironment,
  inputs?: string,
): Secret {
  const ref = environmentSecretRef(instance);
  if (!ref) throw new Error("an unbound Instance has no delivered environment");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      ...ref,
      labels: {
        [LABELS.managedBy]: "berth",
        [LABELS.namespace]: instance.metadata.namespace ?? "",
      },
      annotations: {
        [ENVIRONMENT_ANNOTATIONS.instance]: instance.metadata.name ?? "",
        [ENVIRONMENT_ANNOTATIONS.instanceUid]: instance.metadata.uid ?? "",
        [ENVIRONMENT_ANNOTATIONS.definition]: instance.spec.definition,
        ...(inputs ? { [ENVIRONMENT_ANNOTATIONS.inputs]: inputs } : {}),
      },
    },
    type: ENVIRONMENT_SECRET_TYPE,
    data: { [ENVIRONMENT_KEY]: Buffer.from(JSON.stringify(content)).toString("base64") },
  };
}

/** The Instance (namespace/name key) a delivered Secret is for; undefined for any other Secret. */
export function instanceKeyOf(secret: Secret): string | undefined {
  if (secret.type !== ENVIRONMENT_SECRET_TYPE || !nodeOfNamespace(secret.metadata?.namespace))
    return undefined;
  const namespace = secret.metadata?.labels?.[LABELS.namespace];
  const name = secret.metadata?.annotations?.[ENVIRONMENT_ANNOTATIONS.instance];
  return namespace && name ? `${namespace}/${name}` : undefined;
}

/**
 * The environment a Secret delivers to this very Instance: undefined when the Secret is
 * for an earlier Instance of the same name, or is not a delivered environment at all.
 */
export function readDeliveredEnvironment(
  secret: Secret | undefined,
  instance: Instance,
): DeliveredEnvironment | undefined {
  if (!secret || secret.type !== ENVIRONMENT_SECRET_TYPE) return undefined;
  if (secret.metadata?.annotations?.[ENVIRONMENT_ANNOTATIONS.instanceUid] !== instance.metadata.uid) {
    return undefined;
  }
  const encoded = secret.data?.[ENVIRONMENT_KEY];
  if (encoded === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
  return isDeliveredEnvironment(parsed) ? parsed : undefined;
}

function isProblem(value: unknown): value is EnvironmentProblem {
  const problem = value as EnvironmentProblem | undefined;
  return typeof problem?.reason === "string" && typeof problem.message === "string";
}

function isDeliveredEnvironment(value: unknown): value is DeliveredEnvironment {
  if (typeof value !== "object" || value === null) return false;
  const content = value as Partial<DeliveredEnvironment>;
  const envOk =
    Array.isArray(content.env) &&
    content.env.every(
      (entry) =>
        Array.isArray(entry) &&
        entry.length === 2 &&
        typeof entry[0] === "string" &&
        typeof entry[1] === "string",
    );
  if (!envOk) return false;
  if (content.problem !== undefined && !isProblem(content.problem)) return false;
  if (content.pull === undefined) return true;
  if ("problem" in content.pull) return isProblem(content.pull.problem);
  return typeof content.pull.auth === "object" && content.pull.auth !== null;
}
