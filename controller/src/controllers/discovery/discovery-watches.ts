/**
 * The discovery controller's watches: whatever changes what a service publishes wakes a
 * pass of its `<namespace>/<slug>` key, and what changes nothing a pass reads does not.
 */
import type { EndpointSlice, Service } from "../../kube/resources.js";
import type { Controller } from "../../runtime/controller.js";
import { nodeIsReady } from "../../api/vocabulary.js";
import { controllerFor, type ControllerContext } from "../context.js";
import { instancesOnNode } from "../indexes.js";
import { DISCOVERY_CONTROLLER, DiscoveryReconciler, type DiscoveryCaches } from "./discovery-controller.js";
import { discoveryOfDefinitionMayDiffer } from "./definition-changes.js";
import { SERVICE_NAME_LABEL } from "./discovery.js";
import { discoveryOfInstanceMayDiffer } from "./instance-changes.js";

function slugKey(namespace: string | undefined, slug: string): string {
  return `${namespace ?? "default"}/${slug}`;
}

/** The discovery controller with its watches: whatever changes what a service publishes. */
export function newDiscoveryController(
  context: ControllerContext,
  mirror: DiscoveryCaches,
  passes?: DiscoveryReconciler,
): Controller {
  const { caches } = context;
  const reconciler = passes ?? new DiscoveryReconciler(context, mirror);
  const controller = controllerFor(
    context,
    DISCOVERY_CONTROLLER,
    reconciler,
    context.settings.definitionWorkers,
  );
  controller.for(caches.definitions, { updatePredicate: discoveryOfDefinitionMayDiffer });
  // External-only slugs and Services left by a run that stopped halfway are looked at on
  // (re)start too. The agent's status writes on the way to Ready change nothing read here.
  controller.reconcilesFrom(
    caches.instances,
    (i) => [slugKey(i.metadata.namespace, i.spec.definition)],
    discoveryOfInstanceMayDiffer,
  );
  // The echo of its own Service and slice writes wakes no pass (own-mirror-writes.ts);
  // anyone else's change, and every deletion, does.
  const serviceNews = (service: Service): boolean => reconciler.serviceNews(service);
  const sliceNews = (slice: EndpointSlice): boolean => reconciler.sliceNews(slice);
  controller.reconcilesFrom(
    mirror.services,
    (s) => [slugKey(s.metadata?.namespace, s.metadata?.name ?? "")],
    (_, service) => serviceNews(service),
    { addPredicate: serviceNews },
  );
  controller.watches(
    mirror.endpointSlices,
    (s) => {
      const slug = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      return slug ? [slugKey(s.metadata?.namespace, slug)] : [];
    },
    (_, slice) => sliceNews(slice),
    { addPredicate: sliceNews },
  );
  // A Node's readiness is its Instances' readiness; its heartbeats change nothing here.
  const nodeReadiness = new Map<string, boolean>();
  controller.watches(caches.nodes, (node) => {
    const name = node.metadata.name ?? "";
    const ready = nodeIsReady(caches.nodes.get(undefined, name));
    if (nodeReadiness.get(name) === ready) return [];
    if (caches.nodes.get(undefined, name)) nodeReadiness.set(name, ready);
    else nodeReadiness.delete(name);
    const keys = instancesOnNode(caches.instances, name).map((i) =>
      slugKey(i.metadata.namespace, i.spec.definition),
    );
    return [...new Set(keys)];
  });
  return controller;
}
