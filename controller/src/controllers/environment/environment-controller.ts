/**
 * The environment controller: delivers each bound Instance's environment to the agent of
 * its Node, and nothing to any other agent. For every Instance the controller made
 * (spec.environmentFrom NodeSecret) and bound to a Node, it resolves the Definition's env,
 * envFrom, dependsOn addresses and the image's pull credentials, and writes them into the
 * Secret berth-node-<node>/<namespace>.<instance>; it deletes that Secret once the Instance
 * is gone. The agent reads only its own namespace, so it needs no access to any tenant's
 * Secrets or ConfigMaps (see ../environment/delivery.ts and docs/architecture.md).
 *
 * Keys are the delivered Secrets' own namespace/name, so an Instance's deletion (whose
 * last state names its Node) and a stray Secret found after a restart lead to the same
 * reconcile.
 */
import { isDeepStrictEqual } from "node:util";
import type { Definition, Instance } from "../../api/types.js";
import { LABELS } from "../../api/vocabulary.js";
import type { DeliveredEnvironment } from "../../environment/delivery.js";
import {
  ENVIRONMENT_ANNOTATIONS,
  ENVIRONMENT_SECRET_TYPE,
  environmentSecret,
  environmentSecretRef,
  instanceKeyOf,
  nodeOfNamespace,
} from "../../environment/delivery.js";
import { EnvironmentError, decodeSecretData, resolveEnv } from "../../environment/resolve.js";
import type { ConfigMap, Secret } from "../../kube/resources.js";
import { CONFIGMAPS, NAMESPACES, SECRETS } from "../../kube/resources.js";
import { getOrUndefined, isAlreadyExists, isForbidden, isNotFound } from "../../kube/errors.js";
import type { Controller, ReconcileContext, Reconciler, Request, Result } from "../../runtime/controller.js";
import type { Informer } from "../../runtime/informer.js";
import { controllerFor, type ControllerContext } from "../context.js";
import { dependentsIn, instancesOfDefinition } from "../indexes.js";
import {
  referenceKey,
  referencedObjects,
  runTemplateOf,
  type ObjectReference,
} from "../definition/deployment-id.js";
import { environmentInputs, pullCredentials, referencesOf } from "./environment-inputs.js";
import { ExpectedWrites } from "./expected-writes.js";

export const ENVIRONMENT_CONTROLLER = "environment";

/** A Secret the delivery namespace holds that Berth did not write is retried this often. */
const FOREIGN_SECRET_RECHECK_MS = 60_000;

export class EnvironmentReconciler implements Reconciler {
  /** Accepted writes the delivered cache has yet to show (expected-writes.ts). */
  private readonly expected: ExpectedWrites;

  constructor(
    private readonly context: ControllerContext,
    private readonly delivered: Informer<Secret>,
    /** Tenant namespaces this controller serves; every one when undefined. */
    private readonly watchNamespace: string | undefined,
  ) {
    this.expected = new ExpectedWrites(delivered);
  }

  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | void> {
    const node = nodeOfNamespace(request.namespace);
    const dot = request.name.indexOf(".");
    if (!node || dot <= 0) return;
    const namespace = request.name.slice(0, dot);
    if (this.watchNamespace && namespace !== this.watchNamespace) return;
    const { caches, client } = this.context;
    const instance = caches.instances.get(namespace, request.name.slice(dot + 1));
    const current = this.delivered.get(request.namespace, request.name);
    const wanted =
      instance?.spec.environmentFrom === "NodeSecret" &&
      instance.spec.nodeName === node &&
      instance.metadata.deletionTimestamp === undefined;
    if (!wanted) {
      if (current?.type === ENVIRONMENT_SECRET_TYPE) {
        await client
          .delete(
            SECRETS,
            { namespace: request.namespace, name: request.name },
            { preconditions: { uid: current.metadata?.uid ?? "" } },
          )
          .catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
        ctx.log.info("removed the environment of an Instance that is gone", {});
      }
      return;
    }
    const definition = caches.definitions.get(namespace, instance.spec.definition);
    if (!definition) return;
    // The Definition says what the environment of its current deployment is; an Instance of
    // an earlier one keeps what was delivered to it (and is on its way out).
    const isCurrentDeployment =
      definition.status?.observedGeneration === definition.metadata.generation &&
      definition.status?.deploymentId === instance.spec.deploymentId;
    if (!isCurrentDeployment) return;
    if (current && current.type !== ENVIRONMENT_SECRET_TYPE) {
      this.notDelivered(
        instance,
        `Secret ${request.namespace}/${request.name} exists and is not an environment Berth wrote; delete it so the Instance's environment can be delivered`,
      );
      return { requeueAfterMs: FOREIGN_SECRET_RECHECK_MS };
    }
    // What went into the delivered environment is known without reading a Secret's data:
    // when none of it changed, nothing is read and nothing is written.
    const inputs = environmentInputs(namespace, definition, instance, caches);
    if (current?.metadata?.annotations?.[ENVIRONMENT_ANNOTATIONS.inputs] === inputs) return;
    // This controller's last write is not in the cache yet: from the cache, the same create
    // or replace would be asked again and refused. Its event brings the next pass.
    const waitMs = this.expected.waitMs(request.key, this.context.clock.now());
    if (waitMs > 0) return { requeueAfterMs: waitMs };
    const desired = environmentSecret(
      instance,
      await this.resolve(namespace, definition, instance, ctx.signal),
      inputs,
    );
    await this.write(desired, current, instance, node);
    this.expected.wrote(request.key, this.context.clock.now());
    const what = current
      ? "updated the environment of an Instance"
      : "delivered the environment of an Instance";
    ctx.log.info(what, { node });
  }

