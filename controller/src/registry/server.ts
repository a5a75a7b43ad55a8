/**
 * The registry's HTTP API (see routes.ts for the table and openapi.ts for the contract):
 * the server and its routing. Each request is authenticated and authorized first
 * (caller-checks.ts), then served by the reads (service-reads.ts: lookup, blocking queries,
 * event streams) or the writes (registration-handlers.ts); the web index (web-assets.ts,
 * web-api.ts) gets the same checks.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../runtime/log.js";
import type { KubeAuthorizer } from "./auth.js";
import { clientOf, type Call } from "./call.js";
import { CallerChecks } from "./caller-checks.js";
import type { ServiceCatalog } from "./catalog.js";
import type { ExternalInstances } from "./external.js";
import { HttpError, sendError, sendJson } from "./http.js";
import type { WaitSlots } from "./limits.js";
import { registryOpenWaits, registryRequestDuration, registryRequests } from "./metrics.js";
import { openApiDocument } from "./openapi.js";
import { deregister, heartbeat, register } from "./registration-handlers.js";
import { matchRoute, type RouteId } from "./routes.js";
import { httpErrorOf } from "./server-errors.js";
import { ServiceReads } from "./service-reads.js";
import type { WebAssets } from "./web-assets.js";
import { WEB_API_PREFIX, type WebApi } from "./web-api.js";
import { checkInstanceName, checkNamespace, checkSlug, type TtlBounds } from "./validation.js";

export interface RegistryServerOptions {
  host: string;
  port: number;
  catalog: ServiceCatalog;
  authorizer: KubeAuthorizer;
  external: ExternalInstances;
  slots: WaitSlots;
  ttl: TtlBounds;
  maxWaitMs: number;
  maxBodyBytes: number;
  allowAnonymousLoopback: boolean;
  /** A stream whose unsent data passes this is dropped: a slow reader is not buffered for. */
  streamBufferBytes?: number;
  /** A comment line on idle streams, so proxies keep them open. */
  streamKeepaliveMs?: number;
  /**
   * How often an open stream's caller is checked again (token and RBAC, through the
   * authorizer's short cache): a revoked token or a removed RoleBinding ends the stream.
   */
  streamReauthorizeMs?: number;
  logger: Logger;
  /** The web index: its static page and its data routes (absent: not served). */
  web?: { assets: WebAssets; api: WebApi };
}

/** What a request's metrics record: the route it matched, and whether its duration counts. */
interface RequestRecord {
  routeId: RouteId | "unmatched" | "webPage" | "webData";
  timed: boolean;
}

export class RegistryServer {
  private server: http.Server | undefined;
  private readonly log: Logger;
  private readonly closing = new AbortController();
  private readonly checks: CallerChecks;
  private readonly reads: ServiceReads;

  constructor(private readonly options: RegistryServerOptions) {
    this.log = options.logger.child({ component: "registry-server" });
    this.checks = new CallerChecks(options.authorizer, options.allowAnonymousLoopback, this.log);
    this.reads = new ServiceReads({
      ...options,
      closing: this.closing.signal,
      stillAllowed: (call) => this.checks.stillAllowed(call),
      logger: this.log,
    });
  }

