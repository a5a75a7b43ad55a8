/**
 * The discovery mirror: for every service slug with a Definition or Instances (Berth-run
 * and external), a headless, selector-less Service of the same name and EndpointSlices
 * that list its Instances, so whatever speaks Kubernetes discovery (Prometheus'
 * kubernetes_sd_configs, CoreDNS, meshes, kubectl) finds services that run on Docker hosts.
 * docs/discovery.md says what users get.
 *
 * Keys are `<namespace>/<slug>`. A Service of that name that Berth did not make is never
 * touched: the Definition's Published condition and an Event say why nothing is published,
 * and Berth's own slices of that name go. What is written is rebuilt from the caches on
 * every pass and written only when it differs (planSlices), so a resync costs nothing.
 */
import type { Definition, Instance, Node } from "../../api/types.js";
import type { EndpointSlice, Service } from "../../kube/resources.js";
import { DEFINITIONS, ENDPOINT_SLICES, SERVICES } from "../../kube/resources.js";
import { isAlreadyExists, isNamespaceTerminating, isNotFound } from "../../kube/errors.js";
import { jsonEqual } from "../../kube/patch.js";
import type { ReconcileContext, Reconciler, Request, Result } from "../../runtime/controller.js";
import type { Informer } from "../../runtime/informer.js";
import { discoveryEndpoints, discoverySyncDuration, discoveryWrites } from "../metrics.js";
import { setCondition, getCondition } from "../../runtime/conditions.js";
import { CONDITIONS_ONLY, StatusApplier } from "../../runtime/status-apply.js";
import type { ControllerContext } from "../context.js";
import {
  SERVICE_NAME_LABEL,
  desiredService,
  endpointOf,
  isBerthService,
  ownerIdentities,
  ownerReferencesFor,
  planSlices,
  sameService,
  sameSlice,
  type PublishedEndpoint,
} from "./discovery.js";
import { SliceTracker } from "../slice-tracker.js";
import { instancesOfDefinition } from "../indexes.js";
import { refusalOf, serviceOwner, type Verdict } from "./publishing-verdict.js";
import { PublishedWrites } from "./published-writes.js";
import { PUBLISHED_CONDITION } from "./definition-changes.js";
import { OwnMirrorWrites } from "./own-mirror-writes.js";

export const DISCOVERY_CONTROLLER = "discovery";
export { PUBLISHED_CONDITION };
/** The field manager of discovery's Published condition (server-side apply). */
export const DISCOVERY_STATUS_MANAGER = "berth-discovery";

export interface DiscoveryCaches {
  /** Every Service in the watched namespaces: a clash with one Berth did not make must be seen. */
  services: Informer<Service>;
  /** Berth's EndpointSlices only (selected by endpointslice.kubernetes.io/managed-by). */
  endpointSlices: Informer<EndpointSlice>;
}

type SlicePlan = ReturnType<typeof planSlices>;

/** One slug as the caches show it, with the Service that is Berth's. */
interface SlugState {
  namespace: string;
  slug: string;
  key: string;
  definition: Definition | undefined;
  instances: readonly Instance[];
  slices: readonly EndpointSlice[];
  service: Service;
}

export class DiscoveryReconciler implements Reconciler {
  private readonly statusApplier: StatusApplier;
  /** Endpoints published per service key, for berth_discovery_endpoints. */
  private readonly published = new Map<string, { ready: number; notReady: number }>();
  /** This process' own slice writes, until the cache shows them. */
  private readonly tracker = new SliceTracker();
  private readonly publishedWrites = new PublishedWrites();
  /** This process' own Service and slice writes, until their watch events come. */
  readonly ownServices = new OwnMirrorWrites<Service>(sameService);
  readonly ownSlices = new OwnMirrorWrites<EndpointSlice>(sameSlice);

  constructor(
    private readonly context: ControllerContext,
    private readonly mirror: DiscoveryCaches,
  ) {
    this.statusApplier = new StatusApplier(context.client, DISCOVERY_STATUS_MANAGER, CONDITIONS_ONLY);
    this.ownServices.observeDeletions(mirror.services);
    this.ownSlices.observeDeletions(mirror.endpointSlices);
    this.tracker.observeDeletions(mirror.endpointSlices);
  }

  /** Whether a Service or slice event can change what a pass does: not the echo of a write of its own. */
  serviceNews(service: Service): boolean {
    return !this.ownServices.echoes(service, this.context.clock.now());
  }

  /** Or the echo a pass waits for, having found the cache behind the write. */
  sliceNews(slice: EndpointSlice): boolean {
    return !this.ownSlices.echoes(slice, this.context.clock.now()) || this.tracker.passWaits(slice);
  }

  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | void> {
    const namespace = request.namespace;
    if (!namespace) return;
    const startedAt = performance.now();
    try {
      return await this.sync(namespace, request.name, request.key, ctx);
    } finally {
      discoverySyncDuration.observe((performance.now() - startedAt) / 1000);
    }
  }