  /** Replaces the delivered Secret the cache shows, or creates it. */
  private async write(
    desired: Secret,
    current: Secret | undefined,
    instance: Instance,
    node: string,
  ): Promise<void> {
    if (!current) return await this.create(desired, instance, node);
    await this.context.client.replace(SECRETS, {
      ...desired,
      metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion ?? "" },
    });
  }

  /**
   * Everything the agent needs from the tenant's namespace, resolved; problems instead of
   * values. The caches hold Secrets and ConfigMaps without their data, so each referenced
   * one the cache knows is read here, once per pass, and its data is dropped after it.
   */
  private async resolve(
    namespace: string,
    definition: Definition,
    instance: Instance,
    signal: AbortSignal,
  ): Promise<DeliveredEnvironment> {
    const { caches } = this.context;
    const image = instance.spec.template?.image;
    const data = await this.readReferenced(namespace, referencesOf(definition, instance), signal);
    const content: DeliveredEnvironment = { env: [] };
    try {
      content.env = resolveEnv(definition.spec, {
        secret: (name) => {
          const secret = data.get(referenceKey({ kind: "Secret", name })) as Secret | undefined;
          return secret ? decodeSecretData(secret.data) : undefined;
        },
        configMap: (name) =>
          (data.get(referenceKey({ kind: "ConfigMap", name })) as ConfigMap | undefined)?.data ?? undefined,
        definition: (name) => caches.definitions.get(namespace, name),
      });
    } catch (err) {
      if (!(err instanceof EnvironmentError)) throw err;
      content.problem = { reason: err.reason, message: err.message };
    }
    if (image?.pullSecret) {
      const secret = data.get(referenceKey({ kind: "Secret", name: image.pullSecret })) as Secret | undefined;
      content.pull = pullCredentials(secret, { namespace, name: image.pullSecret }, image.name);
    }
    return content;
  }

  /** The referenced objects the cache knows, read from the API server (a 404 counts as absent). */
  private async readReferenced(
    namespace: string,
    references: readonly ObjectReference[],
    signal: AbortSignal,
  ): Promise<Map<string, Secret | ConfigMap>> {
    const { caches, client } = this.context;
    const read = new Map<string, Secret | ConfigMap>();
    for (const ref of references) {
      const cache = ref.kind === "Secret" ? caches.secrets : caches.configMaps;
      if (!cache.get(namespace, ref.name)) continue;
      if (signal.aborted) throw new Error("reconcile aborted");
      const target = { namespace, name: ref.name };
      const object =
        ref.kind === "Secret"
          ? await getOrUndefined(() => client.get<Secret>(SECRETS, target))
          : await getOrUndefined(() => client.get<ConfigMap>(CONFIGMAPS, target));
      if (object) read.set(referenceKey(ref), object);
    }
    return read;
  }

  /** Creates the Secret; a missing namespace is made when this identity may (a local control plane). */
  private async create(desired: Secret, instance: Instance, node: string): Promise<void> {
    const namespace = desired.metadata?.namespace ?? "";
    try {
      await this.context.client.create(SECRETS, desired);
      return;
    } catch (err) {
      if (isAlreadyExists(err)) return; // the cache is behind; its event brings the next pass
      if (isForbidden(err)) {
        this.notDelivered(
          instance,
          `the controller may not write Secrets in ${namespace}: apply the identity of Node ${node} ` +
            `from manifests/agent/identity-template.yaml (its RoleBinding berth-controller-environment-writer)`,
        );
      }
      if (!isNotFound(err)) throw err;
    }
    try {
      await this.context.client.create(NAMESPACES, {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: namespace, labels: { [LABELS.node]: node } },
      });
    } catch (err) {
      if (isForbidden(err)) {
        this.notDelivered(
          instance,
          `namespace ${namespace} does not exist: create the identity of Node ${node} from manifests/agent/identity-template.yaml`,
        );
      }
      if (!isAlreadyExists(err)) throw err;
    }
    await this.context.client.create(SECRETS, desired);
  }

  /** An Event on the Instance saying why its environment cannot be delivered and what fixes it. */
  private notDelivered(instance: Instance, message: string): void {
    this.context.events.event(instance, "Warning", "EnvironmentNotDelivered", message);
  }
}

