/**
 * Lookups of cached Instances by Definition and by Node, and of Definitions by what they
 * depend on, through the informers' indexes, so a pass or an event about one Definition or
 * one Node reads its own objects instead of scanning all of them (at 10,000 Instances that scan, repeated per pass, was most of the controller's work).
 * Each lookup adds its index on first use (the same index again is a no-op), so any reader
 * of the shared cache may call it.
 */
import type { Definition, Instance } from "../api/types.js";
import { compareStrings } from "./definition/deployment-id.js";
import { isExternalInstance } from "../api/vocabulary.js";
import type { Informer } from "../runtime/informer.js";
import { controllingDefinition, isOwnedBy } from "./definition/instances.js";

const BY_CONTROLLER = "instances-by-controlling-definition";
const BY_OWNER_UID = "instances-by-controller-uid";
const BY_DEFINITION = "instances-by-spec-definition";
const BY_NODE = "instances-by-node";
const BY_DEPENDENCY = "definitions-by-dependency";

/** namespace/controllingDefinition: the Definition named by its controller owner reference. */
function controllerValues(instance: Instance): string[] {
  const owner = controllingDefinition(instance);
  return owner === undefined ? [] : [`${instance.metadata.namespace ?? ""}/${owner}`];
}

/** The uids of the Definitions its controller owner references name (what isOwnedBy reads). */
function ownerUidValues(instance: Instance): string[] {
  if (isExternalInstance(instance)) return [];
  return (instance.metadata.ownerReferences ?? [])
    .filter((ref) => ref.controller === true && ref.kind === "Definition" && ref.uid !== undefined)
    .map((ref) => ref.uid);
}

/** namespace/spec.definition: the service the Instance belongs to (external ones included). */
function definitionValues(instance: Instance): string[] {
  return [`${instance.metadata.namespace ?? ""}/${instance.spec.definition}`];
}

/** Unbound Instances are filed under "", which no Node can be named. */
const UNBOUND = "";
function nodeValues(instance: Instance): string[] {
  return [instance.spec.nodeName || UNBOUND];
}

/**
 * The Instances whose controller owner reference names this Definition (controllingDefinition;
 * external Instances never). Callers that need the owner's uid too filter these with isOwnedBy.
 */
export function instancesControlledBy(
  instances: Informer<Instance>,
  namespace: string,
  definition: string,
): Instance[] {
  instances.addIndex(BY_CONTROLLER, controllerValues);
  return instances.byIndex(BY_CONTROLLER, `${namespace}/${definition}`);
}

/** The Instances of the Definition's namespace that it owns (isOwnedBy: by uid). */
export function instancesOwnedBy(instances: Informer<Instance>, definition: Definition): Instance[] {
  const uid = definition.metadata.uid;
  if (uid === undefined) return [];
  instances.addIndex(BY_OWNER_UID, ownerUidValues);
  const namespace = definition.metadata.namespace;
  return instances
    .byIndex(BY_OWNER_UID, uid)
    .filter((i) => i.metadata.namespace === namespace && isOwnedBy(i, definition));
}

/** The Instances whose spec.definition is this name, in the namespace. */
export function instancesOfDefinition(
  instances: Informer<Instance>,
  namespace: string,
  definition: string,
): Instance[] {
  instances.addIndex(BY_DEFINITION, definitionValues);
  return instances.byIndex(BY_DEFINITION, `${namespace}/${definition}`);
}

/** The Instances bound to the node (spec.nodeName), external ones included. */
export function instancesOnNode(instances: Informer<Instance>, node: string): Instance[] {
  instances.addIndex(BY_NODE, nodeValues);
  return node === UNBOUND ? [] : instances.byIndex(BY_NODE, node);
}

/** The Instances bound to no Node yet, external ones left out (they never are). */
export function unboundInstances(instances: Informer<Instance>): Instance[] {
  instances.addIndex(BY_NODE, nodeValues);
  return instances.byIndex(BY_NODE, UNBOUND).filter((i) => !isExternalInstance(i));
}

/** namespace/name of every Definition it names in dependsOn. */
function dependencyValues(definition: Definition): string[] {
  const namespace = definition.metadata.namespace ?? "";
  return (definition.spec.dependsOn ?? []).map((dep) => `${namespace}/${dep}`);
}

/** The names of the namespace's Definitions whose dependsOn names `name` directly, sorted (dependentsOf). */
export function dependentsIn(definitions: Informer<Definition>, namespace: string, name: string): string[] {
  definitions.addIndex(BY_DEPENDENCY, dependencyValues);
  return definitions
    .byIndex(BY_DEPENDENCY, `${namespace}/${name}`)
    .map((d) => d.metadata.name ?? "")
    .sort(compareStrings);
}
