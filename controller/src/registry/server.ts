/**
 * The registry's HTTP API (see routes.ts for the table and openapi.ts for the contract):
 * authentication and authorization first, then lookup, blocking queries, event streams and
 * self-registration; and the web index (web-assets.ts, web-api.ts) with the same checks.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../runtime/log.js";
import type { KubeAuthorizer } from "./auth.js";
import { ReviewUnavailableError, describeDenial, type Access, type Caller } from "./auth.js";
import type { ServiceAnswer, ServiceCatalog, ServiceKey } from "./catalog.js";
import { namespaceKey, serviceKey } from "./catalog.js";
import type { ExternalInstances } from "./external.js";
import {
  HttpError,
  bearerToken,
  fromLoopback,
  readJsonBody,
  sendError,
  sendJson,
  sendPayload,
} from "./http.js";
import type { WaitSlots } from "./limits.js";
import {
  registryOpenWaits,
  registryRequestDuration,
  registryRequests,
  registryStreamRechecks,
} from "./metrics.js";
import { openApiDocument } from "./openapi.js";
import { matchRoute, type Route, type RouteId } from "./routes.js";
import { httpErrorOf, unauthorized } from "./server-errors.js";
import type { WebAssets } from "./web-assets.js";
import { WEB_API_PREFIX, type WebApi } from "./web-api.js";
import {
  blockingParams,
  checkInstanceName,
  checkNamespace,
  checkSlug,
  includeAll,
  parseRegistration,
  type TtlBounds,
} from "./validation.js";

export const INDEX_HEADER = "X-Berth-Index";
const MAX_CACHED_ANSWERS = 10_000;

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

interface Call {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  route: Route;
  params: Record<string, string>;
  query: URLSearchParams;
  caller: Caller;
  /** What the route needs of RBAC, when it needs anything. */
  access?: Access;
  /** Aborted when the client goes away. */
  gone: AbortSignal;
}

export class RegistryServer {
  private server: http.Server | undefined;
  private readonly log: Logger;
  private readonly closing = new AbortController();
  /**
   * Serialized lookup answers by service and include mode, valid while the service's index
   * is the one they were made at: a lookup of an unchanged service costs no recomputation.
   */
  private readonly answers = new Map<string, { index: number; payload: string }>();

  constructor(private readonly options: RegistryServerOptions) {
    this.log = options.logger.child({ component: "registry-server" });
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
    let routeId: RouteId | "unmatched" | "webPage" | "webData" = "unmatched";
    let timed = true;
    try {
      const url = new URL(req.url ?? "/", "http://registry");
      const web = this.options.web;
      if (web?.assets.has(url.pathname) && (req.method === "GET" || req.method === "HEAD")) {
        routeId = "webPage";
        web.assets.serve(req, res, url.pathname);
        return;
      }
      if (web && url.pathname.startsWith(WEB_API_PREFIX)) {
        routeId = "webData";
        timed = false;
        await this.handleWeb(req, res, url.pathname, web.api);
        return;
      }
      const match = matchRoute(req.method ?? "GET", url.pathname);
      if (match === undefined) throw new HttpError(404, `no route ${url.pathname}; see /v1/openapi.json`);
      if ("allowed" in match) {
        throw new HttpError(405, `${req.method} is not allowed here`, undefined, {
          Allow: match.allowed.join(", "),
        });
      }
      routeId = match.route.id;
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
        caller: await this.authenticate(req, match.route),
        gone: gone.signal,
      };
      const namespace = checkNamespace(call.params.namespace ?? "");
      const access = this.accessOf(call, namespace);
      if (access) {
        call.access = access;
        await this.authorize(call.caller, access);
      }
      timed = !(call.route.id === "streamService" || call.query.has("index"));
      await this.dispatch(call, namespace);
    } catch (err) {
      const httpError = httpErrorOf(err, this.log);
      if (!res.headersSent) sendError(res, httpError);
      else res.destroy();
    } finally {
      registryRequests.inc({ route: routeId, code: String(res.statusCode) });
      if (timed) registryRequestDuration.observe({ route: routeId }, (performance.now() - startedAt) / 1000);
    }
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
    const caller = await this.authenticate(req, { read: true });
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
      authorize: (access) => this.authorize(caller, access),
      allowed: async (access) =>
        caller.anonymous || (await this.options.authorizer.authorize(caller, access)).allowed,
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

