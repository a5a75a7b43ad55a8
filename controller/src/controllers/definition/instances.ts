/**
 * Instances as the Definition controller sees them: deterministic names, the desired
 * object for one ordinal, ownership, and the readiness facts the rollout planner and the
 * status aggregation read.
 */
import {
  API_VERSION,
  type Condition,
  type Definition,
  type DefinitionSpec,
  type Instance,
  type InstancePhase,
  type Node,
  type RunTemplate,
} from "../../api/types.js";
import { CONDITIONS, INSTANCE_FINALIZER, LABELS } from "../../api/vocabulary.js";
import { isExternalInstance, nodeIsReady } from "../../api/vocabulary.js";
import { withoutLiteralValues } from "../../environment/resolve.js";

/** How many characters of the deploymentId go into an Instance name. */
export const NAME_ID_CHARS = 10;

/** Kubernetes object names are DNS subdomains of at most 253 characters. */
const MAX_NAME_LENGTH = 253;

/** `<definition>-<deploymentId first 10 chars>-<ordinal>`, the team's naming protocol. */
export function instanceName(definition: string, deploymentId: string, ordinal: number): string {
  const suffix = `-${deploymentId.slice(0, NAME_ID_CHARS)}-${ordinal}`;
  // A Definition name close to the limit is cut; the deploymentId and ordinal keep it unique.
  const head = definition.slice(0, MAX_NAME_LENGTH - suffix.length).replace(/[-.]+$/, "");
  return `${head}${suffix}`;
}

/** The name prefix shared by all Instances of one Definition and deploymentId. */
export function instanceNamePrefix(definition: string, deploymentId: string): string {
  return instanceName(definition, deploymentId, 0).replace(/0$/, "");
}

/**
 * The `count` lowest ordinals whose names are free. `takenNames` holds every Instance name
 * in the namespace, owned or not, so a name still held by a terminating Instance (or one
 * left by an earlier Definition of the same name) is never reused.
 */
export function freeOrdinals(
  definition: string,
  deploymentId: string,
  takenNames: { has(name: string): boolean },
  count: number,
): number[] {
  const ordinals: number[] = [];
  for (let ordinal = 0; ordinals.length < count; ordinal++) {
    if (!takenNames.has(instanceName(definition, deploymentId, ordinal))) ordinals.push(ordinal);
  }
  return ordinals;
}

/** The Instance the controller creates for one ordinal. */
export function desiredInstance(
  definition: Definition,
  deploymentId: string,
  ordinal: number,
  template: RunTemplate,
): Instance {
  const name = definition.metadata.name ?? "";
  const instance: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      name: instanceName(name, deploymentId, ordinal),
      namespace: definition.metadata.namespace ?? "default",
      labels: {
        [LABELS.definition]: name,
        [LABELS.deploymentId]: deploymentId,
        [LABELS.managedBy]: "berth",
      },
      finalizers: [INSTANCE_FINALIZER],
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: "Definition",
          name,
          uid: definition.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    // Every agent may list Instances: literal env values travel only in the environment
    // delivered to the Instance's own Node (see ../environment).
    spec: {
      definition: name,
      deploymentId,
      template: withoutLiteralValues(structuredClone(template)),
    },
  };
  if (needsDeliveredEnvironment(definition.spec)) instance.spec.environmentFrom = "NodeSecret";
  if (definition.spec.hostPort !== undefined) instance.spec.hostPort = definition.spec.hostPort;
  return instance;
}

/**
 * Whether an Instance of the Definition needs an environment delivered to its Node: it has
 * variables, dependencies whose addresses it is offered, or a pull secret. One without any
 * of them runs with an empty environment and no credentials, so its agent starts it without
 * waiting for a delivery (a Secret write and a watch event after the binding).
 */
export function needsDeliveredEnvironment(spec: DefinitionSpec): boolean {
  return (
    (spec.env?.length ?? 0) > 0 ||
    (spec.envFrom?.length ?? 0) > 0 ||
    (spec.dependsOn?.length ?? 0) > 0 ||
    spec.image?.pullSecret !== undefined
  );
}

/** True when the Instance's controlling owner is this Definition (same uid). */
export function isOwnedBy(instance: Instance, definition: Definition): boolean {
  if (isExternalInstance(instance)) return false;
  const uid = definition.metadata.uid;
  return (instance.metadata.ownerReferences ?? []).some(
    (ref) => ref.controller === true && ref.kind === "Definition" && ref.uid === uid && uid !== undefined,
  );
}

/** The Definition controlling an Instance, by name; undefined for an orphan or an external Instance. */
export function controllingDefinition(instance: Instance): string | undefined {
  if (isExternalInstance(instance)) return undefined;
  return (instance.metadata.ownerReferences ?? []).find(
    (ref) => ref.controller === true && ref.kind === "Definition",
  )?.name;
}

/** What the planner and the status aggregation need to know about one Instance. */
export interface InstanceView {
  name: string;
  deploymentId: string;
  nodeName?: string;
  /** Ready: the agent reports it ready and its node is Ready; only these serve traffic. */
  ready: boolean;
  /** deletionTimestamp is set: on its way out, counted nowhere. */
  terminating: boolean;
  phase: InstancePhase | undefined;
  address?: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** When the Instance last became ready (its Ready condition's transition), if it is ready. */
  readySince?: number;
  /** When the Instance first became ready, if it ever was (it may have failed since). */
  firstReadyAt?: number;
  /** The health check's last message, while the agent reports that the check fails. */
  healthCheckFailure?: string;
  /** Scheduled=False condition from the scheduler, while unbound. */
  unschedulable?: Condition;
  message?: string;
}

/** Ready now, or ready at some time since it was created: it has been rolled out. */
export function wasReadyOnce(instance: InstanceView): boolean {
  return instance.ready || instance.firstReadyAt !== undefined;
}

export function viewInstance(instance: Instance, nodeOf: (name: string) => Node | undefined): InstanceView {
  const status = instance.status ?? {};
  const nodeName = instance.spec.nodeName || undefined;
  const nodeReady = nodeName !== undefined && nodeIsReady(nodeOf(nodeName));
  const ready = status.ready === true && nodeReady;
  const readyCondition = status.conditions?.find((c) => c.type === CONDITIONS.ready && c.status === "True");
  const scheduled = status.conditions?.find((c) => c.type === CONDITIONS.scheduled);
  const view: InstanceView = {
    name: instance.metadata.name ?? "",
    deploymentId: instance.spec.deploymentId ?? "",
    ready,
    terminating: instance.metadata.deletionTimestamp !== undefined,
    phase: status.phase,
    createdAt: Date.parse(instance.metadata.creationTimestamp ?? "") || 0,
  };
  if (nodeName !== undefined) view.nodeName = nodeName;
  if (ready && status.address?.url) view.address = status.address.url;
  if (ready && readyCondition)
    view.readySince = Date.parse(readyCondition.lastTransitionTime) || view.createdAt;
  const firstReadyAt = Date.parse(status.firstReadyTime ?? "");
  if (Number.isFinite(firstReadyAt)) view.firstReadyAt = firstReadyAt;
  else if (view.readySince !== undefined) view.firstReadyAt = view.readySince;
  const readiness = status.conditions?.find((c) => c.type === CONDITIONS.ready);
  if (status.ready !== true && readiness?.reason === "HealthCheckFailed") {
    view.healthCheckFailure = readiness.message || "the health check fails";
  }
  if (nodeName === undefined && scheduled?.status === "False") view.unschedulable = scheduled;
  if (status.message) view.message = status.message;
  return view;
}
