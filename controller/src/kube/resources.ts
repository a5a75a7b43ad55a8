import type { Definition, Instance, Node, ObjectMeta } from "../api/types.js";
import { GROUP, VERSION } from "../api/types.js";

/** Any Kubernetes object: what the generic client and the informer work with. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/**
 * Where a kind lives in the REST API. The type parameter only carries the object type
 * through the client's generic methods.
 */
export interface ResourceDescriptor<T extends KubeObject = KubeObject> {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Phantom field: never set, it only ties T to the descriptor. */
  readonly __type?: T;
}

export function apiVersionOf(resource: ResourceDescriptor): string {
  return resource.group === "" ? resource.version : `${resource.group}/${resource.version}`;
}

function describe<T extends KubeObject>(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
): ResourceDescriptor<T> {
  return Object.freeze({ group, version, plural, kind, namespaced });
}

// Core kinds Berth touches, typed loosely: only the fields Berth reads are spelled out.
export interface Secret extends KubeObject {
  type?: string;
  immutable?: boolean;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}
export interface Namespace extends KubeObject {
  status?: { phase?: string };
}
export interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}
/** events.k8s.io/v1 Event. */
export interface KubeEvent extends KubeObject {
  eventTime?: string;
  reportingController?: string;
  reportingInstance?: string;
  action?: string;
  reason?: string;
  regarding?: ObjectReference;
  note?: string;
  type?: "Normal" | "Warning";
  series?: { count: number; lastObservedTime: string };
}
/** core/v1 Event (what `kubectl describe` shows for older clusters). */
export interface CoreEvent extends KubeObject {
  involvedObject?: ObjectReference;
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  source?: { component?: string; host?: string };
}

/** core/v1 Service: Berth writes only headless, selector-less ones (see controllers/discovery/discovery.ts). */
export interface Service extends KubeObject {
  spec?: {
    clusterIP?: string;
    clusterIPs?: string[];
    type?: string;
    selector?: Record<string, string> | null;
    ports?: Array<{ name?: string; port: number; protocol?: string; targetPort?: number | string }>;
    publishNotReadyAddresses?: boolean;
  };
}
/** discovery.k8s.io/v1 EndpointSlice. */
export interface EndpointSlice extends KubeObject {
  addressType: "IPv4" | "IPv6" | "FQDN";
  endpoints: SliceEndpoint[];
  ports?: Array<{ name?: string; port?: number; protocol?: string; appProtocol?: string }>;
}
export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectReference;
}
export const DEFINITIONS = describe<Definition>(GROUP, VERSION, "definitions", "Definition", true);
export const INSTANCES = describe<Instance>(GROUP, VERSION, "instances", "Instance", true);
export const NODES = describe<Node>(GROUP, VERSION, "nodes", "Node", false);
export const SECRETS = describe<Secret>("", "v1", "secrets", "Secret", true);
export const CONFIGMAPS = describe<ConfigMap>("", "v1", "configmaps", "ConfigMap", true);
export const NAMESPACES = describe<Namespace>("", "v1", "namespaces", "Namespace", false);
export const CORE_EVENTS = describe<CoreEvent>("", "v1", "events", "Event", true);
export const EVENTS = describe<KubeEvent>("events.k8s.io", "v1", "events", "Event", true);
export const SERVICES = describe<Service>("", "v1", "services", "Service", true);
export const ENDPOINT_SLICES = describe<EndpointSlice>(
  "discovery.k8s.io",
  "v1",
  "endpointslices",
  "EndpointSlice",
  true,
);
export const LEASES = describe<Lease>("coordination.k8s.io", "v1", "leases", "Lease", true);
/** authentication.k8s.io/v1 TokenReview: asks the API server whose token this is. */
export interface TokenReview extends KubeObject {
  spec: { token: string; audiences?: string[] };
  status?: {
    authenticated?: boolean;
    user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
    audiences?: string[];
    error?: string;
  };
}
/** authorization.k8s.io/v1 SubjectAccessReview: asks the API server whether a user may do something. */
export interface SubjectAccessReview extends KubeObject {
  spec: {
    user?: string;
    uid?: string;
    groups?: string[];
    extra?: Record<string, string[]>;
    resourceAttributes?: {
      namespace?: string;
      verb?: string;
      group?: string;
      resource?: string;
      name?: string;
    };
  };
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}
export const TOKEN_REVIEWS = describe<TokenReview>(
  "authentication.k8s.io",
  "v1",
  "tokenreviews",
  "TokenReview",
  false,
);
export const SUBJECT_ACCESS_REVIEWS = describe<SubjectAccessReview>(
  "authorization.k8s.io",
  "v1",
  "subjectaccessreviews",
  "SubjectAccessReview",
  false,
);