  async start(): Promise<{ host: string; port: number; url: string }> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    // A blocking query may last the longest wait; the socket must not time out first.
    server.requestTimeout = 0;
    server.headersTimeout = 30_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    this.log.info("serving the registry API", { url });
    return { host: address.address, port: address.port, url };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.closing.abort();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 1000).unref();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const record: RequestRecord = { routeId: "unmatched", timed: true };
    try {
      const url = new URL(req.url ?? "/", "http://registry");
      const web = this.options.web;
      if (web?.assets.has(url.pathname) && (req.method === "GET" || req.method === "HEAD")) {
        record.routeId = "webPage";
        web.assets.serve(req, res, url.pathname);
        return;
      }
      if (web && url.pathname.startsWith(WEB_API_PREFIX)) {
        record.routeId = "webData";
        record.timed = false;
        await this.handleWeb(req, res, url.pathname, web.api);
        return;
      }
      await this.handleApi(req, res, url, record);
    } catch (err) {
      const httpError = httpErrorOf(err, this.log);
      if (!res.headersSent) sendError(res, httpError);
      else res.destroy();
    } finally {
      registryRequests.inc({ route: record.routeId, code: String(res.statusCode) });
      if (record.timed)
        registryRequestDuration.observe({ route: record.routeId }, (performance.now() - startedAt) / 1000);
    }
  }

  /** An API request: its route, then the caller authenticated and authorized, then its handler. */
  private async handleApi(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    record: RequestRecord,
  ): Promise<void> {
    const match = matchRoute(req.method ?? "GET", url.pathname);
    if (match === undefined) throw new HttpError(404, `no route ${url.pathname}; see /v1/openapi.json`);
    if ("allowed" in match) {
      throw new HttpError(405, `${req.method} is not allowed here`, undefined, {
        Allow: match.allowed.join(", "),
      });
    }
    record.routeId = match.route.id;
    if (match.route.id === "getOpenApi") {
      sendJson(res, 200, openApiDocument());
      return;
    }
    if (!this.options.catalog.hasSynced()) {
      throw new HttpError(503, "the registry's caches have not synced yet", undefined, {
        "Retry-After": "1",
      });
    }
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const call: Call = {
      req,
      res,
      route: match.route,
      params: match.params,
      query: url.searchParams,
      caller: await this.checks.authenticate(req, match.route),
      gone: gone.signal,
    };
    const namespace = checkNamespace(call.params.namespace ?? "");
    const access = this.checks.accessOf(call, namespace);
    if (access) {
      call.access = access;
      await this.checks.authorize(call.caller, access);
    }
    // Blocking queries and streams last as long as the caller waits: their duration says nothing.
    record.timed = !(call.route.id === "streamService" || call.query.has("index"));
    await this.dispatch(call, namespace);
  }

  /** The web index's data: reads only, authenticated and authorized as the API is. */
  private async handleWeb(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
    api: WebApi,
  ): Promise<void> {
    if (req.method !== "GET")
      throw new HttpError(405, `${req.method} is not allowed here`, undefined, { Allow: "GET" });
    if (!this.options.catalog.hasSynced()) {
      throw new HttpError(503, "the registry's caches have not synced yet", undefined, {
        "Retry-After": "1",
      });
    }
    const caller = await this.checks.authenticate(req, { read: true });
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const abort = () => gone.abort();
    this.closing.signal.addEventListener("abort", abort, { once: true });
    res.once("close", () => this.closing.signal.removeEventListener("abort", abort));
    await api.handle({
      req,
      res,
      pathname,
      caller,
      gone: gone.signal,
      authorize: (access) => this.checks.authorize(caller, access),
      allowed: (access) => this.checks.allowed(caller, access),
      acquireSlot: () => {
        const release = this.options.slots.acquire(clientOf({ req, caller }));
        registryOpenWaits.inc({ kind: "stream" });
        return () => {
          release();
          registryOpenWaits.dec({ kind: "stream" });
        };
      },
    });
  }

  private async dispatch(call: Call, namespace: string): Promise<void> {
    switch (call.route.id) {
      case "listServices":
        return await this.reads.listServices(call, namespace);
      case "getService":
        return await this.reads.getService(call, namespace, checkSlug(call.params.slug ?? ""));
      case "streamService":
        return this.reads.streamService(call, namespace, checkSlug(call.params.slug ?? ""));
      case "registerInstance":
        return await register(this.options, call, namespace, checkSlug(call.params.slug ?? ""));
      case "heartbeatInstance": {
        const slug = checkSlug(call.params.slug ?? "");
        const name = checkInstanceName(call.params.name ?? "");
        return await heartbeat(this.options, call, namespace, slug, name);
      }
      case "deregisterInstance": {
        const slug = checkSlug(call.params.slug ?? "");
        const name = checkInstanceName(call.params.name ?? "");
        return await deregister(this.options, call, namespace, slug, name);
      }
      default:
        throw new HttpError(404, "no such route");
    }
  }
}