  private async sync(
    namespace: string,
    slug: string,
    key: string,
    ctx: ReconcileContext,
  ): Promise<Result | void> {
    const { caches } = this.context;
    const definition = caches.definitions.get(namespace, slug);
    const instances = instancesOfDefinition(caches.instances, namespace, slug);
    // A Service this process created that the cache does not show yet is there all the same.
    const service =
      this.mirror.services.get(namespace, slug) ?? this.ownServices.created(key, this.context.clock.now());
    this.mirror.endpointSlices.addIndex(SLICES_BY_SERVICE, slicesServiceValues);
    const slices = this.mirror.endpointSlices.byIndex(SLICES_BY_SERVICE, `${namespace}/${slug}`);
    // The cache does not show a slice write of ours yet: its watch event brings the next pass
    // (sliceNews), or the requeue's backoff.
    if (!this.tracker.caughtUp(key, slices, this.context.clock.now())) return { requeue: true };
    const wanted =
      (definition !== undefined && !definition.metadata.deletionTimestamp) || instances.length > 0;
    if (!wanted) {
      await this.withdraw(key, slices, service, ctx);
      return;
    }
    const refusal = refusalOf(namespace, slug, service);
    if (refusal) {
      await this.deleteSlices(key, slices);
      this.count(key, []);
      await this.report(definition, refusal);
      return;
    }
    let current: Service | undefined;
    try {
      current = await this.ensureService(namespace, slug, serviceOwner(definition, instances), service);
    } catch (err) {
      // The namespace is going: its deletion removes whatever is left, the Instances' too.
      if (isNamespaceTerminating(err)) return;
      throw err;
    }
    if (!current) return { requeue: true };
    return await this.publish({ namespace, slug, key, definition, instances, slices, service: current }, ctx);
  }

  /** Nothing of the slug is left: its slices go, and the Service when Berth made it. */
  private async withdraw(
    key: string,
    slices: readonly EndpointSlice[],
    service: Service | undefined,
    ctx: ReconcileContext,
  ): Promise<void> {
    await this.deleteSlices(key, slices);
    if (service && isBerthService(service)) {
      await this.delete(SERVICES, service);
      ctx.log.info("removed the Service of a service that is gone", {});
    }
    this.count(key, []);
    this.publishedWrites.forget(key);
  }

  /** Writes the slices that list the slug's Instances behind its Service, and says so. */
  private async publish(slug: SlugState, ctx: ReconcileContext): Promise<Result | void> {
    const { caches } = this.context;
    const nodeOf = (name: string): Node | undefined => caches.nodes.get(undefined, name);
    const desired = slug.instances
      .map((i) => endpointOf(i, nodeOf))
      .filter((e): e is PublishedEndpoint => e !== undefined);
    const plan = planSlices(
      {
        namespace: slug.namespace,
        slug: slug.slug,
        service: { name: slug.slug, uid: slug.service.metadata?.uid ?? "" },
      },
      desired,
      slug.slices,
    );
    const written = await this.writeSlices(slug.key, plan);
    if (written === "namespace-terminating") return;
    await this.deleteSlices(slug.key, plan.delete);
    if (plan.create.length + plan.update.length + plan.delete.length > 0) {
      ctx.log.debug("published endpoints", {
        created: plan.create.length,
        updated: plan.update.length,
        deleted: plan.delete.length,
      });
    }
    this.count(slug.key, plan.published);
    if (!slug.definition?.metadata.deletionTimestamp) {
      await this.report(slug.definition, {
        status: "True",
        reason: "Published",
        message: `the headless Service ${slug.slug} and its EndpointSlices list the Instances of ${slug.slug}`,
      });
    }
    return written === "retry" ? { requeue: true } : undefined;
  }

  /**
   * Creates and updates the plan's slices. "retry" when the cache was behind a write (look
   * again), "namespace-terminating" when the namespace is going (nothing more to write).
   */
  private async writeSlices(
    key: string,
    plan: Pick<SlicePlan, "create" | "update">,
  ): Promise<"done" | "retry" | "namespace-terminating"> {
    let retry = false;
    for (const slice of plan.create) {
      try {
        const created = await this.ownWrite(this.ownSlices, slice, () =>
          this.context.client.create(ENDPOINT_SLICES, slice),
        );
        this.tracker.wrote(key, created, this.context.clock.now());
        discoveryWrites.inc({ resource: "endpointslices", verb: "create" });
      } catch (err) {
        if (isNamespaceTerminating(err)) return "namespace-terminating";
        // The cache has not seen a slice this process wrote a moment ago: look again.
        if (!isAlreadyExists(err)) throw err;
        retry = true;
      }
    }
    for (const slice of plan.update) {
      try {
        const replaced = await this.ownWrite(this.ownSlices, slice, () =>
          this.context.client.replace(ENDPOINT_SLICES, slice),
        );
        this.tracker.wrote(key, replaced, this.context.clock.now());
        discoveryWrites.inc({ resource: "endpointslices", verb: "update" });
      } catch (err) {
        // Deleted by someone else (its Service's garbage collection, the namespace's
        // deletion) since the cache saw it: the next pass sees that.
        if (!isNotFound(err)) throw err;
        retry = true;
      }
    }
    return retry ? "retry" : "done";
  }

