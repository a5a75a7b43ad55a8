/**
 * The web index's data: event streams of the views in web-views.ts (the services of a
 * namespace, one service, the Nodes), the namespaces a caller may list, and an `openapi`
 * endpoint's operations. Served by the registry's server with the same authentication;
 * each route needs what the matching kubectl read would (listed in docs/registry.md).
 * Streams send the whole view whenever an informer event changed it, so a reconnect loses
 * nothing; a view that did not change is not sent again.
 */
import type http from "node:http";
import type { Definition, Instance, Node } from "../api/types.js";
import type { KubeEvent } from "../kube/resources.js";
import type { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import type { Access, Caller } from "./auth.js";
import {
  documentUrl,
  fetchEndpointDocument,
  type EndpointDocument,
  type FetchBounds,
} from "./endpoint-document.js";
import { instanceEntry } from "../api/instance-entry.js";
import { HttpError, sendJson } from "./http.js";
import { checkNamespace, checkSlug } from "./validation.js";
import { nodeRows, serviceDetail, serviceRows } from "./web-views.js";

export interface WebCaches {
  definitions: Informer<Definition>;
  instances: Informer<Instance>;
  nodes: Informer<Node>;
  events: Informer<KubeEvent>;
}

export interface WebCall {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  pathname: string;
  caller: Caller;
  /** Aborted when the client goes away or the server stops. */
  gone: AbortSignal;
  /** Throws a 403 unless the caller may. */
  authorize(access: Access): Promise<void>;
  /** Whether the caller may (for filtering lists). */
  allowed(access: Access): Promise<boolean>;
  /** Takes a long-lived request slot for the caller (503 past the limits). */
  acquireSlot(): () => void;
}

export interface WebApiOptions {
  caches: WebCaches;
  document: FetchBounds;
  streamBufferBytes?: number;
  streamKeepaliveMs?: number;
  logger: Logger;
}

/** Paths under this prefix are the web index's data. */
export const WEB_API_PREFIX = "/v1/ui/";
const NODES_TOPIC = "nodes";

export class WebApi {
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly log: Logger;

  constructor(private readonly options: WebApiOptions) {
    this.log = options.logger.child({ component: "registry-web" });
    const { caches } = options;
    const namespaced = (o: { metadata?: { namespace?: string } }) => this.notify(o.metadata?.namespace ?? "");
    for (const informer of [caches.definitions, caches.instances, caches.events] as Array<
      Informer<Definition | Instance | KubeEvent>
    >) {
      informer.addHandler({ onAdd: namespaced, onUpdate: (_old, o) => namespaced(o), onDelete: namespaced });
    }
    // A Node's readiness changes its Instances' readiness in every namespace.
    const onNode = (): void => {
      for (const topic of this.listeners.keys()) this.notify(topic);
    };
    caches.nodes.addHandler({ onAdd: onNode, onUpdate: onNode, onDelete: onNode });
  }

  async handle(call: WebCall): Promise<void> {
    const parts = call.pathname.slice(WEB_API_PREFIX.length).split("/").map(decodeSegment);
    const { caches } = this.options;
    const nodeOf = (name: string) => caches.nodes.get(undefined, name);
    if (parts.length === 1 && parts[0] === "namespaces") return await this.namespaces(call);
    if (parts.length === 1 && parts[0] === "nodes") {
      await call.authorize({ verb: "list", resource: "nodes", namespace: "" });
      return this.stream(call, NODES_TOPIC, "nodes", () => ({ nodes: nodeRows(caches.nodes.list()) }));
    }
    if (parts[0] !== "namespaces" || parts[2] !== "services" || parts.length < 3) {
      throw new HttpError(404, `no route ${call.pathname}`);
    }
    const namespace = checkNamespace(parts[1] ?? "");
    if (parts.length === 3) {
      await call.authorize({ verb: "list", resource: "definitions", namespace });
      return this.stream(call, namespace, "services", () => ({
        namespace,
        services: serviceRows(caches.definitions.list(namespace), caches.instances.list(namespace), nodeOf),
      }));
    }
    const slug = checkSlug(parts[3] ?? "");
    await call.authorize({ verb: "get", resource: "definitions", namespace, name: slug });
    if (parts.length === 4) {
      return this.stream(call, namespace, "service", () =>
        serviceDetail(namespace, slug, {
          definitions: caches.definitions.list(namespace),
          instances: caches.instances.list(namespace),
          events: caches.events.list(namespace),
          nodeOf,
        }),
      );
    }
    if (parts.length === 7 && parts[4] === "endpoints" && parts[6] === "operations") {
      const document = await this.endpointDocument(namespace, slug, parts[5] ?? "");
      sendJson(call.res, 200, document);
      return;
    }
    throw new HttpError(404, `no route ${call.pathname}`);
  }

  /** Namespaces that have services, those the caller may list Definitions in. */
  private async namespaces(call: WebCall): Promise<void> {
    const { caches } = this.options;
    const known = new Set<string>();
    for (const namespace of caches.definitions.namespaces()) known.add(namespace);
    for (const namespace of caches.instances.namespaces()) known.add(namespace);
    const namespaces: string[] = [];
    for (const namespace of [...known].sort()) {
      if (await call.allowed({ verb: "list", resource: "definitions", namespace }))
        namespaces.push(namespace);
    }
    sendJson(call.res, 200, { namespaces });
  }

  private async endpointDocument(
    namespace: string,
    slug: string,
    position: string,
  ): Promise<EndpointDocument> {
    const { caches } = this.options;
    const definition = caches.definitions.get(namespace, slug);
    if (!definition) throw new HttpError(404, `no Definition "${slug}" in namespace "${namespace}"`, "slug");
    const index = /^\d{1,3}$/.test(position) ? Number(position) : -1;
    const endpoint = definition.spec.endpoints?.[index];
    if (!endpoint) throw new HttpError(404, `Definition "${slug}" has no endpoint ${position}`, "endpoint");
    if (endpoint.type !== "openapi") {
      throw new HttpError(
        422,
        `endpoint ${index} is of type ${endpoint.type}; only openapi is read`,
        "endpoint",
      );
    }
    // Berth-run Instances only: their address is the agent's, not a registrant's.
    const nodeOf = (name: string) => caches.nodes.get(undefined, name);
    const ready = caches.instances
      .list(namespace)
      .filter((i) => i.spec.definition === slug && !i.spec.external)
      .map((i) => instanceEntry(i, nodeOf))
      .find((e) => e.ready && e.url !== null);
    if (!ready?.url)
      throw new HttpError(503, `service "${slug}" has no ready instance to read the document from`);
    return await fetchEndpointDocument(documentUrl(ready.url, endpoint.url), this.options.document);
  }

  private notify(topic: string): void {
    for (const listener of [...(this.listeners.get(topic) ?? [])]) listener();
  }

  private subscribe(topic: string, listener: () => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(topic);
    };
  }

  /**
   * A Server-Sent Events stream of one view: sent at once, then after every change of it.
   * Changes in one informer turn (a relist, say) are sent once.
   */
  private stream(call: WebCall, topic: string, event: string, render: () => object): void {
    const release = call.acquireSlot();
    const { res } = call;
    const maxBuffered = this.options.streamBufferBytes ?? 256 * 1024;
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      "X-Accel-Buffering": "no",
    });
    let last = "";
    let id = 0;
    let scheduled = false;
    const send = (): void => {
      scheduled = false;
      if (res.destroyed) return;
      const data = JSON.stringify(render());
      if (data === last) return;
      last = data;
      if (res.writableLength > maxBuffered) {
        this.log.info("dropping a slow web stream reader", { topic });
        res.destroy();
        return;
      }
      res.write(`id: ${++id}\nevent: ${event}\ndata: ${data}\n\n`);
    };
    const unsubscribe = this.subscribe(topic, () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(send);
    });
    const keepalive = setInterval(
      () => res.write(": keepalive\n\n"),
      this.options.streamKeepaliveMs ?? 15_000,
    );
    res.once("close", () => {
      clearInterval(keepalive);
      unsubscribe();
      release();
    });
    call.gone.addEventListener("abort", () => res.end(), { once: true });
    send();
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `path segment "${segment}" is not valid percent-encoding`);
  }
}