  private async authenticate(req: http.IncomingMessage, route: Pick<Route, "read">): Promise<Caller> {
    const token = bearerToken(req);
    if (token === undefined) throw unauthorized('the Authorization header must be "Bearer <token>"');
    if (token === "") {
      if (this.options.allowAnonymousLoopback && route.read && fromLoopback(req)) {
        return { username: "system:anonymous", groups: [], anonymous: true };
      }
      throw unauthorized(
        "a bearer token is required (a ServiceAccount token, e.g. from kubectl create token)",
      );
    }
    const caller = await this.options.authorizer.authenticate(token);
    if (!caller) throw unauthorized("the bearer token was not accepted by the API server");
    return caller;
  }

  private accessOf(call: Call, namespace: string): Access | undefined {
    const needs = call.route.access;
    if (!needs) return undefined;
    const access: Access = { verb: needs.verb, resource: needs.resource, namespace };
    if (needs.named === "slug") access.name = checkSlug(call.params.slug ?? "");
    if (needs.named === "name") access.name = checkInstanceName(call.params.name ?? "");
    return access;
  }

  private async authorize(caller: Caller, access: Access): Promise<void> {
    // Anonymous loopback reads are allowed by the operator's flag, not by RBAC.
    if (caller.anonymous) return;
    const decision = await this.options.authorizer.authorize(caller, access);
    if (!decision.allowed) throw new HttpError(403, `forbidden: ${describeDenial(caller, access)}`);
  }

  private async dispatch(call: Call, namespace: string): Promise<void> {
    switch (call.route.id) {
      case "listServices":
        return await this.listServices(call, namespace);
      case "getService":
        return await this.getService(call, namespace, checkSlug(call.params.slug ?? ""));
      case "streamService":
        return this.streamService(call, namespace, checkSlug(call.params.slug ?? ""));
      case "registerInstance":
        return await this.register(call, namespace, checkSlug(call.params.slug ?? ""));
      case "heartbeatInstance": {
        const slug = checkSlug(call.params.slug ?? "");
        const name = checkInstanceName(call.params.name ?? "");
        const instance = await this.options.external.heartbeat(namespace, slug, name);
        sendJson(call.res, 200, { name, ttlSeconds: instance.spec.external?.ttlSeconds ?? null });
        return;
      }
      case "deregisterInstance": {
        const slug = checkSlug(call.params.slug ?? "");
        await this.options.external.deregister(namespace, slug, checkInstanceName(call.params.name ?? ""));
        call.res.writeHead(204).end();
        return;
      }
      default:
        throw new HttpError(404, "no such route");
    }
  }

  private async listServices(call: Call, namespace: string): Promise<void> {
    const blocking = blockingParams(call.query, this.options.maxWaitMs);
    if (!(await this.parkUntilChanged(call, namespaceKey(namespace), blocking))) return;
    const answer = this.options.catalog.services(namespace);
    const index = Math.max(answer.index, blocking.index ?? 0);
    sendJson(
      call.res,
      200,
      { namespace, index, services: answer.services },
      { [INDEX_HEADER]: String(index) },
    );
  }

  /**
   * A blocking query (`?index=N&wait=D`) waits here until the key's index passes N or the
   * wait runs out; false when the client went away meanwhile (nothing to answer).
   */
  private async parkUntilChanged(
    call: Call,
    key: ServiceKey,
    blocking: { index?: number; waitMs: number },
  ): Promise<boolean> {
    if (blocking.index === undefined || blocking.waitMs <= 0) return true;
    const release = this.options.slots.acquire(clientOf(call));
    registryOpenWaits.inc({ kind: "blocking" });
    try {
      const signal = AbortSignal.any([call.gone, this.closing.signal, AbortSignal.timeout(blocking.waitMs)]);
      await this.options.catalog.waitForChange(key, blocking.index, signal);
    } finally {
      release();
      registryOpenWaits.dec({ kind: "blocking" });
    }
    return !call.gone.aborted;
  }

  private async getService(call: Call, namespace: string, slug: string): Promise<void> {
    const all = includeAll(call.query);
    const blocking = blockingParams(call.query, this.options.maxWaitMs);
    const { catalog } = this.options;
    if (!(await this.parkUntilChanged(call, serviceKey(namespace, slug), blocking))) return;
    const key = serviceKey(namespace, slug);
    const current = catalog.indexOfKey(key);
    const cacheKey = `${key} ${all}`;
    const cached = this.answers.get(cacheKey);
    if (cached?.index === current && (blocking.index ?? 0) <= current) {
      sendPayload(call.res, 200, cached.payload, { [INDEX_HEADER]: String(current) });
      return;
    }
    const answer = catalog.service(namespace, slug);
    const index = Math.max(answer.index, blocking.index ?? 0);
    const headers = { [INDEX_HEADER]: String(index) };
    if (answer.instances.length === 0 && !answer.defined) {
      sendError(
        call.res,
        new HttpError(
          404,
          `service "${slug}" not found in namespace "${namespace}": no Definition and no registered instance has this slug`,
          "slug",
          headers,
        ),
      );
      return;
    }
    const payload = JSON.stringify(lookupBody(answer, index, all));
    if (index === answer.index) {
      // Bounded by the services that exist (only found ones are kept); a full cache starts over.
      if (this.answers.size >= MAX_CACHED_ANSWERS) this.answers.clear();
      this.answers.set(cacheKey, { index, payload });
    }
    sendPayload(call.res, 200, payload, headers);
  }