/** Keys of the delivered environments of a Definition's bound Instances. */
function deliveredKeysOf(instances: readonly Instance[]): string[] {
  const keys: string[] = [];
  for (const instance of instances) {
    const ref = instance.spec.environmentFrom === "NodeSecret" ? environmentSecretRef(instance) : undefined;
    if (ref) keys.push(`${ref.namespace}/${ref.name}`);
  }
  return keys;
}

/** Whether an Instance's change can change what its environment is or where it goes. */
export function environmentOfInstanceMayDiffer(before: Instance, after: Instance): boolean {
  return (
    before.metadata.uid !== after.metadata.uid ||
    before.metadata.deletionTimestamp !== after.metadata.deletionTimestamp ||
    !isDeepStrictEqual(before.spec, after.spec)
  );
}

/**
 * Whether a Definition's change can change its own Instances' environments: its spec and the
 * deployment its status calls current (its addresses are for its dependents, watched apart).
 */
export function environmentOfDefinitionMayDiffer(before: Definition, after: Definition): boolean {
  return (
    before.metadata.generation !== after.metadata.generation ||
    before.status?.observedGeneration !== after.status?.observedGeneration ||
    before.status?.deploymentId !== after.status?.deploymentId ||
    !isDeepStrictEqual(before.spec, after.spec)
  );
}

/** Which delivered environments a change of a Definition, Secret or ConfigMap reaches. */
function deliveriesReachedBy(caches: ControllerContext["caches"]) {
  const instancesOf = (namespace: string, definitions: ReadonlySet<string>): Instance[] =>
    [...definitions].flatMap((name) => instancesOfDefinition(caches.instances, namespace, name));
  const nameOf = (d: Definition) => d.metadata.name ?? "";
  return {
    /** Its own Instances' environments. */
    ownInstances: (definition: Definition): string[] =>
      deliveredKeysOf(instancesOf(definition.metadata.namespace ?? "default", new Set([nameOf(definition)]))),
    /** Its dependents' environments (they hold its addresses as BERTH_DEP_* values). */
    dependents: (definition: Definition): string[] => {
      const namespace = definition.metadata.namespace ?? "default";
      const dependents = dependentsIn(caches.definitions, namespace, nameOf(definition));
      return dependents.length === 0 ? [] : deliveredKeysOf(instancesOf(namespace, new Set(dependents)));
    },
    /** The environments of Instances whose Definition (or pull secret) names the object. */
    referencing: (kind: "Secret" | "ConfigMap", namespace: string, name: string): string[] => {
      const definitions = new Set(
        caches.definitions
          .list(namespace)
          .filter((d) =>
            referencedObjects(runTemplateOf(d.spec)).some((r) => r.kind === kind && r.name === name),
          )
          .map(nameOf),
      );
      const instances = caches.instances
        .list(namespace)
        .filter(
          (i) =>
            definitions.has(i.spec.definition) ||
            (kind === "Secret" && i.spec.template?.image?.pullSecret === name),
        );
      return deliveredKeysOf(instances);
    },
  };
}

/** The environment controller with its watches: whatever changes what an environment holds. */
export function newEnvironmentController(
  context: ControllerContext,
  delivered: Informer<Secret>,
  watchNamespace: string | undefined,
): Controller {
  const { caches } = context;
  const controller = controllerFor(
    context,
    ENVIRONMENT_CONTROLLER,
    new EnvironmentReconciler(context, delivered, watchNamespace),
    // One delivery per Instance, each mostly a wait on the API server: a burst of bindings
    // (many Instances per Definition) must not wait behind 16 round trips at a time, or
    // the agents, finding no environment for seconds, say so in a status write and an Event.
    2 * context.settings.definitionWorkers,
  );
  const reached = deliveriesReachedBy(caches);
  controller.for(delivered);
  // An Instance's status (its agent's writes) says nothing about its environment.
  controller.watches(
    caches.instances,
    (instance) => deliveredKeysOf([instance]),
    environmentOfInstanceMayDiffer,
  );
  // A Definition's spec and the deployment its status calls current decide its own
  // Instances' environments; its addresses are its dependents' BERTH_DEP_* values (and
  // nothing of its own Instances'). Its counts and conditions decide nothing.
  controller.watches(caches.definitions, reached.ownInstances, environmentOfDefinitionMayDiffer);
  controller.watches(
    caches.definitions,
    reached.dependents,
    (before, after) => !isDeepStrictEqual(before.status?.addresses, after.status?.addresses),
  );
  controller.watches(caches.secrets, (secret) =>
    instanceKeyOf(secret)
      ? []
      : reached.referencing("Secret", secret.metadata?.namespace ?? "", secret.metadata?.name ?? ""),
  );
  controller.watches(caches.configMaps, (configMap) =>
    reached.referencing("ConfigMap", configMap.metadata?.namespace ?? "", configMap.metadata?.name ?? ""),
  );
  return controller;
}
