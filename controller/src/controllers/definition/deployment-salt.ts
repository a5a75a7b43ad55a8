/**
 * The installation's deployment salt: random bytes kept in a Secret of the controller's own
 * namespace, the key of the HMAC that turns a referenced Secret's or ConfigMap's data into
 * the part of a deploymentId that changes with it. deploymentIds are public (Instance names,
 * labels, Definition status) while Secrets are not; without a key, a low-entropy Secret
 * value could be found offline by hashing guesses until one gives the same id.
 *
 * The first controller to need it creates it; every replica and every restart reads the
 * same one, so ids stay the same. Creating is idempotent: when two replicas race, the one
 * that gets AlreadyExists reads the winner's salt.
 */
import { randomBytes } from "node:crypto";
import { SECRETS, type Secret } from "../../kube/resources.js";
import { isAlreadyExists, isNotFound } from "../../kube/errors.js";
import { type KubeClient } from "../../kube/client.js";

export const DEPLOYMENT_SALT_SECRET = "berth-deployment-salt";
export const DEPLOYMENT_SALT_KEY = "salt";
/** 256 bits: as long as the HMAC's own output, so no guess at the key is cheaper than at the id. */
const SALT_BYTES = 32;

export class DeploymentSaltError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DeploymentSaltError";
  }
}

/**
 * The salt of the installation whose controller runs in `namespace`, read once and then
 * kept in memory; a failed read or create is tried again on the next call.
 */
export class DeploymentSalt {
  private salt: Promise<Buffer> | undefined;

  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  get(): Promise<Buffer> {
    this.salt ??= ensureDeploymentSalt(this.client, this.namespace).catch((err: unknown) => {
      this.salt = undefined;
      throw err;
    });
    return this.salt;
  }
}

/** Reads the salt Secret, creating it with fresh random bytes when there is none. */
export async function ensureDeploymentSalt(client: KubeClient, namespace: string): Promise<Buffer> {
  const ref = { namespace, name: DEPLOYMENT_SALT_SECRET };
  const where = `Secret ${namespace}/${DEPLOYMENT_SALT_SECRET}`;
  try {
    try {
      return saltOf(await client.get(SECRETS, ref), where);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const secret: Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        ...ref,
        labels: { "app.kubernetes.io/part-of": "berth", "app.kubernetes.io/component": "controller" },
      },
      type: "Opaque",
      // Editing it would roll every Instance that references a Secret or ConfigMap.
      immutable: true,
      data: { [DEPLOYMENT_SALT_KEY]: randomBytes(SALT_BYTES).toString("base64") },
    };
    try {
      return saltOf(await client.create(SECRETS, secret), where);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      return saltOf(await client.get(SECRETS, ref), where);
    }
  } catch (err) {
    if (err instanceof DeploymentSaltError) throw err;
    throw new DeploymentSaltError(
      `the deployment salt ${where} could not be read or created (${(err as Error).message}); ` +
        `the controller needs get on it and create on Secrets in ${namespace} (manifests/rbac/controller.yaml)`,
      { cause: err },
    );
  }
}

function saltOf(secret: Secret, where: string): Buffer {
  const encoded = secret.data?.[DEPLOYMENT_SALT_KEY];
  const salt = encoded === undefined ? undefined : Buffer.from(encoded, "base64");
  if (!salt || salt.length < SALT_BYTES) {
    // Never replaced here: a new salt changes every deploymentId that includes a Secret.
    throw new DeploymentSaltError(
      `${where} has no ${SALT_BYTES}-byte "${DEPLOYMENT_SALT_KEY}" key; delete it so the controller makes a new one ` +
        `(Instances that reference Secrets or ConfigMaps roll once)`,
    );
  }
  return salt;
}