  /** One write, noted as discovery's own until its watch event comes. */
  private async ownWrite<T extends Service | EndpointSlice>(
    own: OwnMirrorWrites<T>,
    sent: T,
    write: () => Promise<T>,
  ): Promise<T> {
    own.writing(sent, this.context.clock.now());
    try {
      const answer = await write();
      own.wrote(sent, answer);
      return answer;
    } catch (err) {
      own.refused(sent);
      throw err;
    }
  }

  /** The Service as it should be, or undefined when the cache is behind a create (requeue). */
  private async ensureService(
    namespace: string,
    slug: string,
    owner: Definition | undefined,
    service: Service | undefined,
  ): Promise<Service | undefined> {
    const { client } = this.context;
    if (!service) {
      try {
        const desired = desiredService(namespace, slug, owner);
        const created = await this.ownWrite(this.ownServices, desired, () =>
          client.create(SERVICES, desired),
        );
        discoveryWrites.inc({ resource: "services", verb: "create" });
        return created;
      } catch (err) {
        if (isAlreadyExists(err)) return undefined;
        throw err;
      }
    }
    const owners = ownerReferencesFor(owner);
    const have = service.metadata?.ownerReferences ?? [];
    if (jsonEqual(ownerIdentities(have), ownerIdentities(owners))) return service;
    const owned: Service = { ...service, metadata: { ...service.metadata, ownerReferences: owners } };
    const patched = await this.ownWrite(this.ownServices, owned, () =>
      client.mergePatch(
        SERVICES,
        { namespace, name: slug },
        {
          metadata: {
            resourceVersion: service.metadata?.resourceVersion ?? "",
            ownerReferences: owners.length > 0 ? owners : null,
          },
        },
      ),
    );
    discoveryWrites.inc({ resource: "services", verb: "patch" });
    return patched;
  }

  private async deleteSlices(key: string, slices: readonly EndpointSlice[]): Promise<void> {
    for (const slice of slices) {
      await this.delete(ENDPOINT_SLICES, slice);
      this.tracker.deleted(key, slice, this.context.clock.now());
    }
  }

  private async delete(
    resource: typeof SERVICES | typeof ENDPOINT_SLICES,
    obj: Service | EndpointSlice,
  ): Promise<void> {
    try {
      await this.context.client.delete(
        resource,
        { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" },
        { preconditions: { uid: obj.metadata?.uid ?? "" } },
      );
      discoveryWrites.inc({ resource: resource.plural, verb: "delete" });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Sets the Definition's Published condition when it changed; an Event when it turns False. */
  private async report(definition: Definition | undefined, verdict: Verdict): Promise<void> {
    if (!definition || this.publishedWrites.saidAlready(definition, verdict)) return;
    const before = definition.status?.conditions;
    const conditions = setCondition(
      before,
      { type: PUBLISHED_CONDITION, ...verdict },
      this.context.clock.now(),
    );
    const published = getCondition(conditions, PUBLISHED_CONDITION)!;
    // Only this controller's condition: the Definition controller writes the rest.
    const updated = await this.statusApplier.apply(DEFINITIONS, definition, { conditions: [published] });
    if (!updated) return;
    this.publishedWrites.wrote(definition, updated, this.context.clock.now());
    discoveryWrites.inc({ resource: "definitions/status", verb: "patch" });
    const previous = getCondition(before, PUBLISHED_CONDITION);
    if (verdict.status === "False" && previous?.reason !== verdict.reason) {
      this.context.events.event(definition, "Warning", verdict.reason, verdict.message);
    }
  }

  private count(key: string, slices: readonly EndpointSlice[]): void {
    const endpoints = slices.flatMap((s) => s.endpoints ?? []);
    const ready = endpoints.filter((e) => e.conditions?.ready === true).length;
    if (endpoints.length === 0) this.published.delete(key);
    else this.published.set(key, { ready, notReady: endpoints.length - ready });
    let allReady = 0;
    let allNotReady = 0;
    for (const counts of this.published.values()) {
      allReady += counts.ready;
      allNotReady += counts.notReady;
    }
    discoveryEndpoints.set({ ready: "true" }, allReady);
    discoveryEndpoints.set({ ready: "false" }, allNotReady);
  }
}

/** A service's EndpointSlices by namespace/service name: a pass reads its own, not the namespace's. */
const SLICES_BY_SERVICE = "slices-by-service";
function slicesServiceValues(slice: EndpointSlice): string[] {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  return service === undefined ? [] : [`${slice.metadata?.namespace ?? ""}/${service}`];
}
