/**
 * External Instances: self-registration, heartbeats, expiry.
 *
 * An external Instance with a TTL is ready until `status.renewTime + ttlSeconds`. A
 * heartbeat is kept in this replica's memory and written to the API server only when it
 * matters for readiness:
 *  - at once when the Instance is not ready (a first beat, or one after an expiry);
 *  - otherwise shortly before the recorded renewTime would expire (a margin of a quarter of
 *    the TTL, between 0.5 s and 5 s), and then with the latest beat received.
 * So a client beating every TTL/3 costs about one write per (TTL - margin), not one per beat,
 * and readiness still ends exactly TTL after the last beat this replica recorded. Every
 * replica runs the expiry: past renewTime + TTL the Instance is marked not ready, past
 * renewTime + 3 × TTL it is deleted; the writes carry resourceVersion preconditions, so two
 * replicas doing it at once cost one conflict, not a double delete.
 */
import { randomBytes } from "node:crypto";
import type { Instance, InstanceStatus } from "../api/types.js";
import { API_VERSION } from "../api/types.js";
import { LABELS } from "../api/vocabulary.js";
import { isExternalInstance } from "../api/vocabulary.js";
import type { KubeClient } from "../kube/client.js";
import { getOrUndefined, isConflict, isNotFound } from "../kube/errors.js";
import { INSTANCES } from "../kube/resources.js";
import type { Clock } from "../runtime/clock.js";
import {
  Controller,
  type ReconcileContext,
  type Reconciler,
  type Request,
  type Result,
} from "../runtime/controller.js";
import type { Informer } from "../runtime/informer.js";
import { objectKey } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import { HttpError } from "./http.js";
import {
  registryExpirations,
  registryExternalInstances,
  registryHeartbeatWrites,
  registryHeartbeats,
} from "./metrics.js";
import { hostPortOf } from "../api/instance-entry.js";
import type { Registration } from "./validation.js";

/** After this many TTLs without a heartbeat an external Instance is deleted. */
export const GRACE_TTLS = 3;
export const REGISTERED_BY_ANNOTATION = "berth.dev/registered-by";
const MANAGED_BY_REGISTRY = "berth-registry";

/** How long before the recorded beat expires this replica writes a newer one. */
export function flushMarginMs(ttlMs: number): number {
  return Math.min(5000, Math.max(500, ttlMs / 4));
}

/** Readiness deadline math of one external Instance, from its object alone. */
export function recordedRenewal(instance: Instance): number {
  const stamp = instance.status?.renewTime ?? instance.metadata.creationTimestamp ?? "";
  return Date.parse(stamp) || 0;
}

export interface ExternalOptions {
  client: KubeClient;
  instances: Informer<Instance>;
  clock: Clock;
  logger: Logger;
}

export class ExternalInstances implements Reconciler {
  /** Beats this replica received and has not written: key -> time of the latest one. */
  private readonly beats = new Map<string, number>();
  readonly controller: Controller;

  constructor(private readonly options: ExternalOptions) {
    this.controller = new Controller({
      name: "registry-external",
      reconciler: this,
      clock: options.clock,
      logger: options.logger,
      workers: 2,
    });
    this.controller.for(options.instances);
  }

  /** Creates the Instance and records its first heartbeat; returns it. */
  async register(
    namespace: string,
    slug: string,
    registration: Registration,
    registeredBy: string,
  ): Promise<Instance> {
    const { client, clock } = this.options;
    const external: NonNullable<Instance["spec"]["external"]> = {
      url: registration.url,
      ttlSeconds: registration.ttlSeconds,
    };
    if (registration.metadata) external.metadata = registration.metadata;
    const created = await client.create(INSTANCES, {
      apiVersion: API_VERSION,
      kind: "Instance",
      metadata: {
        // The slug part is cut so the name stays a valid label-length name.
        name: `${slug.slice(0, 48).replace(/-+$/, "")}-ext-${randomBytes(5).toString("hex")}`,
        namespace,
        labels: { [LABELS.definition]: slug, [LABELS.managedBy]: MANAGED_BY_REGISTRY },
        annotations: { [REGISTERED_BY_ANNOTATION]: registeredBy },
      },
      spec: { definition: slug, external },
    });
    try {
      // No precondition: the expiry loop may already have written the same readiness for the
      // object this call just created, and a conflict here would only delay the answer.
      return await this.writeStatus(created, clock.now(), true, false);
    } catch (err) {
      // The object exists; the expiry loop writes its status, and a heartbeat retries it.
      this.options.logger.warn("writing the first status of a registered instance failed", {
        namespace,
        name: created.metadata.name,
        error: err instanceof Error ? err.message : String(err),
      });
      this.controller.enqueue(objectKey(created));
      return created;
    }
  }

  /** Records a heartbeat; writes it only when readiness needs it (see the file comment). */
  async heartbeat(namespace: string, slug: string, name: string): Promise<Instance> {
    registryHeartbeats.inc();
    try {
      return await this.beat(await this.externalOf(namespace, slug, name));
    } catch (err) {
      // The cached object was behind the API server's: once more from a fresh read.
      if (!isConflict(err)) throw err;
      return await this.beat(await this.externalOf(namespace, slug, name, true));
    }
  }

