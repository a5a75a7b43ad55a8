/**
 * The discovery mirror's pure part: what a service's headless Service and EndpointSlices
 * should say, computed from its Instances, and the smallest set of slice writes that gets
 * there from the slices that exist. No I/O; the discovery controller does the writes.
 *
 * Endpoints are grouped by (address type, port): an EndpointSlice has one address type and
 * its ports apply to every endpoint in it. A group is cut into slices of at most
 * MAX_ENDPOINTS_PER_SLICE, as Kubernetes' own EndpointSlice controller does. An endpoint
 * stays in the slice it is in while its group stays the same, so a change of one Instance
 * rewrites only the slice that lists it; new endpoints fill slices that have room before
 * a new slice is made.
 */
import { createHash } from "node:crypto";
import {
  API_VERSION,
  type Definition,
  type Instance,
  type Node,
  type OwnerReference,
} from "../../api/types.js";
import { LABELS } from "../../api/vocabulary.js";
import type { EndpointSlice, ObjectReference, Service, SliceEndpoint } from "../../kube/resources.js";
import { jsonEqual } from "../../kube/patch.js";
import { instanceEntry } from "../../api/instance-entry.js";
import { DNS_LABEL, sliceAddress, type AddressType } from "./slice-address.js";

/** The label Kubernetes reads to tell who manages an EndpointSlice. */
export const SLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
/** Berth's own value of that label (Kubernetes' controller says endpointslice-controller.k8s.io). */
export const SLICE_MANAGER = "discovery.berth.dev";
/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
/** The value of berth.dev/managed-by on what Berth writes. */
export const MANAGED_BY_BERTH = "berth";
export const MAX_ENDPOINTS_PER_SLICE = 100;

export type { AddressType } from "./slice-address.js";

/** One Instance as an EndpointSlice endpoint, with the group it belongs in. */
export interface PublishedEndpoint {
  /** The Instance's name: an endpoint's identity across passes. */
  name: string;
  addressType: AddressType;
  /** The address' scheme (http or https): the port's name and appProtocol. */
  scheme: string;
  port: number;
  endpoint: SliceEndpoint;
}

type NodeOf = (name: string) => Node | undefined;

const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Why a slug cannot name a Service (a DNS-1035 label), or undefined when it can. */
export function serviceNameProblem(slug: string): string | undefined {
  if (slug.length <= 63 && DNS_1035_LABEL.test(slug)) return undefined;
  return (
    `the name ${JSON.stringify(slug)} cannot name a Service: Service names are DNS labels ` +
    `(at most 63 characters of a-z, 0-9 and '-', starting with a letter)`
  );
}

/**
 * The endpoint of an Instance that has an address, or undefined for one without (not yet
 * started, or an address no slice can hold). `ready` is what the registry's lookup says;
 * `serving` is the same ignoring termination (an Instance being replaced answers until its
 * container is gone); `terminating` is its deletion.
 */
export function endpointOf(instance: Instance, nodeOf: NodeOf): PublishedEndpoint | undefined {
  const entry = instanceEntry(instance, nodeOf);
  if (entry.host === null || entry.port === null || entry.url === null) return undefined;
  const where = sliceAddress(entry.host);
  // The scheme names the slice's port, which must be http or https (an IANA service name).
  const scheme = /^(https?):/i.exec(entry.url)?.[1]?.toLowerCase();
  if (!where || !scheme) return undefined;
  const terminating = instance.metadata.deletionTimestamp !== undefined;
  const { deletionTimestamp: _deleting, ...liveMetadata } = instance.metadata;
  const serving = terminating
    ? instanceEntry({ ...instance, metadata: liveMetadata }, nodeOf).ready
    : entry.ready;
  const name = instance.metadata.name ?? "";
  const targetRef: ObjectReference = {
    apiVersion: API_VERSION,
    kind: "Instance",
    namespace: instance.metadata.namespace ?? "default",
    name,
  };
  if (instance.metadata.uid) targetRef.uid = instance.metadata.uid;
  const endpoint: SliceEndpoint = {
    addresses: [where.address],
    conditions: { ready: entry.ready, serving, terminating },
    targetRef,
  };
  // CoreDNS answers <hostname>.<service>.<namespace>.svc for headless Services.
  if (name.length <= 63 && DNS_LABEL.test(name)) endpoint.hostname = name;
  if (entry.node !== null) endpoint.nodeName = entry.node;
  return {
    name,
    addressType: where.addressType,
    scheme,
    port: entry.port,
    endpoint,
  };
}