  private streamService(call: Call, namespace: string, slug: string): void {
    const all = includeAll(call.query);
    const release = this.options.slots.acquire(clientOf(call));
    const { res } = call;
    const { catalog } = this.options;
    const maxBuffered = this.options.streamBufferBytes ?? 256 * 1024;
    registryOpenWaits.inc({ kind: "stream" });
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    const key = serviceKey(namespace, slug);
    const lastSeen = Number(call.req.headers["last-event-id"] ?? "");
    let sentIndex = Number.isInteger(lastSeen) && lastSeen > 0 ? lastSeen : -1;
    const send = (): void => {
      const answer = catalog.service(namespace, slug);
      if (answer.index <= sentIndex) return;
      sentIndex = answer.index;
      // A reader that does not keep up is dropped; it reconnects with Last-Event-ID.
      if (res.writableLength > maxBuffered) {
        this.log.info("dropping a slow event stream reader", { namespace, slug });
        res.destroy();
        return;
      }
      const body = lookupBody(answer, answer.index, all);
      res.write(`id: ${answer.index}\nevent: instances\ndata: ${JSON.stringify(body)}\n\n`);
    };
    const unsubscribe = catalog.subscribe(key, send);
    const keepalive = setInterval(
      () => res.write(": keepalive\n\n"),
      this.options.streamKeepaliveMs ?? 15_000,
    );
    const recheck = setInterval(
      () => void this.stillAllowed(call).then((allowed) => allowed || res.end()),
      this.options.streamReauthorizeMs ?? 30_000,
    );
    const end = (): void => {
      clearInterval(keepalive);
      clearInterval(recheck);
      unsubscribe();
      release();
      registryOpenWaits.dec({ kind: "stream" });
    };
    res.once("close", end);
    this.closing.signal.addEventListener("abort", () => res.end(), { once: true });
    send();
  }

  private async register(call: Call, namespace: string, slug: string): Promise<void> {
    const body = await readJsonBody(call.req, this.options.maxBodyBytes);
    const registration = parseRegistration(body, this.options.ttl);
    const instance = await this.options.external.register(
      namespace,
      slug,
      registration,
      call.caller.username,
    );
    const name = instance.metadata.name ?? "";
    sendJson(
      call.res,
      201,
      { name, namespace, slug, url: registration.url, ttlSeconds: registration.ttlSeconds },
      { Location: `/v1/namespaces/${namespace}/services/${slug}/instances/${name}` },
    );
  }

  /**
   * Whether a stream's caller may still read it. On a refusal the stream gets an `error`
   * event saying why before it ends; when the API server cannot answer, the stream goes on
   * (an outage of reviews does not cut every reader off) and is checked again next time.
   */
  private async stillAllowed(call: Call): Promise<boolean> {
    try {
      const caller = await this.authenticate(call.req, call.route);
      if (call.access) await this.authorize(caller, call.access);
      registryStreamRechecks.inc({ result: "allowed" });
      return true;
    } catch (err) {
      if (err instanceof ReviewUnavailableError) {
        registryStreamRechecks.inc({ result: "unavailable" });
        return true;
      }
      registryStreamRechecks.inc({ result: "refused" });
      const refusal = httpErrorOf(err, this.log);
      this.log.info("ending an event stream whose caller is no longer allowed", {
        code: refusal.status,
        path: call.req.url,
      });
      if (!call.res.writableEnded) {
        call.res.write(
          `event: error\ndata: ${JSON.stringify({ code: refusal.status, message: refusal.message })}\n\n`,
        );
      }
      return false;
    }
  }
}

/** Who holds wait slots: the authenticated user, or the peer address of an anonymous one. */
function clientOf(call: Pick<Call, "req" | "caller">): string {
  return call.caller.anonymous
    ? `anonymous@${call.req.socket.remoteAddress ?? ""}`
    : `user:${call.caller.username}`;
}

function lookupBody(answer: ServiceAnswer, index: number, all: boolean): object {
  return {
    slug: answer.slug,
    namespace: answer.namespace,
    index,
    instances: all ? answer.instances : answer.instances.filter((i) => i.ready),
  };
}
