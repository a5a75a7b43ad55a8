/**
 * The registry role: the HTTP face of the registry for services. Every replica serves from
 * its own informer caches (Definitions, Instances, Nodes) and holds no leader lease; the
 * expiry of external Instances runs on every replica with write preconditions.
 */
import { API_VERSION } from "../api/types.js";
import { DEFINITIONS, EVENTS, INSTANCES, NODES } from "../kube/resources.js";
import { type KubeClient } from "../kube/client.js";
import { realClock, type Clock } from "../runtime/clock.js";
import { errorFields, nullLogger, type Logger } from "../runtime/log.js";
import { Manager } from "../runtime/manager.js";
import { PeriodicTask } from "../runtime/runnable.js";
import { KubeAuthorizer } from "./auth.js";
import { ServiceCatalog } from "./catalog.js";
import { ExternalInstances } from "./external.js";
import { WaitSlots } from "./limits.js";
import { presetRegistryMetrics } from "./metrics.js";
import { RegistryServer } from "./server.js";
import { WebApi } from "./web-api.js";
import { WebAssets } from "./web-assets.js";
import { DEFAULT_REGISTRY_SETTINGS, type RegistrySettings } from "./flags.js";

/** An endpoint's document is read for the web index within this time and size. */
export const DOCUMENT_TIMEOUT_MS = 5000;
export const DOCUMENT_MAX_BYTES = 1024 * 1024;

export interface StartRegistryOptions extends Partial<RegistrySettings> {
  /** Only this namespace's Definitions and Instances are served; empty: every namespace. */
  watchNamespace?: string;
}

export interface RegistryDeps {
  client: KubeClient;
  clock?: Clock;
  logger?: Logger;
}

export interface RegistryHandle {
  /** http://host:port of the API. */
  url: string;
  manager: Manager;
  catalog: ServiceCatalog;
  synced(signal?: AbortSignal): Promise<boolean>;
  stop(): Promise<void>;
  done: Promise<void>;
}

export async function startRegistry(
  options: StartRegistryOptions,
  deps: RegistryDeps,
): Promise<RegistryHandle> {
  const settings: RegistrySettings = { ...DEFAULT_REGISTRY_SETTINGS, ...stripUndefined(options) };
  const clock = deps.clock ?? realClock;
  const logger = (deps.logger ?? nullLogger).child({ role: "registry" });
  presetRegistryMetrics();
  const manager = new Manager({ client: deps.client, clock, logger });
  const scope = options.watchNamespace ? { namespace: options.watchNamespace } : {};
  const caches = {
    definitions: manager.informer(DEFINITIONS, scope),
    instances: manager.informer(INSTANCES, scope),
    nodes: manager.informer(NODES),
  };
  const catalog = new ServiceCatalog(caches);
  // Events about Berth's objects only (Definitions, Instances, Nodes), for the web index.
  const events = manager.informer(EVENTS, { ...scope, fieldSelector: `regarding.apiVersion=${API_VERSION}` });
  const web = {
    assets: new WebAssets(),
    api: new WebApi({
      caches: { ...caches, events },
      document: { timeoutMs: DOCUMENT_TIMEOUT_MS, maxBytes: DOCUMENT_MAX_BYTES },
      logger,
    }),
  };
  const external = new ExternalInstances({ client: deps.client, instances: caches.instances, clock, logger });
  manager.add(external.controller);
  const server = newServer(settings, { client: deps.client, clock, logger, catalog, external, web });
  manager.addRunnable(
    new PeriodicTask({ name: "external-instances-gauge", clock, intervalMs: 5000 }, async () =>
      external.updateGauge(),
    ),
  );
  const served = await server.start();
  const abort = new AbortController();
  const done = manager.start(abort.signal).catch((err: unknown) => {
    logger.error("registry role stopped with an error", errorFields(err));
    throw err;
  });
  return {
    url: served.url,
    manager,
    catalog,
    synced: async (signal) => {
      for (const informer of [...Object.values(caches), events]) {
        if (!(await informer.waitForSync(signal))) return false;
      }
      return catalog.hasSynced();
    },
    stop: async () => {
      await server.stop();
      abort.abort();
      await done;
    },
    done,
  };
}

function newServer(
  settings: RegistrySettings,
  parts: {
    client: KubeClient;
    clock: Clock;
    logger: Logger;
    catalog: ServiceCatalog;
    external: ExternalInstances;
    web: { assets: WebAssets; api: WebApi };
  },
): RegistryServer {
  const { client, clock } = parts;
  return new RegistryServer({
    host: settings.host,
    port: settings.port,
    catalog: parts.catalog,
    authorizer: new KubeAuthorizer({
      client,
      clock,
      cacheTtlMs: settings.authCacheTtlMs,
      cacheSize: settings.authCacheSize,
    }),
    external: parts.external,
    slots: new WaitSlots({
      total: settings.maxWaits,
      perClient: settings.maxWaitsPerClient,
      retryAfterSeconds: 5,
    }),
    ttl: settings.ttl,
    maxWaitMs: settings.maxWaitMs,
    maxBodyBytes: settings.maxBodyBytes,
    allowAnonymousLoopback: settings.allowAnonymousLoopback,
    streamBufferBytes: settings.streamBufferBytes,
    streamReauthorizeMs: settings.streamRecheckMs,
    logger: parts.logger,
    web: parts.web,
  });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