/** The headless, selector-less Service of a slug, owned by its Definition when it has one. */
export function desiredService(namespace: string, slug: string, owner: Definition | undefined): Service {
  const service: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: slug,
      namespace,
      labels: { [LABELS.managedBy]: MANAGED_BY_BERTH, [LABELS.definition]: slug },
    },
    spec: { type: "ClusterIP", clusterIP: "None" },
  };
  if (owner && service.metadata) service.metadata.ownerReferences = ownerReferencesFor(owner);
  return service;
}

/** The Service's owner: its Definition, when there is one. */
export function ownerReferencesFor(definition: Definition | undefined): OwnerReference[] {
  if (!definition) return [];
  return [
    {
      apiVersion: API_VERSION,
      kind: "Definition",
      name: definition.metadata.name ?? "",
      uid: definition.metadata.uid ?? "",
      controller: true,
    },
  ];
}

/** An owner list as the mirror compares it: who, and whether it is the controller. */
export function ownerIdentities(owners: readonly OwnerReference[] | undefined): unknown[] {
  return (owners ?? []).map((o) => [o.kind, o.name, o.uid, o.controller === true]);
}

/** Whether two versions of a Service say the same to a discovery pass: whose it is, and its owner. */
export function sameService(a: Service, b: Service): boolean {
  return (
    isBerthService(a) === isBerthService(b) &&
    jsonEqual(ownerIdentities(a.metadata?.ownerReferences), ownerIdentities(b.metadata?.ownerReferences))
  );
}

/** Whether Berth made this Service (and so may change or delete it). */
export function isBerthService(service: Service): boolean {
  return (
    service.metadata?.labels?.[LABELS.managedBy] === MANAGED_BY_BERTH &&
    service.spec?.clusterIP === "None" &&
    (service.spec.selector === undefined || service.spec.selector === null)
  );
}

/** The group an endpoint belongs to, and a slice holds. */
function groupKey(addressType: AddressType, scheme: string, port: number): string {
  return `${addressType}/${scheme}/${port}`;
}

function groupOfSlice(slice: EndpointSlice): string | undefined {
  const [port, ...more] = slice.ports ?? [];
  if (!port || more.length > 0 || port.port === undefined || !port.name) return undefined;
  return groupKey(slice.addressType, port.name, port.port);
}

/** `<slug>-<hash of the group>-<n>`: deterministic, so a retry never makes a second slice. */
export function sliceName(slug: string, group: string, index: number): string {
  const hash = createHash("sha256").update(group).digest("hex").slice(0, 8);
  const suffix = `-${hash}-${index}`;
  return `${slug.slice(0, 253 - suffix.length)}${suffix}`;
}

export interface SlicePlan {
  create: EndpointSlice[];
  /** Whole slices to replace, each carrying the resourceVersion it was read at. */
  update: EndpointSlice[];
  delete: EndpointSlice[];
  /** Every slice as it will be: what is published once the plan is done. */
  published: EndpointSlice[];
}

export interface SliceContext {
  namespace: string;
  slug: string;
  /** The Service the slices belong to (their controlling owner). */
  service: { name: string; uid: string };
}

function buildSlice(
  context: SliceContext,
  name: string,
  first: PublishedEndpoint,
  endpoints: readonly SliceEndpoint[],
): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace: context.namespace,
      labels: {
        [SERVICE_NAME_LABEL]: context.slug,
        [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGER,
        [LABELS.managedBy]: MANAGED_BY_BERTH,
      },
      ownerReferences: [
        {
          apiVersion: "v1",
          kind: "Service",
          name: context.service.name,
          uid: context.service.uid,
          controller: true,
        },
      ],
    },
    addressType: first.addressType,
    endpoints: [...endpoints].sort((a, b) => compare(a.targetRef?.name ?? "", b.targetRef?.name ?? "")),
    ports: [{ name: first.scheme, port: first.port, protocol: "TCP", appProtocol: first.scheme }],
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What of a slice Berth writes, so a slice read back compares equal to the one written. */
function sliceContent(slice: EndpointSlice): unknown {
  const labels = slice.metadata?.labels ?? {};
  return {
    labels: [SERVICE_NAME_LABEL, SLICE_MANAGED_BY_LABEL, LABELS.managedBy].map((key) => labels[key]),
    owners: ownerIdentities(slice.metadata?.ownerReferences),
    addressType: slice.addressType,
    ports: (slice.ports ?? []).map((p) => [p.name, p.port, p.protocol ?? "TCP", p.appProtocol]),
    endpoints: (slice.endpoints ?? []).map((e) => ({
      addresses: e.addresses,
      ready: e.conditions?.ready,
      serving: e.conditions?.serving,
      terminating: e.conditions?.terminating,
      hostname: e.hostname,
      nodeName: e.nodeName,
      target: [e.targetRef?.kind, e.targetRef?.namespace, e.targetRef?.name, e.targetRef?.uid],
    })),
  };
}