  private async beat(instance: Instance): Promise<Instance> {
    const now = this.options.clock.now();
    const key = objectKey(instance);
    const ttlMs = (instance.spec.external?.ttlSeconds ?? 0) * 1000;
    if (ttlMs === 0) return instance;
    const recorded = recordedRenewal(instance);
    const ready = instance.status?.ready === true && now < recorded + ttlMs;
    if (!ready || now >= recorded + ttlMs - flushMarginMs(ttlMs)) {
      this.beats.delete(key);
      registryHeartbeatWrites.inc();
      return await this.writeStatus(instance, now, true);
    }
    this.beats.set(key, now);
    this.controller.enqueueAfter(key, recorded + ttlMs - flushMarginMs(ttlMs) - now);
    return instance;
  }

  /** Deletes an external Instance; a Berth-run one is never touched here. */
  async deregister(namespace: string, slug: string, name: string): Promise<void> {
    const instance = await this.externalOf(namespace, slug, name);
    this.beats.delete(objectKey(instance));
    try {
      await this.options.client.delete(
        INSTANCES,
        { namespace, name },
        { preconditions: { uid: instance.metadata.uid ?? "" } },
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Expiry and status of one external Instance. */
  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | void> {
    const { instances, clock, client } = this.options;
    const instance = instances.get(request.namespace, request.name);
    if (!instance || !isExternalInstance(instance)) {
      this.beats.delete(request.key);
      return;
    }
    if (instance.metadata.deletionTimestamp !== undefined) return;
    const now = clock.now();
    const ttlSeconds = instance.spec.external?.ttlSeconds;
    if (ttlSeconds === undefined) {
      // A fixed endpoint: ready as declared; its status says so for kubectl.
      if (instance.status?.ready !== true || !instance.status.address)
        await this.writeStatus(instance, undefined, true);
      return;
    }
    const ttlMs = ttlSeconds * 1000;
    const recorded = recordedRenewal(instance);
    const unwritten = this.beats.get(request.key);
    const margin = flushMarginMs(ttlMs);
    if (unwritten !== undefined && unwritten > recorded) {
      if (now >= recorded + ttlMs - margin) {
        this.beats.delete(request.key);
        registryHeartbeatWrites.inc();
        await this.writeStatus(instance, unwritten, true);
        return;
      }
      return { requeueAfterMs: recorded + ttlMs - margin - now };
    }
    if (now < recorded + ttlMs) {
      if (instance.status?.ready !== true) await this.writeStatus(instance, recorded, true);
      return { requeueAfterMs: recorded + ttlMs - now };
    }
    if (now < recorded + GRACE_TTLS * ttlMs) {
      if (instance.status?.ready !== false) {
        await this.writeStatus(instance, recorded, false);
        registryExpirations.inc({ action: "not-ready" });
        ctx.log.info("external instance expired", { ttlSeconds });
      }
      return { requeueAfterMs: recorded + GRACE_TTLS * ttlMs - now };
    }
    try {
      await client.delete(
        INSTANCES,
        { namespace: request.namespace, name: request.name },
        {
          preconditions: {
            uid: instance.metadata.uid ?? "",
            resourceVersion: instance.metadata.resourceVersion ?? "",
          },
        },
      );
      registryExpirations.inc({ action: "deleted" });
      ctx.log.info("external instance deleted after its grace period", { ttlSeconds });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  /** Counts external Instances for berth_registry_external_instances. */
  updateGauge(): void {
    let ready = 0;
    let notReady = 0;
    for (const instance of this.options.instances.list()) {
      if (!isExternalInstance(instance)) continue;
      if (instance.spec.external?.ttlSeconds === undefined || instance.status?.ready === true) ready++;
      else notReady++;
    }
    registryExternalInstances.set({ ready: "true" }, ready);
    registryExternalInstances.set({ ready: "false" }, notReady);
  }

  /** The external Instance of the slug: from the cache, else from the API server (a cache lags a create). */
  private async externalOf(namespace: string, slug: string, name: string, fresh = false): Promise<Instance> {
    const cached = fresh ? undefined : this.options.instances.get(namespace, name);
    const instance =
      cached ?? (await getOrUndefined(() => this.options.client.get(INSTANCES, { namespace, name })));
    if (!instance || !isExternalInstance(instance) || instance.spec.definition !== slug) {
      throw new HttpError(
        404,
        `no external instance "${name}" of service "${slug}" in namespace "${namespace}"`,
      );
    }
    if (instance.metadata.deletionTimestamp !== undefined) {
      throw new HttpError(404, `external instance "${name}" of service "${slug}" is being deleted`);
    }
    return instance;
  }

  private async writeStatus(
    instance: Instance,
    renewAt: number | undefined,
    ready: boolean,
    precondition = true,
  ): Promise<Instance> {
    const external = instance.spec.external!;
    const where = hostPortOf(external.url);
    const status: InstanceStatus = {
      phase: "Running",
      ready,
      message: ready
        ? external.ttlSeconds === undefined
          ? "external instance, ready as declared"
          : "external instance, heartbeats arriving"
        : `external instance, no heartbeat for ${external.ttlSeconds} s: not ready; deleted ${GRACE_TTLS * (external.ttlSeconds ?? 0)} s after the last one`,
    };
    if (where) status.address = { url: external.url, host: where.host, port: where.port };
    if (renewAt !== undefined) status.renewTime = new Date(renewAt).toISOString();
    return await this.options.client.patchStatus(
      INSTANCES,
      { namespace: instance.metadata.namespace, name: instance.metadata.name ?? "" },
      precondition
        ? { metadata: { resourceVersion: instance.metadata.resourceVersion }, status }
        : { status },
    );
  }
}