export function sameSlice(a: EndpointSlice, b: EndpointSlice): boolean {
  return jsonEqual(sliceContent(a), sliceContent(b));
}

/**
 * The slice writes that make `existing` (Berth's slices of this service) list exactly
 * `desired`, at most MAX_ENDPOINTS_PER_SLICE per slice, touching as few slices as it can.
 */
export function planSlices(
  context: SliceContext,
  desired: readonly PublishedEndpoint[],
  existing: readonly EndpointSlice[],
): SlicePlan {
  const plan: SlicePlan = { create: [], update: [], delete: [], published: [] };
  const groups = new Map<string, Map<string, PublishedEndpoint>>();
  for (const endpoint of desired) {
    const key = groupKey(endpoint.addressType, endpoint.scheme, endpoint.port);
    const group = groups.get(key) ?? new Map<string, PublishedEndpoint>();
    group.set(endpoint.name, endpoint);
    groups.set(key, group);
  }
  const slicesByGroup = new Map<string, EndpointSlice[]>();
  const takenNames = new Set(existing.map((s) => s.metadata?.name ?? ""));
  for (const slice of [...existing].sort((a, b) => compare(a.metadata?.name ?? "", b.metadata?.name ?? ""))) {
    const key = groupOfSlice(slice);
    if (key === undefined || !groups.has(key)) {
      plan.delete.push(slice);
      continue;
    }
    slicesByGroup.set(key, [...(slicesByGroup.get(key) ?? []), slice]);
  }
  for (const [key, members] of [...groups].sort(([a], [b]) => compare(a, b))) {
    planGroup(context, { key, members, slices: slicesByGroup.get(key) ?? [], takenNames }, plan);
  }
  return plan;
}

/** One group's endpoints (one address type, scheme and port) and the slices that hold it now. */
interface SliceGroup {
  key: string;
  members: Map<string, PublishedEndpoint>;
  slices: EndpointSlice[];
  /** Slice names in use; a new slice takes the first free one and adds it. */
  takenNames: Set<string>;
}

/**
 * Adds to `plan` the writes for one group: every endpoint already in a slice stays there,
 * the others fill the kept slices' free room, then new slices; a slice left empty goes.
 */
function planGroup(context: SliceContext, group: SliceGroup, plan: SlicePlan): void {
  const { key, members, takenNames } = group;
  const first = [...members.values()][0];
  if (!first) return;
  const placed = new Set<string>();
  const kept = group.slices.map((slice) => {
    const endpoints: SliceEndpoint[] = [];
    for (const listed of slice.endpoints ?? []) {
      const name = listed.targetRef?.name ?? "";
      const wanted = members.get(name);
      if (!wanted || placed.has(name) || endpoints.length >= MAX_ENDPOINTS_PER_SLICE) continue;
      placed.add(name);
      endpoints.push(wanted.endpoint);
    }
    return { slice, endpoints };
  });
  const unplaced = [...members.values()]
    .filter((e) => !placed.has(e.name))
    .sort((a, b) => compare(a.name, b.name));
  for (const entry of kept) {
    while (entry.endpoints.length < MAX_ENDPOINTS_PER_SLICE && unplaced.length > 0) {
      entry.endpoints.push((unplaced.shift() as PublishedEndpoint).endpoint);
    }
  }
  for (const { slice, endpoints } of kept) {
    if (endpoints.length === 0) {
      plan.delete.push(slice);
      continue;
    }
    const next = buildSlice(context, slice.metadata?.name ?? "", first, endpoints);
    plan.published.push(next);
    if (sameSlice(slice, next)) continue;
    if (next.metadata) next.metadata.resourceVersion = slice.metadata?.resourceVersion ?? "";
    plan.update.push(next);
  }
  for (let index = 0; unplaced.length > 0; index++) {
    const name = sliceName(context.slug, key, index);
    if (takenNames.has(name)) continue;
    takenNames.add(name);
    const chunk = unplaced.splice(0, MAX_ENDPOINTS_PER_SLICE).map((e) => e.endpoint);
    const slice = buildSlice(context, name, first, chunk);
    plan.create.push(slice);
    plan.published.push(slice);
  }
}
